import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';
import { measureMachineSpeed } from './test/support/machine-speed.ts';

const require = createRequire(import.meta.url);

// Measured once per run, before any test starts: on a slow or busy machine the
// default timeouts stretch, so vitest never cuts a test that its own
// (equally scaled) deadlines would let finish. Load and fault tests measure
// again for themselves and set their own timeouts.
const speed = await measureMachineSpeed();

/**
 * The file name says the test tier:
 * - `*.test.ts`      in-process (executeHTTPGraphQLRequest, or a server on port 0);
 * - `*.int.test.ts`  real Postgres and Redis, a throwaway database per file (test/databases.ts);
 * - `*.e2e.test.ts`  real processes talking HTTP.
 * All tiers match `*.test.ts`, so `vitest run` runs them all; pass a filter
 * such as `.int.test.ts` to run one tier.
 */
export default defineConfig({
  resolve: {
    // Resolve graphql as Node does (its CommonJS build). Vite would pick the ESM
    // build for our imports while Apollo's CommonJS code requires the other,
    // and graphql refuses to mix two copies of itself.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['{platform,router,subgraphs,test,scripts}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/.data/**'],
    // Starts (or finds) Postgres and Redis once per run; see test/global-setup.ts.
    globalSetup: ['test/global-setup.ts'],
    // Forks, not threads: tests start servers and child processes, and PGlite's WASM heap is per process.
    pool: 'forks',
    // The CI machine has 2 cores; more workers only make the servers under test compete for them.
    maxWorkers: 2,
    // Integration files migrate several databases and start servers; the defaults (5 s / 10 s) are too tight.
    testTimeout: speed.scale(60_000),
    hookTimeout: speed.scale(120_000),
  },
});
