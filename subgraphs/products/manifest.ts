import type { SubgraphManifest } from '../registry.ts';

export const manifest: SubgraphManifest = {
  codegenMappers: {
    Product: '../db/schema.ts#ProductRow',
    Category: '../db/schema.ts#CategoryRow',
    ProductConnection: '../../../../platform/src/graphql/pagination.ts#Connection<ProductRow>',
  },
  readme: {
    owns: '`Product` (`@key id`, `@key sku`), `Category`, `Money`; `products` catalog with filters, ordering and cursors',
    addsToOtherTypes: '',
  },
};
