import type { SubgraphNames } from './names.ts';

/**
 * The files of a new subgraph, keyed by path inside `subgraphs/<name>/`:
 * everything the rest of the repository needs from it is here too (its
 * codegen mappers and README row in `manifest.ts`, its sample for the shared
 * contract checks in `test/contract.ts`).
 * They follow the accounts subgraph, the smallest one: one entity with a
 * `@key`, fetched by id through a loader and listed newest first by cursor.
 * Generated files (resolver types, the migration) come from the repo's own
 * tools afterwards.
 */
export function subgraphTemplates(names: SubgraphNames): Record<string, string> {
  return {
    'manifest.ts': manifest(names),
    'schema.graphql': schemaGraphql(names),
    'src/db/schema.ts': dbSchema(names),
    'src/loaders.ts': loaders(names),
    'src/resolvers.ts': resolvers(names),
    'src/context.ts': context(),
    'src/seed.ts': seed(names),
    'src/index.ts': index(names),
    'test/contract.ts': contract(names),
    [`test/${names.name}.int.test.ts`]: integrationTest(names),
  };
}

function manifest({ type, one, many }: SubgraphNames): string {
  return `import type { SubgraphManifest } from '../registry.ts';

export const manifest: SubgraphManifest = {
  codegenMappers: {
    ${type}: '../db/schema.ts#${type}Row',
    ${type}Connection: '../../../../platform/src/graphql/pagination.ts#Connection<${type}Row>',
  },
  readme: {
    owns: '\`${type}\` (\`@key id\`): name, createdAt; \`${one}(id)\`, \`${many}\` with cursors',
    addsToOtherTypes: '',
  },
};
`;
}

function contract({ type }: SubgraphNames): string {
  return `import type { SubgraphContract } from '../../../test/support/subgraph-contract.ts';
import { seed${type} } from '../src/seed.ts';

export const contract: SubgraphContract = {
  owns: { ${type}: { seeded: seed${type}(0) } },
};
`;
}

function schemaGraphql({ name, type, one, many }: SubgraphNames): string {
  return `extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable", "@inaccessible"])

"Cache policy for responses that include this type or field; the router combines every subgraph's hints into one."
directive @cacheControl(
  maxAge: Int
  scope: CacheControlScope
  inheritMaxAge: Boolean
) on FIELD_DEFINITION | OBJECT | INTERFACE | UNION

enum CacheControlScope @inaccessible {
  PUBLIC
  PRIVATE
}

"An instant in time, as an ISO-8601 string in UTC."
scalar DateTime

"${type}, the entity the ${name} subgraph owns." # Public, cached for a minute. Data of one shopper needs \`@cacheControl(scope: PRIVATE)\`.
type ${type} @key(fields: "id") @cacheControl(maxAge: 60) {
  id: ID!
  "Display name."
  name: String!
  createdAt: DateTime!
}

type ${type}Connection @cacheControl(inheritMaxAge: true) {
  edges: [${type}Edge!]!
  pageInfo: PageInfo!
  "Every ${one}, across all pages."
  totalCount: Int!
}

type ${type}Edge @cacheControl(inheritMaxAge: true) {
  cursor: String!
  node: ${type}!
}

type PageInfo @shareable @cacheControl(inheritMaxAge: true) {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type Query {
  ${one}(id: ID!): ${type}
  "${many[0]!.toUpperCase() + many.slice(1)}, newest first, in pages of at most 100."
  ${many}(first: Int = 20, after: String): ${type}Connection! @cacheControl(maxAge: 60)
}
`;
}

function dbSchema({ type, many }: SubgraphNames): string {
  return `import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const ${many} = pgTable(
  '${many}',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    // Millisecond precision, so a cursor carrying a JS Date finds its row exactly.
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  // \`${many}(first, after)\` reads this index backwards, newest first.
  (table) => [index('${many}_created_at_id_idx').on(table.createdAt, table.id)],
);

export type ${type}Row = typeof ${many}.$inferSelect;
`;
}

function loaders({ one, many }: SubgraphNames): string {
  return `import { inArray } from 'drizzle-orm';
import type { Database } from '../../../platform/src/db/database.ts';
import { uuidKeys } from '../../../platform/src/graphql/ids.ts';
import { createRowLoader } from '../../../platform/src/graphql/loaders.ts';
import * as tables from './db/schema.ts';

export function createLoaders(db: Database<typeof tables>) {
  const { ${many} } = tables;
  return {
    ${one}ById: createRowLoader({
      fetch: (ids: string[]) => db.select().from(${many}).where(inArray(${many}.id, ids)),
      keyOf: (row) => row.id,
      ...uuidKeys,
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
`;
}

function resolvers({ type, one, many }: SubgraphNames): string {
  return `import { count } from 'drizzle-orm';
import { selectPage, type Keyset } from '../../../platform/src/db/keyset.ts';
import { parseIdArgument } from '../../../platform/src/graphql/ids.ts';
import { newestFirstCursor, parsePage, toConnection } from '../../../platform/src/graphql/pagination.ts';
import type { Resolvers } from './__generated__/resolvers.ts';
import { ${many} } from './db/schema.ts';

const newestFirst: Keyset = { sort: ${many}.createdAt, id: ${many}.id, direction: 'desc' };
const ${one}Cursor = newestFirstCursor('${many}');

export const resolvers: Resolvers = {
  Query: {
    ${one}: (_, { id }, { loaders }) => loaders.${one}ById.load(parseIdArgument(id, 'id')),
    ${many}: async (_, args, { db }) => {
      const page = parsePage(args, ${one}Cursor);
      const rows = await selectPage(db, { table: ${many}, keyset: newestFirst, ...page });
      return toConnection(
        rows,
        page,
        ${one}Cursor.of,
        async () => (await db.select({ total: count() }).from(${many}))[0]?.total ?? 0,
      );
    },
  },
  ${type}: {
    __resolveReference: (reference, { loaders }) => loaders.${one}ById.load(reference.id),
  },
};
`;
}

function context(): string {
  return `import type { SubgraphContext } from '../../../platform/src/subgraph/definition.ts';
import type * as tables from './db/schema.ts';
import type { Loaders } from './loaders.ts';

export type Context = SubgraphContext<typeof tables, Loaders>;
`;
}

function seed({ type, one, many }: SubgraphNames): string {
  return `import type { Database } from '../../../platform/src/db/database.ts';
import type { SeedSize } from '../../../platform/src/subgraph/definition.ts';
import { insertInBatches, seedId } from '../../../seed/world.ts';
import * as tables from './db/schema.ts';

/** How many ${many} each seed size writes. */
export const seedCounts: Record<SeedSize, number> = { small: 5, scale: 1_000 };

/** Seed rows are dated back from a fixed instant, so that every run writes the same rows. */
const epoch = Date.UTC(2025, 0, 1);
const hour = 60 * 60 * 1000;

/** The \`index\`-th seeded ${one}, a pure function of the index: tests compute what to expect from it. */
export function seed${type}(index: number): tables.${type}Row {
  return {
    id: seedId('${one}', index),
    name: \`${type} \${index + 1}\`,
    createdAt: new Date(epoch - index * hour),
  };
}

export async function seed(db: Database<typeof tables>, size: SeedSize): Promise<void> {
  await db.transaction((tx) =>
    insertInBatches(seedCounts[size], seed${type}, (rows) => tx.insert(tables.${many}).values(rows).onConflictDoNothing()),
  );
}
`;
}

function index({ name, many }: SubgraphNames): string {
  return `import { defineSubgraph } from '../../../platform/src/subgraph/definition.ts';
import { subgraphFolderOf } from '../../registry.ts';
import * as tables from './db/schema.ts';
import { createLoaders } from './loaders.ts';
import { resolvers } from './resolvers.ts';
import { seed } from './seed.ts';

export const subgraph = defineSubgraph({
  name: '${name}',
  root: subgraphFolderOf('${name}'),
  tables,
  resolvers,
  createLoaders,
  seed,
  seedTable: tables.${many},
});
`;
}

function integrationTest({ name, type, one, many }: SubgraphNames): string {
  return `import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startShopGraph, type ShopGraph } from '../../../test/support/shop-graph.ts';
import { seed${type}, seedCounts } from '../src/seed.ts';

/** The ${name} subgraph through the router, composed with the rest of the shop and seeded with the small seed. */

const seeded = Array.from({ length: seedCounts.small }, (_, index) => seed${type}(index));

let graph: ShopGraph;

beforeAll(async () => {
  graph = await startShopGraph('${name}');
});

afterAll(async () => {
  await graph?.stop();
});

describe('${one}(id)', () => {
  const query = /* GraphQL */ \`
    query ($id: ID!) {
      ${one}(id: $id) {
        id
        name
        createdAt
      }
    }
  \`;

  it('finds a seeded ${one}', async () => {
    const { id, name, createdAt } = seeded[0]!;
    const response = await graph.query(query, { id });
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toEqual({ ${one}: { id, name, createdAt: createdAt.toISOString() } });
  });

  it('answers null for an unknown id, and BAD_USER_INPUT for a malformed one', async () => {
    const unknown = await graph.query(query, { id: randomUUID() });
    expect(unknown.body.errors).toBeUndefined();
    expect(unknown.body.data).toEqual({ ${one}: null });

    const malformed = await graph.query(query, { id: 'not-an-id' });
    expect(malformed.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('${many}(first, after)', () => {
  const query = /* GraphQL */ \`
    query ($first: Int, $after: String) {
      ${many}(first: $first, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            id
          }
        }
      }
    }
  \`;

  interface Connection {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: Array<{ node: { id: string } }>;
  }

  async function pageAfter(after: string | null): Promise<Connection> {
    const response = await graph.query<{ ${many}: Connection }>(query, { first: 2, after });
    expect(response.body.errors).toBeUndefined();
    return response.body.data!.${many};
  }

  it('pages through every ${one}, newest first', async () => {
    const ids: string[] = [];
    let after: string | null = null;
    // Bounded, so that a cursor which never advances fails the test instead of hanging it.
    for (let request = 0; request < seeded.length; request++) {
      const page = await pageAfter(after);
      expect(page.totalCount).toBe(seeded.length);
      ids.push(...page.edges.map((edge) => edge.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    const newestFirst = [...seeded].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    expect(ids).toEqual(newestFirst.map((row) => row.id));
  });

  it('carries the cache hint of the schema to the client', async () => {
    const response = await graph.query(query, { first: 1 });
    expect(response.headers.get('cache-control')).toBe('max-age=60, public');
  });
});
`;
}
