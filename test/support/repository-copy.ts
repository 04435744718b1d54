import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const execFileAsync = promisify(execFile);

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RepositoryCopy {
  dir: string;
  /** Runs a command in the copy; never rejects on a non-zero exit, which the result carries. */
  run(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<CommandResult>;
  /** Runs `npm run <script> -- ...args` in the copy. */
  npm(script: string, args?: string[], env?: NodeJS.ProcessEnv): Promise<CommandResult>;
  read(path: string): string;
  write(path: string, content: string): void;
  /** Rewrites a file, failing loudly when `from` is not in it, so a stale scenario cannot pass by editing nothing. */
  edit(path: string, from: string | RegExp, to: string): void;
  git(...args: string[]): Promise<string>;
  remove(): void;
}

/**
 * A fresh git repository holding the tracked files of this checkout as one
 * commit on `main`, with node_modules linked rather than copied: the
 * playground for tests that drive the repository's own scripts (schema
 * checks against a base, the subgraph scaffold) the way a developer would.
 */
export async function copyRepository(): Promise<RepositoryCopy> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-graph-repo-'));
  const { stdout } = await execFileAsync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  // The linked node_modules is a file to git (`node_modules/` matches folders only): keep it out of every copy.
  const paths = stdout.split('\0').filter((path) => path !== '' && path !== 'node_modules');
  for (const path of paths) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    try {
      cpSync(join(root, path), join(dir, path));
    } catch (error) {
      // A file deleted in the working tree but still in the index.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');

  const run = async (command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> => {
    try {
      const { stdout, stderr } = await execFileAsync(command, args, {
        cwd: dir,
        env: { ...process.env, NODE_ENV: 'test', ...env },
        maxBuffer: 64 * 1024 * 1024,
      });
      return { exitCode: 0, stdout, stderr };
    } catch (error) {
      const failure = error as { code?: number | string; stdout?: string; stderr?: string };
      if (typeof failure.code !== 'number') throw error;
      return { exitCode: failure.code, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
    }
  };
  const git = async (...args: string[]) => {
    const result = await run('git', args);
    if (result.exitCode !== 0) throw new Error(`git ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout.trim();
  };
  await git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, '.git', 'info', 'exclude'), '/node_modules\n');
  await git('add', '-A');
  await git('-c', 'user.name=test', '-c', 'user.email=test@example.invalid', 'commit', '-q', '-m', 'base');

  const copy: RepositoryCopy = {
    dir,
    run,
    npm: (script, args = [], env) => run('npm', ['run', '--silent', script, '--', ...args], env),
    read: (path) => readFileSync(join(dir, path), 'utf8'),
    write: (path, content) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    },
    edit: (path, from, to) => {
      const before = copy.read(path);
      const after = before.replace(from, to);
      if (after === before) throw new Error(`${path} does not contain ${String(from)}`);
      copy.write(path, after);
    },
    git,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  return copy;
}
