/**
 * `npm run bench`: our router against stock Apollo Gateway and Hive Gateway
 * on the public benchmark workload and on our own shop graph. See
 * docs/benchmarks.md for what is measured and how to read it.
 */
import { ensureBenchDependencies } from './lib/deps.ts';
import { parseOptions, usage } from './lib/options.ts';
import { killEverythingNow, stopEverything } from './lib/processes.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`${(error as Error).message}\n\n${usage}`);
  process.exit(2);
}

ensureBenchDependencies(log);

let stopping = false;
async function stop(code: number, reason?: string): Promise<never> {
  if (!stopping) {
    stopping = true;
    if (reason) log(reason);
    await stopEverything();
  }
  process.exit(code);
}
// Whatever happens, nothing the bench started outlives it.
process.on('exit', killEverythingNow);
process.once('SIGINT', () => void stop(130, 'interrupted; stopping everything'));
process.once('SIGTERM', () => void stop(143, 'terminated; stopping everything'));

// Loaded only now: these import the bench dependencies installed just above.
const { runBench } = await import('./lib/bench.ts');
const { renderReport, writeDocs, writeLatest } = await import('./lib/report.ts');

try {
  const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
  const { results, facts } = await runBench(options, command);
  await stopEverything();
  const report = renderReport(results, facts);
  process.stdout.write(`\n${report}\n`);
  log(`wrote ${await writeLatest(report)}`);
  // A wrong answer or a failed cell fails the run, and keeps its figures out of the docs.
  const problems = results.problems();
  if (problems.length > 0) {
    log(`bench failed: ${problems.length} problem(s)${options.writeDocs ? '; docs/benchmarks.md left as it was' : ''}`);
    for (const problem of problems) log(`  ${problem}`);
    process.exit(1);
  }
  if (options.writeDocs) log(`wrote ${await writeDocs(report)}`);
  process.exit(0);
} catch (error) {
  await stop(1, `bench failed: ${(error as Error).stack ?? error}`);
}
