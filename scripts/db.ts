/**
 * Database tasks for every subgraph, or for the ones named:
 *
 *   npm run db:generate [-- <name>...] [--name <migration>]   drizzle-kit: write a migration for schema changes
 *   npm run db:check    [-- <name>...]   fail if a schema change has no committed migration
 *   npm run db:migrate  [-- <name>...]   apply pending migrations
 *   npm run db:seed     [-- <name>...] [--scale] [--if-empty] [--reset]
 *   npm run db:republish [-- <name>...]  record the current state as events, for read models elsewhere to catch up
 *
 * Each subgraph's database comes from its `<NAME>_DATABASE_URL`, or the
 * embedded PGlite folder under DATA_DIR when that is unset.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getTableName, is, sql } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import { isTableEmpty, openDatabase } from '../platform/src/db/database.ts';
import { subgraphConfigFromEnv } from '../platform/src/subgraph/config.ts';
import { subgraphFiles } from '../platform/src/subgraph/definition.ts';
import { isSubgraphName, loadSubgraph, subgraphs } from '../subgraphs/registry.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    scale: { type: 'boolean', default: false },
    'if-empty': { type: 'boolean', default: false },
    reset: { type: 'boolean', default: false },
    name: { type: 'string' },
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

function drizzleKitGenerate(name: string, outDir: string, migrationName?: string): string {
  const result = spawnSync(
    'npx',
    [
      'drizzle-kit',
      'generate',
      '--dialect=postgresql',
      `--schema=subgraphs/${name}/src/db/schema.ts`,
      `--out=${outDir}`,
      ...(migrationName ? [`--name=${migrationName}`] : []),
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (result.status !== 0)
    throw new Error(`drizzle-kit generate failed for ${name}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

const sqlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort();

async function main(): Promise<number> {
  switch (task) {
    case 'generate':
      for (const { name } of selected) {
        process.stdout.write(
          `${name}: ${drizzleKitGenerate(name, `subgraphs/${name}/migrations`, flags.name).trim().split('\n').at(-1)}\n`,
        );
      }
      return 0;
    case 'check': {
      // Generate into a copy: any new file means the committed migrations lag the schema.
      let stale = 0;
      for (const { name } of selected) {
        const scratch = mkdtempSync(join(tmpdir(), `db-check-${name}-`));
        try {
          cpSync(join(root, `subgraphs/${name}/migrations`), scratch, { recursive: true });
          const before = sqlFiles(scratch);
          // Relative: drizzle-kit prefixes `--out` with "./".
          drizzleKitGenerate(name, relative(root, scratch));
          const added = sqlFiles(scratch).filter((file) => !before.includes(file));
          if (added.length > 0) {
            stale++;
            console.error(
              `${name}: schema.ts has changes without a migration. Run \`npm run db:generate -- ${name}\` and commit the result.`,
            );
          } else {
            console.log(`${name}: migrations match schema.ts`);
          }
        } finally {
          rmSync(scratch, { recursive: true, force: true });
        }
      }
      return stale === 0 ? 0 : 1;
    }
    case 'migrate':
    case 'seed':
      for (const { name, port } of selected) {
        const definition = await loadSubgraph(name);
        const config = subgraphConfigFromEnv(name, port);
        const database = await openDatabase(config.database, definition.tables);
        try {
          if (task === 'migrate') {
            await database.migrate(subgraphFiles(definition).migrationsFolder);
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
      for (const { name, port } of selected) {
        const definition = await loadSubgraph(name);
        if (!definition.events?.republish) {
          if (names.length > 0) console.log(`${name}: announces no state to republish`);
          continue;
        }
        const database = await openDatabase(subgraphConfigFromEnv(name, port).database, definition.tables);
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
        'Usage: tsx scripts/db.ts <generate|check|migrate|seed|republish> [subgraph...] [--scale] [--if-empty] [--reset]',
      );
      return 2;
  }
}

process.exitCode = await main();
