import { seedProduct } from '../../../seed/world.ts';
import type { SubgraphContract } from '../../../test/support/subgraph-contract.ts';

export const contract: SubgraphContract = {
  owns: { Product: { seeded: seedProduct(0) } },
};
