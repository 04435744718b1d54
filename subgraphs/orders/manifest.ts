import type { SubgraphManifest } from '../registry.ts';

export const manifest: SubgraphManifest = {
  codegenMappers: {
    Order: '../db/schema.ts#OrderRow',
    OrderItem: '../db/schema.ts#OrderItemRow',
    OrderConnection: '../../../../platform/src/graphql/pagination.ts#Connection<OrderRow>',
    User: '../model.ts#Customer',
    Product: '../model.ts#ProductReference',
  },
  readme: {
    owns: '`Order` (`@key id`) with items and prices as charged',
    addsToOtherTypes: '`User.orders`',
  },
};
