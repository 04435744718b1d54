import { seedUser } from '../../../seed/world.ts';
import type { SubgraphContract } from '../../../test/support/subgraph-contract.ts';

export const contract: SubgraphContract = {
  owns: { User: { seeded: seedUser(0) } },
};
