import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, Kind, parse, validate, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultQueryLimits } from '../router/src/plugins/query-limits/index.ts';
import type { RunningRouter } from '../router/src/router.ts';
import { startShopGraph, startTestRouter, type ShopGraph } from './support/shop-graph.ts';

/**
 * Every GraphQL example the documentation shows is run as a reader would
 * paste it: against the seeded graph, through a router with its default
 * limits, in development and in production, and must answer data without
 * errors. A limit tuned without the documented queries in mind, or a schema
 * change that breaks an example, fails here instead of in a reader's first
 * hour.
 */

interface Example {
  /** Where the example is, as `file:line`. */
  location: string;
  document: string;
}

/** The fenced ```graphql blocks of a Markdown file. */
function graphqlExamplesIn(file: string): Example[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const examples: Example[] = [];
  let start = -1;
  lines.forEach((line, index) => {
    if (start < 0 && /^\s*```graphql\s*$/.test(line)) start = index;
    else if (start >= 0 && /^\s*```\s*$/.test(line)) {
      examples.push({ location: `${file}:${start + 1}`, document: lines.slice(start + 1, index).join('\n') });
      start = -1;
    }
  });
  return examples;
}

const documentationFiles = [
  'README.md',
  ...readdirSync('docs')
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name)),
];
const examples = documentationFiles.flatMap(graphqlExamplesIn);
const apiSchema = buildSchema(readFileSync('schema/api.graphql', 'utf8'));

/** Every operation of an example, by name: a block may hold several. */
function operationsOf(example: Example): Array<{ name: string | undefined; type: string }> {
  return parse(example.document)
    .definitions.filter(
      (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
    )
    .map((operation) => ({ name: operation.name?.value, type: operation.operation }));
}

/** Whether a response holds at least one value beyond empty objects, lists and nulls. */
function holdsValues(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (Array.isArray(value)) return value.some(holdsValues);
  if (typeof value === 'object') return Object.values(value).some(holdsValues);
  return true;
}

let graph: ShopGraph;
let production: RunningRouter;

beforeAll(async () => {
  // The router's own defaults, not the raised limits other tests query with.
  graph = await startShopGraph('documentation', { limits: defaultQueryLimits, nodeEnv: 'development' });
  production = await startTestRouter(graph.supergraphPath, { limits: defaultQueryLimits, nodeEnv: 'production' });
});

afterAll(async () => {
  await production?.stop();
  await graph?.stop();
});

describe('documentation examples', () => {
  it('finds the examples it runs', () => {
    // The quick start's query at least: an extractor that finds nothing would pass everything.
    expect(examples.some((example) => example.location.startsWith('README.md:'))).toBe(true);
    for (const example of examples) expect(operationsOf(example).length, example.location).toBeGreaterThan(0);
  });

  describe.each(examples)('$location', (example) => {
    for (const operation of operationsOf(example)) {
      // A subscription example streams: it must be one the API accepts (its events are tested in test/subscriptions.int.test.ts).
      if (operation.type === 'subscription') {
        it(`${operation.name ?? 'anonymous subscription'} is valid against the API schema`, () => {
          expect(validate(apiSchema, parse(example.document)).map((error) => error.message)).toEqual([]);
        });
        continue;
      }
      // Examples are what a reader pastes into the IDE: reads, runnable as often as they like.
      if (operation.type !== 'query') continue;
      it.each([
        ['development', () => graph.router.url],
        ['production', () => production.url],
      ])(`${operation.name ?? 'anonymous query'} answers data in %s`, async (_mode, url) => {
        const response = await fetch(url(), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: example.document, operationName: operation.name }),
        });
        const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
        expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
        expect(response.status).toBe(200);
        expect(holdsValues(body.data)).toBe(true);
      });
    }
  });
});
