/** Starts the benchmark subgraphs' process and composes their supergraph. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { composeSupergraph } from '../../platform/src/composition/compose.ts';
import type { SeededUsers } from '../lib/callers.ts';
import { ControlChannel, waitForReady } from '../lib/control.ts';
import { startProcess } from '../lib/processes.ts';
import { benchSubgraphNames } from './resolvers.ts';

export interface RunningGraph {
  supergraphPath: string;
  /** Requests all subgraphs of this graph have received so far. */
  requestCount(): Promise<number>;
  /** Artificial latency per subgraph request; only the benchmark subgraphs support it. */
  setDelay(ms: number): Promise<void>;
  /** Real users to sign requests in as, and the secret the subgraphs verify them with; null where there are none. */
  seededUsers: SeededUsers | null;
}

export async function startBenchGraph(options: { core: number | null; workDir: string }): Promise<RunningGraph> {
  const process_ = startProcess({
    name: 'bench-subgraphs',
    command: [process.execPath, '--import', 'tsx', 'bench/subgraphs/serve.ts'],
    env: { NODE_ENV: 'production' },
    core: options.core,
    ipc: true,
  });
  const ready = await waitForReady(process_.child, 'benchmark subgraphs', 60_000).catch((error: Error) => {
    throw new Error(`${error.message}\n${process_.output()}`);
  });
  const ports = ready.ports ?? {};
  const outcome = composeSupergraph(
    benchSubgraphNames.map((name) => ({
      name,
      url: `http://127.0.0.1:${ports[name]}/graphql`,
      sdl: readFileSync(new URL(`./${name}.graphql`, import.meta.url), 'utf8'),
    })),
  );
  if (!outcome.ok) throw new Error(`benchmark subgraphs do not compose:\n${outcome.errors.join('\n')}`);
  const supergraphPath = join(options.workDir, 'bench-supergraph.graphql');
  writeFileSync(supergraphPath, outcome.supergraphSdl);

  const control = new ControlChannel(process_.child);
  return {
    supergraphPath,
    requestCount: async () => Object.values(await control.counts()).reduce((sum, count) => sum + count, 0),
    setDelay: (ms) => control.delay(ms),
    // The public benchmark's subgraphs know no users and read no caller.
    seededUsers: null,
  };
}
