/**
 * The bench's own dependencies (Hive Gateway, its Rust planner, autocannon)
 * are big and only the bench needs them, so the root install never fetches
 * them: they go into bench/node_modules on the first `npm run bench`, and
 * again whenever bench/package-lock.json changes. Node builtins only here,
 * because nothing else may be installed yet.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('..', import.meta.url));
const lockFile = `${benchDir}package-lock.json`;
/** Written after a successful install: the lockfile hash the installed tree matches. */
const stampFile = `${benchDir}node_modules/.installed-lock-sha256`;

export function ensureBenchDependencies(log: (line: string) => void): void {
  const wanted = createHash('sha256').update(readFileSync(lockFile)).digest('hex');
  const installed = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : null;
  if (installed === wanted) return;
  log(
    installed
      ? 'bench/package-lock.json changed; reinstalling bench dependencies'
      : 'installing bench dependencies (first run)',
  );
  const result = spawnSync('npm', ['ci', '--prefix', benchDir, '--no-audit', '--no-fund'], {
    stdio: 'inherit',
    // npm must not pick up the root package through a workspace or the caller's cwd.
    cwd: benchDir,
  });
  if (result.status !== 0)
    throw new Error(`npm ci --prefix bench failed (${result.error?.message ?? `code ${result.status}`})`);
  writeFileSync(stampFile, `${wanted}\n`);
}
