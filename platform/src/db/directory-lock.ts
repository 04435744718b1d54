import { open, readFile, unlink } from 'node:fs/promises';

export interface DirectoryLock {
  release(): Promise<void>;
}

/** Thrown when another live process holds the lock. */
export class DirectoryLockedError extends Error {
  override name = 'DirectoryLockedError';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes exclusive ownership of `dir` for this process, through a `<dir>.lock`
 * file beside it holding our pid. PGlite itself does not stop a second
 * process from opening the same data directory, and two embedded Postgres
 * instances writing one directory corrupt it. A lock left by a process that
 * has died is taken over.
 */
export async function lockDirectory(dir: string): Promise<DirectoryLock> {
  const path = `${dir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return { release: () => unlink(path).catch(() => {}) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new DirectoryLockedError(
        `The embedded database in ${dir} is in use by process ${owner}. Stop that process (is \`npm start\` already running?) and try again.`,
      );
    }
    await unlink(path).catch(() => {});
  }
  throw new DirectoryLockedError(`Could not lock ${dir}: another process keeps taking it.`);
}
