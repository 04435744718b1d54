import { ApolloServer } from '@apollo/server';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import type { SubgraphContext } from '../src/subgraph/definition.ts';
import { readReplicasPlugin } from '../src/subgraph/read-replicas.ts';
import { fakeReadReplicas, fakeRedis, whoServes, type fakeSchema } from './read-replicas-fakes.ts';

/**
 * The plugin that chooses each request's reads (subgraph/read-replicas.ts),
 * in an Apollo Server over fake pools and a fake Redis: what a window of 0
 * turns off, and where a signed-in caller reads when Redis fails.
 */

type Loaders = { db: Database<typeof fakeSchema> };
type Context = SubgraphContext<typeof fakeSchema, Loaders>;

const typeDefs = `
  type Query {
    "Which server the request's loaders read from."
    servedBy: String!
  }
  type Mutation {
    placeOrder: Boolean!
  }
`;

const servers: Array<ApolloServer<Context>> = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function setUp({ windowMs, redisDown = false }: { windowMs: number; redisDown?: boolean }) {
  const fake = fakeReadReplicas(['replica-1'], { windowMs });
  const { redis, state: redisState } = fakeRedis();
  redisState.down = redisDown;
  // The replica is behind the primary: a caller held to read-your-writes reads from the primary.
  fake.replicaPools[0]!.lsn = '0/10';
  fake.primary.lsn = '0/20';
  const server = new ApolloServer<Context>({
    typeDefs,
    resolvers: {
      Query: { servedBy: (_parent, _args, { loaders }: Context) => whoServes(loaders.db) },
      Mutation: { placeOrder: () => true },
    },
    plugins: [
      readReplicasPlugin({
        replicas: fake.replicas,
        subgraph: 'orders',
        createLoaders: (db) => ({ db }),
        redis: () => redis,
        logger: fake.logger,
      }),
    ],
  });
  servers.push(server);
  await server.start();
  const run = async (query: string, as: string | null) => {
    const contextValue: Context = {
      viewer: as === null ? null : { id: as, scopes: [] },
      db: fake.primaryDb,
      loaders: { db: fake.primaryDb },
    };
    const response = await server.executeOperation({ query }, { contextValue });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    expect(response.body.singleResult.errors).toBeUndefined();
    return response.body.singleResult.data;
  };
  const servedBy = async (as: string | null) => ((await run('{ servedBy }', as)) as { servedBy: string }).servedBy;
  const placeOrder = (as: string) => run('mutation { placeOrder }', as);
  return { ...fake, redisState, servedBy, placeOrder };
}

const positionQuery = 'pg_current_wal_insert_lsn()';
const replayQuery = 'pg_last_wal_replay_lsn()';

describe('the read replicas plugin', () => {
  it('keeps a signed-in caller’s reads on the primary after their mutation, while the replica is behind', async () => {
    const { placeOrder, servedBy, primary, redisState, reads } = await setUp({ windowMs: 60_000 });
    await placeOrder('alice');
    expect(primary.count(positionQuery)).toBe(1);
    expect(redisState.keys.size).toBe(1);
    expect(await servedBy('alice')).toBe('primary');
    expect(await reads('primary', 'read_your_writes')).toBe(1);
    expect(await servedBy('bob')).toBe('replica-1');
  });

  it('with a window of 0 records nothing and reads everyone as an anonymous caller is read', async () => {
    const { placeOrder, servedBy, primary, replicaPools, redisState, reads } = await setUp({ windowMs: 0 });
    await placeOrder('alice');
    expect(await servedBy('alice')).toBe('replica-1');
    expect(await servedBy(null)).toBe('replica-1');
    expect(await reads('replica', 'no_recent_write')).toBe(2);
    // Neither the primary's position read after the mutation, nor a record, nor a lookup, nor a replay position.
    expect(primary.count(positionQuery)).toBe(0);
    expect(redisState.commands).toBe(0);
    expect(replicaPools[0]!.count(replayQuery)).toBe(0);
  });

  it('reads a signed-in caller from the primary when Redis fails the lookup (write_unknown), an anonymous one from the replica', async () => {
    const { servedBy, reads, replicaPools } = await setUp({ windowMs: 60_000, redisDown: true });
    expect(await servedBy('bob')).toBe('primary');
    expect(await reads('primary', 'write_unknown')).toBe(1);
    expect(replicaPools[0]!.count(replayQuery)).toBe(0);
    expect(await servedBy(null)).toBe('replica-1');
  });

  it('keeps a caller on the primary when Redis failed their record but answers the lookup', async () => {
    const { placeOrder, servedBy, redisState, reads, log } = await setUp({ windowMs: 60_000, redisDown: true });
    await placeOrder('alice');
    expect(log.map(({ msg }) => msg)).toContainEqual(
      expect.stringMatching(/^could not record callers' write positions/),
    );
    redisState.down = false;
    expect(redisState.keys.size).toBe(0);
    expect(await servedBy('alice')).toBe('primary');
    expect(await reads('primary', 'read_your_writes')).toBe(1);
    expect(await servedBy('bob')).toBe('replica-1');
  });
});
