/**
 * Measures what a newcomer's first `npm start` costs: it starts the graph on
 * embedded defaults in a fresh data folder (small seed, hot reload on), and
 * once it is up prints how long the start took and the resident memory of
 * every process it started, summed over the process tree, then stops it.
 *
 *   npx tsx scripts/dev/measure-rss.ts             a fresh folder, removed after
 *   npx tsx scripts/dev/measure-rss.ts --keep DIR  this folder (a second start when it holds data)
 *   npx tsx scripts/dev/measure-rss.ts --no-watch  without hot reload
 *
 * Linux only: it reads /proc.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: { keep: { type: 'string' }, 'no-watch': { type: 'boolean', default: false } },
});
const dataDir = flags.keep ?? (await mkdtemp(join(tmpdir(), 'measure-rss-')));
const startScript = fileURLToPath(new URL('../start.ts', import.meta.url));

/** Each live process's parent and resident set size, from /proc. */
async function processTable(): Promise<Map<number, { parent: number; rssBytes: number; command: string }>> {
  const table = new Map<number, { parent: number; rssBytes: number; command: string }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(`/proc/${entry}/status`, 'utf8');
      const parent = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
      const command = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ').trim();
      table.set(Number(entry), { parent, rssBytes: rssKb * 1024, command });
    } catch {
      // Exited while read.
    }
  }
  return table;
}

/** `root` and its descendants. */
async function tree(root: number): Promise<Array<{ pid: number; rssBytes: number; command: string }>> {
  const table = await processTable();
  const found = [root];
  for (let index = 0; index < found.length; index++) {
    for (const [pid, { parent }] of table) if (parent === found[index]) found.push(pid);
  }
  return found.flatMap((pid) => {
    const row = table.get(pid);
    return row ? [{ pid, rssBytes: row.rssBytes, command: row.command }] : [];
  });
}

const startedAt = Date.now();
const graph = spawn(process.execPath, ['--import', 'tsx', startScript, ...(flags['no-watch'] ? ['--no-watch'] : [])], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: {
    // Embedded defaults: no database URL, no Redis.
    ...Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.endsWith('_DATABASE_URL') && name !== 'REDIS_URL'),
    ),
    DATA_DIR: dataDir,
  },
});
let output = '';
const up = new Promise<void>((resolve, reject) => {
  graph.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes('Shop graph is up')) resolve();
  });
  graph.once('exit', (code) => reject(new Error(`npm start exited (code ${code}) before it was up:\n${output}`)));
});
try {
  await up;
  const seconds = (Date.now() - startedAt) / 1000;
  const processes = await tree(graph.pid!);
  const mb = (bytes: number) => `${Math.round(bytes / 1_000_000)} MB`;
  for (const { pid, rssBytes, command } of processes)
    console.log(`${String(pid).padStart(7)}  ${mb(rssBytes).padStart(7)}  ${command}`);
  console.log(
    `start: ${seconds.toFixed(1)} s; processes: ${processes.length}; total RSS: ${mb(processes.reduce((sum, { rssBytes }) => sum + rssBytes, 0))}`,
  );
} finally {
  graph.kill('SIGTERM');
  await new Promise((resolve) => graph.once('exit', resolve));
  if (!flags.keep) await rm(dataDir, { recursive: true, force: true });
}
