import { Supergraph } from '@apollo/federation-internals';
import type { FetchNode, PlanNode, QueryPlan } from '@apollo/query-planner';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { correctedPlan } from '../../src/executor/corrected-plan.ts';
import { localPlans } from '../../src/executor/plan-source.ts';
import { aliases } from './corpus/aliases.ts';
import type { CorpusCase } from './corpus/case.ts';
import { requiresArguments } from './corpus/requires-arguments.ts';
import { composeCase } from './executors.ts';

/** Plans one query of a corpus case and corrects the plan, keeping both. */
function planner(corpusCase: CorpusCase) {
  const supergraphSdl = composeCase(corpusCase);
  const supergraphSchema = Supergraph.build(supergraphSdl).schema.toGraphQLJSSchema();
  const plans = localPlans(supergraphSdl);
  return (query: string) => {
    const document = parse(query);
    const plan = plans.planFor({ document, operationName: undefined, overrideLabels: new Set() }) as QueryPlan;
    const operation = document.definitions.find(
      (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
    );
    const correct = () => correctedPlan(plan, { supergraphSchema, operation, fragments: {} });
    return { plan, correct };
  };
}

function fetchesOf(node: PlanNode | undefined): FetchNode[] {
  if (!node) return [];
  switch (node.kind) {
    case 'Fetch':
      return [node];
    case 'Flatten':
      return fetchesOf(node.node);
    case 'Sequence':
    case 'Parallel':
      return node.nodes.flatMap(fetchesOf);
    default:
      return [];
  }
}

describe('correctedPlan', () => {
  const parcels = planner(requiresArguments);
  const products = planner(aliases);

  it('returns a plan without a conflicting response key as it is', () => {
    const { plan, correct } = parcels('{ parcels { cost } }');
    expect(correct()).toBe(plan);
  });

  it('fetches a required field under an alias of its own where the client selects it with other arguments', () => {
    const { correct } = parcels('{ parcels { id weight cost } }');
    const [root, entities] = fetchesOf(correct().node as PlanNode);
    expect(root!.operation).toBe('{parcels{__typename id weight weight_required:weight(unit:KILOGRAM)}}');
    expect(entities!.requires).toEqual([
      {
        kind: 'InlineFragment',
        typeCondition: 'Parcel',
        selections: [
          { kind: 'Field', name: '__typename' },
          { kind: 'Field', name: 'id' },
          { kind: 'Field', name: 'weight', alias: 'weight_required' },
        ],
      },
    ]);
    // The representation is sent with the field's own name, as the subgraph expects it.
    expect(entities!.inputRewrites).toEqual([
      { kind: 'KeyRenamer', path: ['... on Parcel', 'weight_required'], renameKeyTo: 'weight' },
    ]);
  });

  it('puts back a client field the plan dropped for a required one, declaring the variables it uses', () => {
    const { correct } = parcels('query ($unit: WeightUnit!) { parcels { cost weight(unit: $unit) } }');
    const [root] = fetchesOf(correct().node as PlanNode);
    expect(root!.operation).toBe(
      'query($unit:WeightUnit!){parcels{__typename id weight_required:weight(unit:KILOGRAM)weight(unit:$unit)}}',
    );
    expect(root!.variableUsages).toEqual(['unit']);
  });

  it('moves a key out of the way of a client alias that has its name', () => {
    const { correct } = products('{ product(id: "p3") { id: name price } }');
    const [root, entities] = fetchesOf(correct().node as PlanNode);
    expect(root!.operation).toBe('{product(id:"p3"){__typename id_required:id id:name}}');
    expect(entities!.inputRewrites).toEqual([
      { kind: 'KeyRenamer', path: ['... on Product', 'id_required'], renameKeyTo: 'id' },
    ]);
  });

  it('corrects a plan once, and keeps the correction beside it', () => {
    const { plan, correct } = products('{ product(id: "p3") { id: name price } }');
    const first = correct();
    expect(first).not.toBe(plan);
    expect(correct()).toBe(first);
  });
});
