import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { contenderNames, isContenderName, type ContenderName } from '../contenders/index.ts';
import { isWorkloadName, workloadNames, type WorkloadName } from '../workloads/index.ts';
import type { SeedSize } from '../../platform/src/subgraph/definition.ts';

export interface BenchOptions {
  quick: boolean;
  contenders: readonly ContenderName[];
  workloads: readonly WorkloadName[];
  /** Rounds of every (contender × workload) cell; figures are combined across rounds. */
  rounds: number;
  /** Measured seconds per cell and round. */
  durationSeconds: number;
  /** Unmeasured load before each measurement: JIT, connection pools, caches. */
  warmupSeconds: number;
  connections: number;
  shopSize: SeedSize;
  writeDocs: boolean;
  /** Copy every child's output to stderr. */
  echo: boolean;
  /** Where each gateway process writes a V8 CPU profile when it stops; null: no profiles. */
  profileDir: string | null;
}

export const usage = `Usage: npm run bench -- [options]

  --quick                 sanity run: 1 round, short cells, small shop seed (~2 min)
  --only <a,b,...>        contenders (${contenderNames.join(', ')})
  --workload <a,b,...>    workloads (${workloadNames.join(', ')})
  --rounds <n>            rounds of interleaved cells (default 2, quick 1)
  --duration <s>          measured seconds per cell and round (default 5, quick 1.5)
  --warmup <s>            warm-up seconds before each measurement, doubled on a fresh process (default 2, quick 0.5)
  --connections <n>       concurrent connections (default 50)
  --shop-size <size>      small or scale (default scale, quick small)
  --write-docs            write docs/benchmarks.md (default for full runs)
  --no-write-docs         do not
  --echo                  copy every process's output to stderr
  --profile <dir>         each gateway process writes a CPU profile (.cpuprofile) into <dir>/<contender>-r<round>
`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      workload: { type: 'string' },
      workloads: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'shop-size': { type: 'string' },
      'write-docs': { type: 'boolean' },
      'no-write-docs': { type: 'boolean' },
      echo: { type: 'boolean', default: false },
      profile: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const quick = values.quick;
  const shopSize = values['shop-size'] ?? (quick ? 'small' : 'scale');
  if (shopSize !== 'small' && shopSize !== 'scale')
    throw new Error(`--shop-size: expected small or scale, got ${shopSize}`);
  return {
    quick,
    contenders: list(values.only, contenderNames, isContenderName, '--only'),
    workloads: list(values.workload ?? values.workloads, workloadNames, isWorkloadName, '--workload'),
    rounds: positive(values.rounds, quick ? 1 : 2, '--rounds'),
    durationSeconds: positive(values.duration, quick ? 1.5 : 5, '--duration'),
    warmupSeconds: positive(values.warmup, quick ? 0.5 : 2, '--warmup'),
    connections: positive(values.connections, 50, '--connections'),
    shopSize,
    writeDocs: values['no-write-docs'] ? false : (values['write-docs'] ?? !quick),
    echo: values.echo,
    profileDir: values.profile ? resolve(values.profile) : null,
  };
}

function list<T extends string>(
  value: string | undefined,
  all: readonly T[],
  isName: (name: string) => name is T,
  flag: string,
): readonly T[] {
  if (value === undefined) return all;
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !isName(name));
  if (unknown.length > 0) throw new Error(`${flag}: unknown ${unknown.join(', ')}; known: ${all.join(', ')}`);
  // Keep the canonical order, so tables read the same whatever order the flag used.
  return all.filter((name) => names.includes(name));
}

function positive(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`${flag}: expected a positive number, got ${value}`);
  return number;
}
