import type { SubgraphManifest } from '../registry.ts';

export const manifest: SubgraphManifest = {
  codegenMappers: {
    Product: '../model.ts#InventoryProduct',
  },
  readme: {
    owns: 'stock levels',
    addsToOtherTypes: '`Product.quantity`, `inStock`, `shippingEstimate` (`@requires` price and weight)',
  },
};
