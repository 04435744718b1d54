import { seedOrder, worldSizes } from '../../../seed/world.ts';
import type { SubgraphContract } from '../../../test/support/subgraph-contract.ts';

const order = seedOrder(0, worldSizes.small);

export const contract: SubgraphContract = {
  // Only its customer may see an order.
  owns: { Order: { seeded: order, actingAs: order.userId } },
};
