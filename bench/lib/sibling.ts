/**
 * What the benchmarks beside `npm run bench` (bench/streaming.ts,
 * bench/subscriptions.ts) share: figures, their marked section of
 * docs/benchmarks.md, and a run that stops everything it started however
 * it ends.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { killEverythingNow, repoRoot, stopEverything } from './processes.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function summary(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1)!,
  };
}

/** Formats as the repo's prettier config says, so docs/benchmarks.md keeps passing `npm run format:check`. */
async function formatMarkdown(text: string, file: string): Promise<string> {
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...config, filepath: file });
}

/** Replaces what is between `<!-- <section>:begin -->` and its end marker in docs/benchmarks.md, and nothing else. */
export async function writeDocsSection(section: string, report: string): Promise<string> {
  const begin = `<!-- ${section}:begin -->`;
  const end = `<!-- ${section}:end -->`;
  const file = `${repoRoot}docs/benchmarks.md`;
  const current = readFileSync(file, 'utf8');
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  if (from === -1 || to < from) throw new Error(`${file} has no ${begin} … ${end} markers`);
  // Formatted alone, so the rest of the file is left byte for byte as it is.
  const formatted = (await formatMarkdown(report, file)).trim();
  const next = `${current.slice(0, from)}${begin}\n\n${formatted}\n\n${current.slice(to)}`;
  writeFileSync(file, next);
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(file)) ?? {};
  if (!(await prettier.check(next, { ...config, filepath: file })))
    log(`note: ${file} does not pass prettier --check as a whole (was it formatted before?)`);
  return file;
}

export interface SiblingRun<TOptions extends { writeDocs: boolean }> {
  /** The npm script, e.g. `bench:streaming`; also the name of its docs section after the colon. */
  script: string;
  usage: string;
  parseOptions(argv: string[]): TOptions;
  run(options: TOptions, command: string): Promise<{ report: string }>;
}

/**
 * Runs a sibling benchmark from its command line: options, the run, the
 * report on stdout and in its docs section. Everything it started is
 * stopped once, whatever ends it first (a signal, a failure, the end).
 */
export async function runSibling<TOptions extends { writeDocs: boolean }>({
  script,
  usage,
  parseOptions,
  run,
}: SiblingRun<TOptions>): Promise<never> {
  let options: TOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  let stopping: Promise<void> | null = null;
  const stopAll = (reason?: string): Promise<void> => {
    if (!stopping) {
      if (reason) log(reason);
      stopping = stopEverything();
    }
    return stopping;
  };
  const stop = async (code: number, reason?: string): Promise<never> => {
    await stopAll(reason);
    process.exit(code);
  };
  // Whatever happens, nothing the bench started outlives it.
  process.on('exit', killEverythingNow);
  process.once('SIGINT', () => void stop(130, 'interrupted; stopping everything'));
  process.once('SIGTERM', () => void stop(143, 'terminated; stopping everything'));
  try {
    const command = [`npm run ${script}`, ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(
      ' ',
    );
    const { report } = await run(options, command);
    await stopAll();
    process.stdout.write(`\n${report}\n`);
    if (options.writeDocs) log(`wrote ${await writeDocsSection(script.split(':')[1]!, report)}`);
    return process.exit(0);
  } catch (error) {
    return stop(1, `${script} failed: ${(error as Error).stack ?? String(error)}`);
  }
}
