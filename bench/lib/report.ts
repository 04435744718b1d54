/**
 * Markdown for people: per-workload tables, the targets we hold ourselves
 * to, and the facts needed to reproduce the run. The same text goes to
 * stdout, bench/results/latest.md and (for full runs) docs/benchmarks.md,
 * between markers, so the prose around it stays hand-written.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { baselineName, contenderNames } from '../contenders/index.ts';
import { workloadNames, workloads, type WorkloadName } from '../workloads/index.ts';
import { repoRoot } from './processes.ts';
import type { CellFigures, Results, RunFacts } from './results.ts';

export const resultsStart = '<!-- bench:results:start -->';
export const resultsEnd = '<!-- bench:results:end -->';

export function renderReport(results: Results, facts: RunFacts): string {
  const { options, machine } = facts;
  const lines: string[] = [];
  lines.push(
    `Measured ${machine.date} with \`${facts.command}\` (${(facts.wallSeconds / 60).toFixed(1)} min).`,
    '',
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}` +
      (machine.busyBeforeRun === null
        ? '.'
        : `; ${(machine.busyBeforeRun * 100).toFixed(0)} % busy just before the run.`),
    `- Placement: ${facts.placement}.`,
    `- Load: autocannon, ${options.connections} connections, a unique \`Authorization: Bearer <JWT>\` on every request; ` +
      `${options.rounds} ${options.rounds === 1 ? 'round' : 'rounds'} of ${options.warmupSeconds} s warm-up + ~${options.durationSeconds} s measured per cell, contenders interleaved.`,
    ...(facts.shopSeedSeconds !== null
      ? [
          `- Shop graph: Postgres seeded at \`${options.shopSize}\` in ${facts.shopSeedSeconds.toFixed(0)} s (not measured)` +
            (facts.signedInUsers === null ? '.' : `; ${signedInNote(facts.signedInUsers, options.connections)}.`),
        ]
      : []),
    '',
    '×: ratio to the `apollo` baseline on the same workload (req/s, and requests per CPU-second of the gateway process). ' +
      'CPU: utime + stime of the gateway process over the measured window ÷ requests. RSS: peak (VmHWM) during the window. ' +
      'Errors: non-2xx + connection errors + 200s carrying GraphQL `errors`. Check: the answer equals the baseline’s (canonical JSON, `extensions` ignored).',
    '',
  );

  const notes: string[] = [];
  for (const name of options.workloads) {
    const rows = results.figures(name, contenderNames);
    if (rows.length === 0) continue;
    lines.push(`### ${name}`, '', workloads[name].description + '.', '', ...table(rows), '');
    notes.push(...rowNotes(name, rows));
  }

  lines.push('### Targets', '', ...targets(results), '');
  if (notes.length > 0) lines.push('### Notes', '', ...notes.map((note) => `- ${note}`), '');
  return lines.join('\n');
}

/**
 * Signed-in requests cycle through the users; with fewer users than about
 * twice the connections, one user's requests overlap, and our router may
 * serve identical fetches of one caller once (it never shares between
 * callers), which the other gateways do not.
 */
function signedInNote(users: number, connections: number): string {
  const note = `signed-in requests come from ${users} seeded users in turn`;
  return users >= 2 * connections
    ? note
    : `${note}, fewer than twice the ${connections} connections: one user's requests overlap, and our router may share their subgraph fetches (see subgraph req/op)`;
}

function table(rows: CellFigures[]): string[] {
  const header =
    '| contender | req/s | × req/s | p50 ms | p99 ms | CPU ms/req | × req/CPU-s | RSS MB | subgraph req/op | errors | check |';
  const rule = '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|';
  const body = rows.map((row) => {
    if (row.rounds === 0) return `| ${row.contender} | failed | | | | | | | | | ${checkMark(row)} |`;
    const errors = row.failedRequests.non2xx + row.failedRequests.errors + row.failedRequests.graphqlErrors;
    return [
      '',
      row.contender,
      fixed(row.requestsPerSecond, row.requestsPerSecond < 100 ? 1 : 0),
      ratio(row.requestsPerSecondRatio),
      fixed(row.p50Ms, 0),
      fixed(row.p99Ms, 0),
      fixed(row.cpuMsPerRequest, row.cpuMsPerRequest < 1 ? 3 : 2),
      ratio(row.requestsPerCpuSecondRatio),
      fixed(row.peakRssMB, 0),
      fixed(row.subgraphRequestsPerOperation, 1),
      String(errors),
      checkMark(row),
      '',
    ]
      .join(' | ')
      .trim();
  });
  return [header, rule, ...body];
}

function checkMark(row: CellFigures): string {
  switch (row.check?.status) {
    case 'reference':
      return row.contender === baselineName ? 'baseline' : 'reference';
    case 'ok':
      return '✓';
    case 'mismatch':
      return '**✗ mismatch**';
    case undefined:
      return '–';
  }
}

function rowNotes(workload: WorkloadName, rows: CellFigures[]): string[] {
  const notes: string[] = [];
  for (const row of rows) {
    const where = `${workload} / ${row.contender}`;
    if (row.check?.status === 'mismatch') {
      notes.push(
        `${where}: answer differs from the baseline:\n  \`\`\`\n  ${row.check.differences.join('\n  ')}\n  \`\`\``,
      );
    }
    for (const failure of row.failures) notes.push(`${where} failed in ${failure}`);
    const { non2xx, errors, graphqlErrors } = row.failedRequests;
    if (non2xx + errors + graphqlErrors > 0)
      notes.push(
        `${where}: ${non2xx} non-2xx, ${errors} connection errors, ${graphqlErrors} GraphQL errors under load`,
      );
    if (row.forked) notes.push(`${where}: the gateway forked; CPU and RSS cover all its processes`);
    if (row.reusedTokens > 0)
      notes.push(`${where}: ${row.reusedTokens} requests reused an Authorization (token pool ran out)`);
  }
  return notes;
}

interface Target {
  goal: string;
  /** null: not measured in this run. */
  met: boolean | null;
  measured: string;
}

function targets(results: Results): string[] {
  const row = (workload: WorkloadName, contender: (typeof contenderNames)[number]) =>
    results.figures(workload, contenderNames).find((each) => each.contender === contender && each.rounds > 0) ?? null;
  const heavy = row('heavy', 'ours-nocache');
  const tiny = row('tiny', 'ours-nocache');
  const apq = row('heavy', 'ours-apq');
  /** At least `times` the baseline's requests per CPU-second, and more than Hive Gateway with its Rust planner. */
  const uncached = (workload: WorkloadName, times: number): Target => {
    const ours = row(workload, 'ours-nocache');
    const hive = row(workload, 'hive-router-runtime');
    const ratioOf = (figures: typeof ours) => figures?.requestsPerCpuSecondRatio ?? null;
    const oursRatio = ratioOf(ours);
    const hiveRatio = ratioOf(hive);
    return {
      goal: `${workload}, uncached (\`ours-nocache\`): ≥ ${times}× the baseline’s requests per CPU-second, and ahead of \`hive-router-runtime\``,
      met: oursRatio === null || hiveRatio === null ? null : oursRatio >= times && oursRatio > hiveRatio,
      measured:
        oursRatio === null
          ? 'not measured'
          : `${oursRatio.toFixed(2)}× (\`hive-router-runtime\` ${hiveRatio === null ? 'not measured' : `${hiveRatio.toFixed(2)}×`})`,
    };
  };
  const hits = workloadNames
    .map((workload) => ({ workload, hit: row(workload, 'ours-cache-hit') }))
    .filter((each): each is { workload: WorkloadName; hit: NonNullable<ReturnType<typeof row>> } => each.hit !== null);
  const list: Target[] = [
    uncached('heavy', 3.5),
    {
      goal: 'heavy, uncached (`ours-nocache`): ≤ 7 subgraph requests per operation',
      met: heavy ? heavy.subgraphRequestsPerOperation <= 7 : null,
      measured: heavy ? heavy.subgraphRequestsPerOperation.toFixed(1) : 'not measured',
    },
    {
      ...uncached('tiny', 2),
      measured:
        tiny?.requestsPerCpuSecondRatio == null
          ? 'not measured'
          : `${uncached('tiny', 2).measured}, req/s ${ratio(tiny.requestsPerSecondRatio)}`,
    },
    {
      goal: 'response-cache hit (`ours-cache-hit`): ≤ 0.1 ms CPU per request on every workload, heavy included',
      met:
        hits.length === 0
          ? null
          : hits.every(({ hit }) => hit.cpuMsPerRequest <= 0.1 && hit.check?.status !== 'mismatch'),
      measured:
        hits.length === 0
          ? 'not measured'
          : hits.map(({ workload, hit }) => `${workload} ${hit.cpuMsPerRequest.toFixed(3)} ms`).join(', '),
    },
    {
      goal: 'APQ (`ours-apq`): the measured request carries no query text, and is answered correctly',
      met: apq
        ? !apq.requestCarriesQueryText &&
          apq.check?.status !== 'mismatch' &&
          apq.failedRequests.non2xx + apq.failedRequests.errors + apq.failedRequests.graphqlErrors === 0
        : null,
      measured: apq
        ? `${apq.requestBodyBytes}-byte body, ${apq.requestCarriesQueryText ? 'with' : 'no'} \`query\`, check ${checkMark(apq)}`
        : 'not measured',
    },
  ];
  return [
    '| target | measured | status |',
    '|---|---|---|',
    ...list.map(
      ({ goal, met, measured }) => `| ${goal} | ${measured} | ${met === null ? '–' : met ? 'met' : '**not met**'} |`,
    ),
  ];
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function ratio(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '–' : `${value.toFixed(2)}×`;
}

/** Formats as the repo's prettier config says, so a fresh docs/benchmarks.md passes `npm run format:check`. */
async function formatMarkdown(text: string, file: string): Promise<string> {
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...config, filepath: file });
}

export async function writeLatest(report: string): Promise<string> {
  const dir = `${repoRoot}bench/results`;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/latest.md`;
  writeFileSync(file, await formatMarkdown(`# Benchmark results\n\n${report}`, file));
  return file;
}

/** Replaces the generated part of docs/benchmarks.md, keeping the hand-written text around it. */
export async function writeDocs(report: string): Promise<string> {
  const file = `${repoRoot}docs/benchmarks.md`;
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = `# Benchmarks\n\n${resultsStart}\n${resultsEnd}\n`;
  }
  const start = current.indexOf(resultsStart);
  const end = current.indexOf(resultsEnd);
  const generated = `${resultsStart}\n\n${report.trim()}\n\n${resultsEnd}`;
  const next =
    start >= 0 && end > start
      ? current.slice(0, start) + generated + current.slice(end + resultsEnd.length)
      : `${current.trimEnd()}\n\n## Results\n\n${generated}\n`;
  mkdirSync(`${repoRoot}docs`, { recursive: true });
  writeFileSync(file, await formatMarkdown(next, file));
  return file;
}
