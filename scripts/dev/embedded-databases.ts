/**
 * Creates the embedded databases `npm start` has not made yet, without
 * paying for it in the process that serves them. PGlite's first start of a
 * folder runs initdb, which takes about 5 s and leaves some 500 MB resident
 * in the process that ran it, even after it closes (measured with PGlite
 * 0.5). So one empty database is made in a short-lived process, and copied
 * into each subgraph's folder: a copy takes a fraction of a second, and the
 * graph's process only ever opens existing folders.
 *
 * Run as a script (`node --import tsx embedded-databases.ts <folder>`), it
 * is that short-lived process: it creates an empty database in `<folder>`.
 */
import { spawn } from 'node:child_process';
import { access, cp, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

/** Makes each folder of `dirs` that holds no database yet an empty one. */
export async function createMissingDatabases(dirs: readonly string[], scratch: string): Promise<void> {
  const missing = (await Promise.all(dirs.map(async (dir) => ((await holdsDatabase(dir)) ? null : dir)))).filter(
    (dir): dir is string => dir !== null,
  );
  if (missing.length === 0) return;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(dirname(scratch), { recursive: true });
  await createInChildProcess(scratch);
  // A folder half-copied by a stopped start has no PG_VERSION yet (it is copied last): copied again whole.
  for (const dir of missing) {
    await rm(dir, { recursive: true, force: true });
    await cp(scratch, dir, { recursive: true, filter: (source) => source !== marker(scratch) });
    await cp(marker(scratch), marker(dir));
  }
  await rm(scratch, { recursive: true, force: true });
}

/** The file that marks a folder as a whole database (the databases inside it have their own). */
function marker(dir: string): string {
  return join(dir, 'PG_VERSION');
}

async function holdsDatabase(dir: string): Promise<boolean> {
  return access(marker(dir)).then(
    () => true,
    () => false,
  );
}

function createInChildProcess(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), dir], {
      // The channel tells the child when its parent has gone, so that a stopped start leaves nothing running.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`creating an empty embedded database in ${dir} failed (${signal ?? `code ${code}`})`)),
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('Usage: embedded-databases.ts <folder>');
    process.exit(2);
  }
  // Half made, the folder is made again by the next start (createMissingDatabases starts from nothing).
  const parentGone = () => process.exit(1);
  process.once('disconnect', parentGone);
  const database = await PGlite.create(dir);
  await database.close();
  // Made: the channel, which would keep this process alive, closes.
  process.off('disconnect', parentGone);
  process.disconnect?.();
}
