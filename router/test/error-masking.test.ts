import { GraphQLError } from 'graphql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGraph, type TestGraph } from '../../test/support/test-subgraph.ts';

/**
 * What a client learns when something fails: in production, only coded,
 * client-safe messages pass from a subgraph; anything else is
 * INTERNAL_SERVER_ERROR with no message or stack, and the request id that
 * finds the real error in the log.
 */

const sdl = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query {
    fine: String
    crash: String
    internalCode: String
    badInput: String
    forbidden: String
  }
`;

const resolvers = {
  Query: {
    fine: () => 'ok',
    crash: () => {
      throw new Error('connection to 10.0.0.7:5432 failed for user "shop" (password=hunter2)');
    },
    internalCode: () => {
      throw new GraphQLError('row 4411 violates check constraint stock_nonnegative', {
        extensions: { code: 'CONSTRAINT_VIOLATION' },
      });
    },
    badInput: () => {
      throw new GraphQLError('`first` must be between 0 and 100, got 500.', { extensions: { code: 'BAD_USER_INPUT' } });
    },
    forbidden: () => {
      throw new GraphQLError('Only its owner may see this.', { extensions: { code: 'FORBIDDEN' } });
    },
  },
};

const logLines: Array<Record<string, any>> = [];
const graphs: Partial<Record<'production' | 'development', TestGraph>> = {};

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  graphs.production = await startTestGraph('failing', sdl, resolvers, { nodeEnv: 'production' }, logger);
  graphs.development = await startTestGraph('failing', sdl, resolvers);
});

afterAll(async () => {
  await Promise.all(Object.values(graphs).map((graph) => graph.stop()));
});

describe('in production', () => {
  it('masks an uncoded subgraph failure, keeps the rest of the data, and logs it under the request id', async () => {
    const response = await graphs.production!.post({ query: '{ fine crash }' });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ fine: 'ok', crash: null });
    expect(response.body.errors).toEqual([
      { message: 'Internal server error', path: ['crash'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.body.extensions).toEqual({ requestId });
    expect(JSON.stringify(response.body)).not.toMatch(/10\.0\.0\.7|hunter2|stacktrace/);

    const logged = logLines.find((line) => line.requestId === requestId && line.msg === 'request failed');
    expect(logged?.err?.message).toContain('connection to 10.0.0.7:5432 failed');
  });

  it('masks a subgraph error whose code is not known to be safe for clients', async () => {
    const response = await graphs.production!.post({ query: '{ internalCode }' });
    expect(response.body.errors).toEqual([
      { message: 'Internal server error', path: ['internalCode'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
  });

  it('passes client-safe subgraph errors with their message and code, naming no subgraph', async () => {
    const response = await graphs.production!.post({ query: '{ badInput forbidden }' });
    expect(response.body.errors.map((error: any) => [error.message, error.extensions])).toEqual([
      ['`first` must be between 0 and 100, got 500.', { code: 'BAD_USER_INPUT' }],
      ['Only its owner may see this.', { code: 'FORBIDDEN' }],
    ]);
  });

  it('keeps a request id the caller sent, when it is a sane one, and replaces one that is not', async () => {
    const kept = await graphs.production!.post({ query: '{ crash }' }, { 'x-request-id': 'checkout-7f3a' });
    expect(kept.headers.get('x-request-id')).toBe('checkout-7f3a');
    expect(kept.body.extensions.requestId).toBe('checkout-7f3a');
    const replaced = await graphs.production!.post({ query: '{ crash }' }, { 'x-request-id': 'a b<script>' });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sets the security headers', async () => {
    const response = await graphs.production!.post({ query: '{ fine }' });
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'strict-transport-security': expect.stringMatching(/^max-age=\d+/),
    });
  });
});

describe('in development', () => {
  it('shows the real message, to whoever runs the graph locally', async () => {
    const response = await graphs.development!.post({ query: '{ crash }' });
    expect(response.body.errors[0].message).toContain('connection to 10.0.0.7:5432 failed');
  });

  it('says which subgraph an error came from', async () => {
    const response = await graphs.development!.post({ query: '{ badInput }' });
    expect(response.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', serviceName: 'failing' });
  });
});
