/**
 * What a subgraph gives the checks every subgraph must pass
 * (test/subgraph-contract.int.test.ts), from `subgraphs/<name>/test/contract.ts`,
 * so that adding a subgraph never edits the shared test.
 */
export interface SubgraphContract {
  /**
   * Each entity type whose rows live in this subgraph's database, with a
   * seeded instance whose fields supply the key values. Only the owner
   * resolves an unknown key to null; a subgraph that extends the type
   * answers for any key, and is checked with the owner's instance.
   */
  owns: Record<string, OwnedEntity>;
}

export interface OwnedEntity {
  seeded: object;
  /** The user the entity is resolved as (the router's signed identity), for a type only its owner may see. */
  actingAs?: string;
}

export async function loadContract(name: string): Promise<SubgraphContract> {
  const module = (await import(`../../subgraphs/${name}/test/contract.ts`)) as { contract: SubgraphContract };
  return module.contract;
}
