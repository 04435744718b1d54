import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';
import { measureMachineSpeed } from './test/support/machine-speed.ts';

const require = createRequire(import.meta.url);

// Measured once per run, before any test starts: on a slow or busy machine the
// default timeouts stretch, so vitest never cuts a test that its own
// (equally scaled) deadlines would let finish. Load and fault tests measure
// again for themselves and set their own timeouts.
const speed = await measureMachineSpeed();

const roots = '{platform,router,subgraphs,test,scripts}';
const tiers = {
  unit: `${roots}/**/*.test.ts`,
  int: `${roots}/**/*.int.test.ts`,
  e2e: `${roots}/**/*.e2e.test.ts`,
  soak: `${roots}/**/*.soak.test.ts`,
};
const notUnit = [tiers.int, tiers.e2e, tiers.soak];

/**
 * The file name says the test tier, and each tier is a vitest project:
 * - `unit`  `*.test.ts`      in-process (executeHTTPGraphQLRequest, or a server on port 0), no services;
 * - `int`   `*.int.test.ts`  real Postgres and Redis, a throwaway database per file (test/databases.ts);
 * - `e2e`   `*.e2e.test.ts`  real processes talking HTTP;
 * - `soak`  `*.soak.test.ts` durability under faults and volume: a Postgres restart under
 *           thousands of orders, SIGKILLed consumers and subgraphs, many relays over one outbox.
 * `vitest run` runs every project (what CI runs); `--project unit` runs one.
 * Only the tiers that use Postgres and Redis start them (test/global-setup.ts).
 */
export default defineConfig({
  resolve: {
    // Resolve graphql as Node does (its CommonJS build). Vite would pick the ESM
    // build for our imports while Apollo's CommonJS code requires the other,
    // and graphql refuses to mix two copies of itself.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    exclude: ['**/node_modules/**', '**/.data/**'],
    // Forks, not threads: tests start servers and child processes, and PGlite's WASM heap is per process.
    pool: 'forks',
    // The CI machine has 2 cores; more workers only make the servers under test compete for them.
    maxWorkers: 2,
    // Integration files migrate several databases and start servers; the defaults (5 s / 10 s) are too tight.
    testTimeout: speed.scale(60_000),
    hookTimeout: speed.scale(120_000),
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [tiers.unit],
          exclude: notUnit,
          // A worker keeps its loaded modules from one file to the next: loading Apollo,
          // graphql-js and OpenTelemetry again for every file was most of this tier's time.
          // Sound because no unit test mocks modules or keeps state in module globals.
          isolate: false,
        },
      },
      ...(['int', 'e2e', 'soak'] as const).map((name) => ({
        extends: true as const,
        // Starts (or finds) Postgres and Redis once per run, shared by these projects.
        test: { name, include: [tiers[name]], globalSetup: ['test/global-setup.ts'] },
      })),
    ],
  },
});
