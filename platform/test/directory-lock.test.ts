import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { DirectoryLockedError, lockDirectory } from '../src/db/directory-lock.ts';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'directory-lock-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('directory lock', () => {
  it('refuses a second owner while the first is alive, and frees the directory on release', async () => {
    const dir = join(root, 'products');
    const first = await lockDirectory(dir);
    expect(await readFile(`${dir}.lock`, 'utf8')).toBe(String(process.pid));

    // Another live process holds it.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      await first.release();
      await writeFile(`${dir}.lock`, String(other.pid));
      await expect(lockDirectory(dir)).rejects.toThrow(DirectoryLockedError);
      await expect(lockDirectory(dir)).rejects.toThrow(`in use by process ${other.pid}`);
    } finally {
      other.kill();
    }
  });

  it('takes over a lock left by a process that died', async () => {
    const dir = join(root, 'orders');
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.once('exit', resolve));
    await writeFile(`${dir}.lock`, String(dead.pid));
    const lock = await lockDirectory(dir);
    expect(await readFile(`${dir}.lock`, 'utf8')).toBe(String(process.pid));
    await lock.release();
  });

  it('keeps a second process off an embedded database that is open', async () => {
    const dataDir = join(root, 'accounts');
    const open = await openDatabase({ kind: 'pglite', dataDir }, {});
    try {
      const second = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `import { openDatabase } from './platform/src/db/database.ts';
           await openDatabase({ kind: 'pglite', dataDir: ${JSON.stringify(dataDir)} }, {});`,
        ],
        { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      second.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise((resolve) => second.once('exit', resolve));
      expect(code).not.toBe(0);
      expect(stderr).toContain(`is in use by process ${process.pid}`);
    } finally {
      await open.close();
    }
  });
});
