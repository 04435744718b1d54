import type { SubgraphContract } from '../../../test/support/subgraph-contract.ts';

/** Stock extends the products' `Product`; it owns no entity of its own. */
export const contract: SubgraphContract = {
  owns: {},
};
