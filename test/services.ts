/**
 * Throwaway Postgres and Redis servers started from installed binaries, so
 * integration tests run against the real thing without Docker. Each server
 * lives in its own temp dir on a free port and is stopped through its own
 * handle; nothing here looks for processes by name.
 */
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, appendFile, chown, mkdtemp, readFile, readdir, realpath, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePorts } from './support/processes.ts';

const run = promisify(execFile);

/** How long a server may take to accept connections before we give up. */
const startTimeoutMs = 30_000;
/** How long a server may take to exit on SIGTERM before it is killed. */
const stopTimeoutMs = 5_000;

export interface PostgresServer {
  /** Superuser URL for the `postgres` database, e.g. `postgres://postgres@127.0.0.1:54321/postgres`. */
  readonly adminUrl: string;
  /**
   * Stops the server with a fast shutdown (sessions are terminated, open
   * transactions roll back), then starts it again on the same port and data.
   * Resolves with when the server was accepting connections again.
   */
  restart(): Promise<{ stoppedAt: number; acceptingAt: number }>;
  /** Stops the server and deletes its data. Safe to call twice. */
  stop(): Promise<void>;
}

export interface RedisServer {
  /** e.g. `redis://127.0.0.1:6380`. */
  readonly url: string;
  /** Stops the server and deletes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /**
   * Keeps Postgres's crash safety (fsync, synchronous commit) for tests that
   * check what survives a restart. By default it is traded for speed, since
   * the data is thrown away after the run.
   */
  durable?: boolean;
  /** Where to listen, such as a port a service under test already points at. Default: a free one. */
  port?: number;
}

export async function startPostgres({
  durable = false,
  port: chosenPort,
}: PostgresOptions = {}): Promise<PostgresServer> {
  const binDir = await findPostgresBinDir();
  const owner = await postgresOwner();
  const dir = await mkdtemp(join(tmpdir(), 'test-postgres-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const pgCtl = join(binDir, 'pg_ctl');
  // Every command runs from the temp dir: the postgres user may not be allowed into our cwd.
  const asOwner = (file: string, args: string[]) =>
    owner ? run('runuser', ['-u', owner.name, '--', file, ...args], { cwd: dir }) : run(file, args, { cwd: dir });

  let started = false;
  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    await asOwner(join(binDir, 'initdb'), [
      '-D',
      dataDir,
      '-A',
      'trust',
      '-U',
      'postgres',
      '--no-sync',
      '-E',
      'UTF8',
      '--no-locale',
    ]);
    const port = chosenPort ?? (await freePort());
    // Durability is worthless for a database that is deleted after the run; dropping it makes DDL-heavy tests fast.
    // Tests open many pools (one per subgraph per file), hence the high connection limit.
    await appendFile(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        ...(durable ? [] : ['fsync = off', 'full_page_writes = off', 'synchronous_commit = off']),
        'max_connections = 300',
        '',
      ].join('\n'),
    );
    // -w waits until the postmaster reports it accepts connections; -t bounds that wait.
    const pgStart = async () => {
      await asOwner(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', String(startTimeoutMs / 1000), 'start']).catch(
        async (error: unknown) => {
          throw new Error(`pg_ctl start failed: ${describeError(error)}\n${await tail(logFile)}`, { cause: error });
        },
      );
      await waitUntil(() => tcpConnect('127.0.0.1', port), { what: `postgres on 127.0.0.1:${port}` });
    };
    await pgStart();
    started = true;

    let stopped = false;
    return {
      adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async restart() {
        await asOwner(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
        const stoppedAt = Date.now();
        await pgStart();
        return { stoppedAt, acceptingAt: Date.now() };
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          await asOwner(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    if (started) await asOwner(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** `port` restarts a Redis where a stopped one was, as a crashed Redis comes back. */
export async function startRedis(port?: number): Promise<RedisServer> {
  const server = await startRedisProcess({ port });
  return { url: server.url, stop: () => server.stop() };
}

/** One redis-server process, answering; see `startRedisProcess`. */
export interface RedisProcess {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its own temp dir: its log, and what it writes (a cluster node's `nodes.conf`). */
  readonly dir: string;
  /** Whether the process has exited, or never started. */
  hasExited(): boolean;
  /** The last lines of its log, for a failure's message. */
  log(lines?: number): Promise<string>;
  /** SIGKILL: no shutdown, nothing flushed. Resolves once it has exited. */
  kill(): Promise<void>;
  /** SIGTERM (SIGKILL after a while), then its dir removed. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on loopback with nothing persisted, in a temp dir of
 * its own, with `args` after the common ones (a cluster node's settings,
 * say); resolves once it answers PING, and fails at once with its log when
 * it exits instead.
 */
export async function startRedisProcess({
  port,
  args = [],
}: { port?: number | undefined; args?: readonly string[] } = {}): Promise<RedisProcess> {
  const bin = await requireExecutable('redis-server', 'Redis for the tests (apt-get install redis-server)');
  const dir = await mkdtemp(join(tmpdir(), 'test-redis-'));
  const logFile = join(dir, 'redis.log');
  const listenPort = port ?? (await freePort());
  const url = `redis://127.0.0.1:${listenPort}`;

  const child = spawn(
    bin,
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(listenPort),
      '--daemonize',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      logFile,
      ...args,
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  let spawnError: Error | null = null;
  // 'exit' never fires when the spawn itself fails, so 'error' settles this too.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      spawnError = error;
      resolve();
    });
  });
  const hasExited = () => spawnError !== null || child.exitCode !== null || child.signalCode !== null;

  const stopChild = async () => {
    if (hasExited()) return;
    child.kill('SIGTERM');
    const timedOut = await Promise.race([exited.then(() => false), sleep(stopTimeoutMs, true, { ref: false })]);
    if (timedOut) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  try {
    await waitUntil(() => pingRedis(url), {
      what: `redis on 127.0.0.1:${listenPort}`,
      // Fail at once with redis's own words instead of polling a dead process for 30 s.
      giveUp: async () =>
        hasExited()
          ? `redis-server exited (${spawnError ?? `code ${child.exitCode}, signal ${child.signalCode}`})\n${await tail(logFile)}`
          : null,
    });
  } catch (error) {
    await stopChild();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let stopped = false;
  return {
    port: listenPort,
    url,
    dir,
    hasExited,
    log: (lines) => tail(logFile, lines),
    async kill() {
      if (!hasExited()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await stopChild();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Sends PING over raw RESP (AUTH first when the URL carries a password) and
 * resolves on `+PONG`. Raw TCP keeps the test harness free of a Redis client.
 */
export function pingRedis(url: string, timeoutMs = 2_000): Promise<void> {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = Number(parsed.port || 6379);
  const password = decodeURIComponent(parsed.password);
  const username = decodeURIComponent(parsed.username);
  const auth = password ? (username ? resp('AUTH', username, password) : resp('AUTH', password)) : '';

  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let reply = '';
    const finish = (error?: Error) => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`redis at ${host}:${port}: no answer in ${timeoutMs} ms`)));
    socket.once('error', finish);
    socket.once('connect', () => socket.write(auth + resp('PING')));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      const refusal = reply.split('\r\n').find((line) => line.startsWith('-'));
      if (refusal) finish(new Error(`redis at ${host}:${port}: ${refusal.slice(1)}`));
      else if (reply.includes('+PONG\r\n')) finish();
    });
  });
}

function resp(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

/** A folder holding both `initdb` and `pg_ctl`: PATH first, then Debian's versioned dirs, newest first. */
export async function findPostgresBinDir(): Promise<string> {
  const versioned = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  const candidates = [
    ...pathDirs(),
    ...versioned
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
      .map((version) => join('/usr/lib/postgresql', version, 'bin')),
  ];
  for (const dir of candidates) {
    const pgCtl = await findExecutable('pg_ctl', [dir]);
    // Resolve symlinks (e.g. /usr/local/bin/pg_ctl -> .../15/bin/pg_ctl) so initdb comes from the same install.
    const binDir = pgCtl ? dirname(await realpath(pgCtl)) : null;
    if (binDir && (await findExecutable('initdb', [binDir]))) return binDir;
  }
  throw new Error('initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin');
}

/** Postgres refuses to run as root; as root we hand the cluster to the `postgres` OS user. */
export async function postgresOwner(): Promise<{ name: string; uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const name = 'postgres';
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (error) {
    throw new Error(`running as root, and no '${name}' OS user to run Postgres as (${describeError(error)})`, {
      cause: error,
    });
  }
}

function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean);
}

/**
 * `name` on PATH, or in /usr/bin or /usr/local/bin (Debian's packages, when
 * PATH is bare); throws saying what it is `for` when it is nowhere.
 */
export async function requireExecutable(name: string, purpose: string): Promise<string> {
  const found = await findExecutable(name, [...pathDirs(), '/usr/bin', '/usr/local/bin']);
  if (!found) throw new Error(`${name} not found on PATH or in /usr/bin: needed for ${purpose}`);
  return found;
}

async function findExecutable(name: string, dirs: string[]): Promise<string | null> {
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here; try the next folder
    }
  }
  return null;
}

/** A free loopback port (`freePorts`); the tiny race before the server binds it is acceptable in tests. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

function tcpConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(1_000, () => socket.destroy(new Error('connect timeout')));
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
}

/**
 * Runs `probe` every 100 ms until it resolves; fails after `timeoutMs`
 * (default 30 s) with its last error, or at once when `giveUp` gives a
 * reason (the process waited for has exited, say).
 */
export async function waitUntil(
  probe: () => Promise<void>,
  options: { what: string; timeoutMs?: number; giveUp?: () => Promise<string | null> },
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? startTimeoutMs);
  for (;;) {
    const reason = await options.giveUp?.();
    if (reason) throw new Error(`${options.what}: ${reason}`);
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(
          `${options.what} not ready after ${options.timeoutMs ?? startTimeoutMs} ms: ${describeError(error)}`,
          { cause: error },
        );
      }
    }
    await sleep(100);
  }
}

/** The last `lines` lines of a file (a server's log), or nothing when it cannot be read. */
export async function tail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** An error for a message: execFile's carry the child's output, which is where the useful part is. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Most tools say what went wrong on stderr; redis-cli --cluster says it on stdout.
  const { stdout, stderr } = error as { stdout?: unknown; stderr?: unknown };
  const output = [stderr, stdout].filter((part): part is string => typeof part === 'string' && part.trim() !== '');
  if (output.length === 0) return error.message;
  return [error.message.split('\n')[0], ...output.map((part) => part.trim().slice(-2000))].join(': ');
}
