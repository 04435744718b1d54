import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A rename stated on the command line (`db:generate -- <name> --rename …`),
 * for what drizzle-kit can only ask about interactively: whether a column
 * or table that disappeared and another that appeared are one thing
 * renamed. drizzle-kit has no flag for the answer, so the rename is written
 * as a migration of its own, in two parts drizzle-kit reads back: the SQL
 * (`ALTER TABLE … RENAME …`, which keeps the data and lets Postgres carry
 * indexes and constraints over) and the snapshot it diffs the next
 * migration against, renamed the same way. drizzle-kit then sees nothing
 * left to ask.
 */
export type Rename =
  { kind: 'column'; table: string; from: string; to: string } | { kind: 'table'; from: string; to: string };

/** Something wrong in a stated rename; the message says what. */
export class RenameError extends Error {}

const identifier = /^[a-z_][a-z0-9_]*$/;

/** `orders.total_cents=total_amount_cents` (a column) or `orders=purchases` (a table); `->` works as `=`. */
export function parseRename(text: string): Rename {
  const [left, to, extra] = text.split(/\s*(?:=|->)\s*/);
  const parts = left?.split('.') ?? [];
  const names = [...parts, to ?? ''];
  if (extra !== undefined || parts.length < 1 || parts.length > 2 || !names.every((name) => identifier.test(name))) {
    throw new RenameError(
      `--rename ${JSON.stringify(text)}: write <table>.<old_column>=<new_column> or <old_table>=<new_table>, with SQL names (snake_case).`,
    );
  }
  return parts.length === 2
    ? { kind: 'column', table: parts[0]!, from: parts[1]!, to: to! }
    : { kind: 'table', from: parts[0]!, to: to! };
}

interface SnapshotTable {
  name: string;
  columns: Record<string, { name: string } & Record<string, unknown>>;
  indexes: Record<string, { columns: Array<{ expression: string; isExpression: boolean }> }>;
  foreignKeys: Record<string, { tableFrom: string; tableTo: string; columnsFrom: string[]; columnsTo: string[] }>;
  compositePrimaryKeys: Record<string, { columns: string[] }>;
  uniqueConstraints: Record<string, { columns: string[] }>;
  checkConstraints: Record<string, { value: string }>;
}

interface Snapshot {
  tables: Record<string, SnapshotTable>;
}

/**
 * Fills the custom migration `file` that drizzle-kit just prepared in
 * `dir` (its snapshot is the previous schema's) with the renames, and
 * renames the same things in its snapshot.
 */
export function writeRenames(dir: string, file: string, renames: readonly Rename[]): void {
  const snapshotPath = join(dir, 'meta', `${file.split('_')[0]}_snapshot.json`);
  const snapshot = JSON.parse(readFileSync(snapshotPath, 'utf8')) as Snapshot;
  const statements = renames.map((rename) =>
    rename.kind === 'column' ? renameColumn(snapshot, rename) : renameTable(snapshot, rename),
  );
  writeFileSync(snapshotPath, `${JSON.stringify(snapshot, null, 2)}\n`);
  writeFileSync(join(dir, file), `${statements.join('\n--> statement-breakpoint\n')}\n`);
}

function tableOf(snapshot: Snapshot, name: string): SnapshotTable {
  const table = snapshot.tables[`public.${name}`];
  if (!table) {
    const known = Object.values(snapshot.tables).map((candidate) => candidate.name);
    throw new RenameError(`--rename: the last migration has no table "${name}" (it has ${known.join(', ')}).`);
  }
  return table;
}

const renamed = (names: string[], from: string, to: string) => names.map((name) => (name === from ? to : name));

function renameColumn(snapshot: Snapshot, { table: tableName, from, to }: Extract<Rename, { kind: 'column' }>): string {
  const table = tableOf(snapshot, tableName);
  if (!table.columns[from])
    throw new RenameError(
      `--rename: table "${tableName}" has no column "${from}" in the last migration (it has ${Object.keys(table.columns).join(', ')}).`,
    );
  if (table.columns[to]) throw new RenameError(`--rename: table "${tableName}" already has a column "${to}".`);
  // Rebuilt in order, so the snapshot diff shows only the rename.
  table.columns = Object.fromEntries(
    Object.entries(table.columns).map(([key, column]) =>
      key === from ? [to, { ...column, name: to }] : [key, column],
    ),
  );
  for (const index of Object.values(table.indexes))
    for (const column of index.columns) if (!column.isExpression && column.expression === from) column.expression = to;
  for (const key of [...Object.values(table.compositePrimaryKeys), ...Object.values(table.uniqueConstraints)])
    key.columns = renamed(key.columns, from, to);
  for (const check of Object.values(table.checkConstraints))
    check.value = check.value.replaceAll(`"${tableName}"."${from}"`, `"${tableName}"."${to}"`);
  for (const other of Object.values(snapshot.tables)) {
    for (const foreignKey of Object.values(other.foreignKeys)) {
      if (foreignKey.tableFrom === tableName) foreignKey.columnsFrom = renamed(foreignKey.columnsFrom, from, to);
      if (foreignKey.tableTo === tableName) foreignKey.columnsTo = renamed(foreignKey.columnsTo, from, to);
    }
  }
  return `ALTER TABLE "${tableName}" RENAME COLUMN "${from}" TO "${to}";`;
}

function renameTable(snapshot: Snapshot, { from, to }: Extract<Rename, { kind: 'table' }>): string {
  const table = tableOf(snapshot, from);
  if (snapshot.tables[`public.${to}`]) throw new RenameError(`--rename: there is already a table "${to}".`);
  table.name = to;
  snapshot.tables = Object.fromEntries(
    Object.entries(snapshot.tables).map(([key, value]) =>
      key === `public.${from}` ? [`public.${to}`, value] : [key, value],
    ),
  );
  for (const check of Object.values(table.checkConstraints))
    check.value = check.value.replaceAll(`"${from}".`, `"${to}".`);
  for (const other of Object.values(snapshot.tables)) {
    for (const foreignKey of Object.values(other.foreignKeys)) {
      if (foreignKey.tableFrom === from) foreignKey.tableFrom = to;
      if (foreignKey.tableTo === from) foreignKey.tableTo = to;
    }
  }
  return `ALTER TABLE "${from}" RENAME TO "${to}";`;
}
