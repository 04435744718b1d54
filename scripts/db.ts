/**
 * Database tasks for every subgraph, or for the ones named:
 *
 *   npm run db:generate [-- <name>...] [--name <migration>]   drizzle-kit: write a migration for schema changes
 *   npm run db:generate -- <name> --rename <table>.<old>=<new> [--rename <old_table>=<new_table>]...
 *                                    the same, renaming in place what drizzle-kit would ask about
 *   npm run db:check    [-- <name>...]   fail if a schema change has no committed migration, or needs a decision
 *   npm run db:migrate  [-- <name>...]   apply pending migrations
 *   npm run db:seed     [-- <name>...] [--scale] [--if-empty] [--reset]
 *   npm run db:republish [-- <name>...]  record the current state as events, for read models elsewhere to catch up
 *
 * Each subgraph's database comes from its `<NAME>_DATABASE_URL`, or the
 * embedded PGlite folder under DATA_DIR when that is unset.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getTableName, is, sql } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import { isTableEmpty, openDatabase, type DatabaseTarget } from '../platform/src/db/database.ts';
import { parseFragments } from '../platform/src/config/fragment.ts';
import { databaseEnv } from '../platform/src/db/env.ts';
import { createLogger } from '../platform/src/logger.ts';
import { configOrExit } from '../platform/src/process.ts';
import { subgraphFiles } from '../platform/src/subgraph/definition.ts';
import { isSubgraphName, loadSubgraph, subgraphs } from '../subgraphs/registry.ts';
import { parseRename, RenameError, writeRenames, type Rename } from './db/renames.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    scale: { type: 'boolean', default: false },
    'if-empty': { type: 'boolean', default: false },
    reset: { type: 'boolean', default: false },
    name: { type: 'string' },
    rename: { type: 'string', multiple: true },
  },
});
const [task, ...names] = positionals;

const unknown = names.filter((name) => !isSubgraphName(name));
if (unknown.length > 0) {
  console.error(`Unknown subgraph: ${unknown.join(', ')}. Known: ${subgraphs.map((s) => s.name).join(', ')}.`);
  process.exit(2);
}
const selected = subgraphs.filter((entry) => names.length === 0 || names.includes(entry.name));
const root = fileURLToPath(new URL('..', import.meta.url));

/** A schema change drizzle-kit cannot turn into a migration on its own; the message says what to do. */
class MigrationError extends Error {}

/**
 * What one drizzle-kit generate run came to. drizzle-kit exits 0 even when
 * it stopped at a question it could not ask (whether a column or table was
 * renamed: through pipes it prints "Interactive prompts require a TTY" and
 * writes nothing), so a run counts as finished only when it said one of its
 * two outcomes and the folder agrees: one new migration, or no changes and
 * no new file. Anything else fails, with drizzle-kit's own output.
 */
type GenerateOutcome = { kind: 'written'; file: string } | { kind: 'unchanged' };

function drizzleKitGenerate(
  name: string,
  /** Absolute. */
  outDir: string,
  { migrationName, custom = false }: { migrationName?: string; custom?: boolean } = {},
): GenerateOutcome {
  const before = sqlFiles(outDir);
  const result = spawnSync(
    'npx',
    [
      'drizzle-kit',
      'generate',
      '--dialect=postgresql',
      `--schema=subgraphs/${name}/src/db/schema.ts`,
      // Relative: drizzle-kit prefixes `--out` with "./".
      `--out=${relative(root, outDir)}`,
      ...(migrationName ? [`--name=${migrationName}`] : []),
      ...(custom ? ['--custom'] : []),
    ],
    // stdin closed, never a terminal: every run is as non-interactive as CI's.
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  const added = sqlFiles(outDir).filter((file) => !before.includes(file));
  if (result.status === 0 && added.length === 1 && /Your SQL migration file/.test(result.stdout))
    return { kind: 'written', file: added[0]! };
  if (result.status === 0 && added.length === 0 && /No schema changes/.test(result.stdout))
    return { kind: 'unchanged' };
  if (/Interactive prompts require a TTY|created or renamed/i.test(output)) {
    throw new MigrationError(
      [
        `${name}: drizzle-kit cannot tell whether a column or table of schema.ts was renamed or dropped and created anew, and no migration was written.`,
        `  A rename: state it, and the migration renames in place, keeping the data:`,
        `    npm run db:generate -- ${name} --rename <table>.<old_column>=<new_column>   (or --rename <old_table>=<new_table>; repeat for each)`,
        `  A drop and a create: make them in two steps, removing the old one and running \`npm run db:generate -- ${name}\`,`,
        `  then adding the new one and running it again.`,
      ].join('\n'),
    );
  }
  throw new MigrationError(
    `${name}: drizzle-kit generate did not finish (exit ${result.status ?? result.signal}, ${added.length} new file(s)):\n${output}`,
  );
}

const sqlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort();

/**
 * Writes into `dir` (a copy of a subgraph's migrations) the migrations
 * schema.ts needs: first, when renames are stated, one that renames in place
 * (renames.ts), then whatever else changed. Returns the new SQL files.
 */
function generateInto(name: string, dir: string, renames: Rename[], migrationName?: string): string[] {
  const before = sqlFiles(dir);
  if (renames.length > 0) {
    const outcome = drizzleKitGenerate(name, dir, { migrationName: migrationName ?? 'renames', custom: true });
    if (outcome.kind !== 'written') throw new MigrationError(`${name}: drizzle-kit wrote no migration to rename in`);
    writeRenames(dir, outcome.file, renames);
  }
  drizzleKitGenerate(name, dir, { migrationName });
  return sqlFiles(dir).filter((file) => !before.includes(file));
}

/** A copy of the subgraph's committed migrations (none yet for a new subgraph), removed after `use`. */
function inScratchCopy<T>(name: string, use: (dir: string) => T): T {
  const scratch = mkdtempSync(join(tmpdir(), `db-${name}-`));
  const migrations = join(root, `subgraphs/${name}/migrations`);
  try {
    if (existsSync(migrations)) cpSync(migrations, scratch, { recursive: true });
    return use(scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  switch (task) {
    case 'generate': {
      let renames: Rename[];
      try {
        renames = (flags.rename ?? []).map(parseRename);
      } catch (error) {
        if (!(error instanceof RenameError)) throw error;
        console.error(error.message);
        return 2;
      }
      if (renames.length > 0 && selected.length !== 1) {
        console.error(
          '--rename needs the one subgraph whose tables it names: npm run db:generate -- <name> --rename ...',
        );
        return 2;
      }
      let failed = 0;
      for (const { name } of selected) {
        try {
          // Generated in a copy and copied back only when drizzle-kit finished: a stopped run leaves nothing half-written.
          const added = inScratchCopy(name, (scratch) => {
            const files = generateInto(name, scratch, renames, flags.name);
            cpSync(scratch, join(root, `subgraphs/${name}/migrations`), { recursive: true });
            return files;
          });
          console.log(
            added.length === 0
              ? `${name}: no schema changes`
              : `${name}: wrote ${added.map((file) => `subgraphs/${name}/migrations/${file}`).join(', ')}`,
          );
        } catch (error) {
          if (!(error instanceof MigrationError || error instanceof RenameError)) throw error;
          failed++;
          console.error(error.message);
        }
      }
      return failed === 0 ? 0 : 1;
    }
    case 'check': {
      // Generated into a copy: any new file, or a run drizzle-kit cannot finish, means the committed migrations lag the schema.
      let stale = 0;
      for (const { name } of selected) {
        try {
          const added = inScratchCopy(name, (scratch) => generateInto(name, scratch, []));
          if (added.length > 0) {
            stale++;
            console.error(
              `${name}: schema.ts has changes without a migration. Run \`npm run db:generate -- ${name}\` and commit the result.`,
            );
          } else {
            console.log(`${name}: migrations match schema.ts`);
          }
        } catch (error) {
          if (!(error instanceof MigrationError)) throw error;
          stale++;
          console.error(error.message);
        }
      }
      return stale === 0 ? 0 : 1;
    }
    case 'migrate':
    case 'seed':
      for (const { name } of selected) {
        const definition = await loadSubgraph(name);
        const database = await openDatabase(databaseTarget(name), definition.tables);
        try {
          if (task === 'migrate') {
            // Logged (JSON) only when another migrator of the database makes this one wait.
            await database.migrate(subgraphFiles(definition).migrationsFolder, {
              logger: createLogger({ service: name }),
            });
            console.log(`${name}: migrated (${database.kind})`);
            continue;
          }
          const size = flags.scale ? 'scale' : 'small';
          if (flags.reset) {
            const tables = Object.values(definition.tables as Record<string, unknown>).filter((value) =>
              is(value, PgTable),
            );
            const names = tables.map((table) => sql.identifier(getTableName(table as PgTable)));
            await database.db.execute(sql`truncate ${sql.join(names, sql`, `)} cascade`);
          } else if (!(await isTableEmpty(database.db, definition.seedTable))) {
            console.log(`${name}: already has data; ${flags['if-empty'] ? 'skipped' : 'pass --reset to replace it'}`);
            continue;
          }
          const started = performance.now();
          await definition.seed(database.db, size);
          await database.db.execute(sql`analyze`);
          console.log(`${name}: seeded ${size} data in ${Math.round(performance.now() - started)} ms`);
        } finally {
          await database.close();
        }
      }
      return 0;
    case 'republish':
      for (const { name } of selected) {
        const definition = await loadSubgraph(name);
        if (!definition.events?.republish) {
          if (names.length > 0) console.log(`${name}: announces no state to republish`);
          continue;
        }
        const database = await openDatabase(databaseTarget(name), definition.tables);
        try {
          const recorded = await definition.events.republish(database.db);
          console.log(`${name}: recorded ${recorded} events in the outbox; the running subgraph publishes them`);
        } finally {
          await database.close();
        }
      }
      return 0;
    default:
      console.error(
        'Usage: tsx scripts/db.ts <generate|check|migrate|seed|republish> [subgraph...] [--name <migration>] [--rename <table>.<old>=<new>] [--scale] [--if-empty] [--reset]',
      );
      return 2;
  }
}

/**
 * The subgraph's database as the subgraph opens it, but without the serving
 * sessions' timeouts: seeding and republishing are an operator's runs, not
 * requests. A bad variable prints what is wrong and exits 2.
 */
function databaseTarget(name: string): DatabaseTarget {
  const target = configOrExit(() => parseFragments({ database: databaseEnv(name) })).options.database;
  return target.kind === 'postgres' ? { ...target, statementTimeoutMs: 0, idleInTransactionTimeoutMs: 0 } : target;
}

process.exitCode = await main();
