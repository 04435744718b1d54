import { seedReview, worldSizes } from '../../../seed/world.ts';
import type { SubgraphContract } from '../../../test/support/subgraph-contract.ts';

export const contract: SubgraphContract = {
  owns: { Review: { seeded: seedReview(0, worldSizes.small) } },
};
