/**
 * The gateways under test and how each is started. Every contender is one
 * Node process started directly (no npx or shell in between), so the pid
 * the bench measures is the gateway itself.
 */
import { fileURLToPath } from 'node:url';

export const contenderNames = [
  'apollo',
  'hive',
  'hive-router-runtime',
  'ours',
  'ours-nocache',
  'ours-stock',
  'ours-apq',
  'ours-cache-hit',
] as const;

export type ContenderName = (typeof contenderNames)[number];

export function isContenderName(name: string): name is ContenderName {
  return (contenderNames as readonly string[]).includes(name);
}

/** The contender every ratio is relative to. */
export const baselineName: ContenderName = 'apollo';

export interface LaunchContext {
  supergraphPath: string;
  port: number;
  /** HS256 secret the tokens are signed with; only our router verifies them. */
  jwtSecret: string;
  /**
   * INTERNAL_IDENTITY_SECRET: our router signs each verified caller's
   * identity with it, and the shop subgraphs verify it. The benchmark
   * subgraphs read no caller, but our router signs for them all the same,
   * as deployed: a caller's own identity is also what keeps it from sharing
   * a subgraph fetch between two callers.
   */
  identitySecret: string;
  /**
   * A workload this process serves answers with the caller's own data
   * (shop-orders), so the gateway must know who is calling.
   */
  signedIn: boolean;
}

export interface Launch {
  command: string[];
  /** `undefined` removes a variable the runner's own environment may carry. */
  env: Record<string, string | undefined>;
}

export interface Contender {
  name: ContenderName;
  description: string;
  /** Measured requests carry only the APQ hash, after registering the query once. */
  persistedQueries: boolean;
  /**
   * What is measured is the response cache's hit path. On a signed-in
   * workload each caller has an entry of their own, which the warm-up must
   * fill and the entries' lifetime (10 s for order histories, by the stock
   * figures in them) must outlast: so its requests come from as many users
   * as there are connections, each warmed in the first second, and an entry
   * that expires mid-cell is one miss in thousands, counted in the figures.
   */
  measuresCacheHits?: boolean;
  launch(context: LaunchContext): Launch;
}

const node = process.execPath;
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const hiveBin = here('../node_modules/@graphql-hive/gateway/dist/bin.js');

function hive(config: string): (context: LaunchContext) => Launch {
  return ({ supergraphPath, port }) => ({
    // `--fork 1`: one process, no cluster workers, whatever the machine.
    command: [
      node,
      hiveBin,
      'supergraph',
      supergraphPath,
      '--config-path',
      here(config),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--fork',
      '1',
    ],
    env: { NODE_ENV: 'production' },
  });
}

/**
 * Our router as deployed: `main.ts` under tsx, production mode.
 * `RESPONSE_CACHE` selects the variant. With `verifyTokens`, every request's
 * JWT is verified, so the router knows each caller and never shares a
 * subgraph fetch between two of them, which is what the workload's unique
 * `Authorization` is for. `ours-cache-hit` skips verification, as the other
 * gateways do (they forward the header unread): a hit makes no subgraph
 * fetch to share, and the row then measures the cache alone; the `ours` row
 * shows the same hits with a never-seen token verified on every request.
 * Where the answer is the caller's own (`signedIn`), every variant verifies:
 * an anonymous caller gets no orders.
 *
 * The router signs each verified caller's identity for the subgraphs
 * (INTERNAL_IDENTITY_SECRET, see LaunchContext); it never passes on the
 * `x-verified-identity` the load generator sends for the other gateways
 * (see bench/lib/callers.ts).
 */
function ours(
  responseCache: 'on' | 'off' | undefined,
  verifyTokens = true,
  executor: 'stock' | 'own' = 'own',
): (context: LaunchContext) => Launch {
  return ({ supergraphPath, port, jwtSecret, identitySecret, signedIn }) => ({
    // The image's command line (Dockerfile), young-generation size included.
    command: [
      node,
      '--max-semi-space-size=64',
      '--import',
      'tsx/esm',
      'router/src/main.ts',
      '--supergraph',
      supergraphPath,
      '--port',
      String(port),
    ],
    env: {
      HOST: '127.0.0.1',
      SUPERGRAPH_WATCH: 'false',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      AUTH_JWT_SECRET: verifyTokens || signedIn ? jwtSecret : undefined,
      INTERNAL_IDENTITY_SECRET: identitySecret,
      // On by default in production, per caller or client address; the other gateways limit nothing, and all
      // anonymous load comes from one address.
      RATE_LIMIT: 'false',
      // The public benchmark's heavy query nests 8 deep; the production default (7) fits the shop's own operations.
      QUERY_MAX_DEPTH: '8',
      // Its schema declares no @listSize, so each of its nested lists counts 10 and it costs 24,420; the default
      // limit (5,000) is for the shop's schema.
      QUERY_MAX_COST: '25000',
      RESPONSE_CACHE: responseCache,
      ROUTER_EXECUTOR: executor,
      // A Redis in the caller's environment would make runs depend on it.
      REDIS_URL: undefined,
    },
  });
}

export const contenders: Record<ContenderName, Contender> = {
  apollo: {
    name: 'apollo',
    description:
      'stock @apollo/gateway 2 + @apollo/server 5 standalone, Authorization and x-verified-identity propagated (baseline)',
    persistedQueries: false,
    launch: ({ supergraphPath, port }) => ({
      command: [node, '--import', 'tsx', here('./apollo-gateway.ts'), supergraphPath, String(port)],
      env: { NODE_ENV: 'production' },
    }),
  },
  hive: {
    name: 'hive',
    description: 'Hive Gateway (@graphql-hive/gateway), JavaScript query planner',
    persistedQueries: false,
    launch: hive('./hive/gateway.config.ts'),
  },
  'hive-router-runtime': {
    name: 'hive-router-runtime',
    description: 'Hive Gateway with @graphql-hive/router-runtime (Rust query planner)',
    persistedQueries: false,
    launch: hive('./hive/router-runtime.config.ts'),
  },
  ours: {
    name: 'ours',
    description: 'our router with its default settings (response cache on), every token verified',
    persistedQueries: false,
    launch: ours(undefined),
  },
  'ours-nocache': {
    name: 'ours-nocache',
    description: 'our router, RESPONSE_CACHE=off',
    persistedQueries: false,
    launch: ours('off'),
  },
  'ours-stock': {
    name: 'ours-stock',
    description:
      "our router, RESPONSE_CACHE=off, ROUTER_EXECUTOR=stock (@apollo/gateway's executor instead of the router's)",
    persistedQueries: false,
    launch: ours('off', true, 'stock'),
  },
  'ours-apq': {
    name: 'ours-apq',
    description: 'our router, RESPONSE_CACHE=off, requests carry only the APQ hash',
    persistedQueries: true,
    launch: ours('off'),
  },
  'ours-cache-hit': {
    name: 'ours-cache-hit',
    description:
      'our router, RESPONSE_CACHE=on, answered from the response cache after warm-up; tokens not verified (except on signed-in workloads, whose requests come from one user per connection)',
    persistedQueries: false,
    measuresCacheHits: true,
    launch: ours('on', false),
  },
};
