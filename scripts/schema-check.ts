/**
 * `npm run schema:check [-- --base <git-ref>] [--json | --markdown] [--strict]`
 *
 * Checks the working tree's subgraph schemas against a base (default: the
 * merge base with main): composition, the API-schema diff, which known
 * client operations break, and deprecations they still use. Exits 1 when
 * the change fails.
 *
 * With no `--base` on main itself (or without a main to branch from) and no
 * uncommitted schema change, there is nothing to compare: it says so, still
 * checks that the subgraphs compose, and exits 0, since a merged change was
 * checked on its branch and CI on main must not fail for having no diff.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  checkSchemaChange,
  type KnownOperation,
  type SchemaCheckReport,
} from '../platform/src/composition/schema-check.ts';
import type { SubgraphSource } from '../platform/src/composition/compose.ts';
import { localRoutingUrl, schemaFileOf, subgraphs } from '../subgraphs/registry.ts';
import { readSubgraphSources } from './supergraph-files.ts';

const { values: flags } = parseArgs({
  options: {
    base: { type: 'string' },
    json: { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
  },
});

const root = process.cwd();
const git = (...args: string[]) =>
  execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

/**
 * The merge base with main, or null when there is none: no `main` nor
 * `origin/main` to branch from (a shallow or detached clone).
 */
function defaultBase(): string | null {
  for (const branch of ['main', 'origin/main']) {
    try {
      return git('merge-base', 'HEAD', branch);
    } catch {
      // try the next
    }
  }
  return null;
}

const mergeBase = flags.base ?? defaultBase();
// Without a merge base, HEAD is the only thing to compare the working tree with.
const base = mergeBase ?? 'HEAD';
const baseSources: SubgraphSource[] = subgraphs.flatMap(({ name, port }) => {
  const path = relative(root, schemaFileOf(name).pathname);
  try {
    return [
      { name, url: localRoutingUrl(port), sdl: git('show', `${base}:${path}`), path: `${base.slice(0, 12)}:${path}` },
    ];
  } catch {
    return []; // a subgraph the base does not have yet
  }
});
const proposedSources = await readSubgraphSources(
  subgraphs.map(({ name, port }) => ({ name, port, schemaFile: schemaFileOf(name) })),
);

/**
 * Why there is nothing to compare, when there is not: no base was given,
 * the default one is HEAD itself (on main, or a branch with no commits of
 * its own) or there is none, and the working tree changes no schema. The
 * check would compare HEAD with itself and pass having looked at nothing;
 * it says so instead. Composition is still checked.
 */
function nothingToCompare(): string | null {
  if (flags.base !== undefined) return null;
  let head: string;
  try {
    head = git('rev-parse', 'HEAD');
  } catch {
    return 'there is no commit to compare with yet';
  }
  if (mergeBase !== null && mergeBase !== head) return null;
  // Trimmed: `git` answers without the file's last newline.
  const unchanged =
    baseSources.length === proposedSources.length &&
    proposedSources.every(
      (proposed) => baseSources.find((source) => source.name === proposed.name)?.sdl.trim() === proposed.sdl.trim(),
    );
  if (!unchanged) return null;
  return mergeBase === null
    ? 'there is no main or origin/main to take a merge base from, and no subgraph schema has uncommitted changes'
    : 'HEAD is the merge base with main (this is main, or a branch with no commits of its own), and no subgraph schema has uncommitted changes';
}

const noBase = nothingToCompare();

const report = await checkSchemaChange({
  base: baseSources,
  proposed: proposedSources,
  operations: knownOperations(),
  strict: flags.strict,
});

if (flags.json)
  console.log(
    JSON.stringify({ base, compared: noBase === null, ...(noBase ? { note: noBase } : {}), ...report }, null, 2),
  );
else if (flags.markdown) console.log(markdown(report));
else console.log(text(report));
process.exitCode = report.ok ? 0 : 1;

function knownOperations(): KnownOperation[] {
  const operations: KnownOperation[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== '__generated__') walk(path);
      else if (entry.name.endsWith('.graphql'))
        operations.push({ source: relative(root, path), document: readFileSync(path, 'utf8') });
    }
  };
  if (existsSync('operations')) walk(join(root, 'operations'));
  const manifest = 'operations/__generated__/persisted-documents.json';
  const current = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, string>) : {};
  for (const [id, document] of Object.entries(current))
    operations.push({ source: `${manifest}#${id.replace(/^sha256:/, '').slice(0, 12)}`, document });
  // The clients already deployed were built from the base's manifest: an operation this change
  // rewrites is still sent, in its old form, by every client that has not updated.
  for (const [id, document] of Object.entries(baseManifest(manifest))) {
    if (Object.hasOwn(current, id)) continue;
    operations.push({
      source: `${base.slice(0, 12)}:${manifest}#${id.replace(/^sha256:/, '').slice(0, 12)}`,
      document,
    });
  }
  return operations;
}

function baseManifest(path: string): Record<string, string> {
  try {
    return JSON.parse(git('show', `${base}:${path}`)) as Record<string, string>;
  } catch {
    return {}; // the base has no manifest yet
  }
}

function verdict(report: SchemaCheckReport): string {
  if (!report.composition.ok) return 'FAIL: the subgraphs do not compose';
  if (noBase)
    return `NOTHING COMPARED: ${noBase}. The subgraphs compose; pass --base <ref> (a release tag, HEAD~1) to check changes since it`;
  if (report.brokenOperations.length > 0) return `FAIL: ${report.brokenOperations.length} known operation(s) break`;
  if (!report.ok) return 'FAIL: breaking changes (strict)';
  return 'PASS';
}

function text(report: SchemaCheckReport): string {
  const lines = [`schema check against ${base.slice(0, 12)}: ${verdict(report)}`, ''];
  if (!report.composition.ok) {
    lines.push(...report.composition.errors.flatMap((error) => [error, '']));
    return lines.join('\n');
  }
  lines.push(`API schema changes: ${report.changes.length}`);
  for (const change of report.changes) {
    const mark = change.level === 'breaking' ? '✖' : change.level === 'dangerous' ? '!' : '✔';
    const note = change.level === 'breaking' && change.safeForKnownClients ? ' (no known operation uses it)' : '';
    lines.push(`  ${mark} ${change.level}: ${change.message}${note}`);
  }
  if (report.brokenOperations.length > 0) {
    lines.push('', 'Known operations that break:');
    for (const { operations, errors } of report.brokenOperations)
      lines.push(...errors.map((error) => `  ✖ ${operations.join(', ')}: ${error}`));
  }
  if (report.newlyDeprecatedInUse.length > 0) {
    lines.push('', 'Deprecated by this change and still used:');
    for (const { field, reason, usedBy } of report.newlyDeprecatedInUse)
      lines.push(`  ! ${field}${reason ? ` (${reason})` : ''}: ${usedBy.join(', ')}`);
  }
  return lines.join('\n');
}

function markdown(report: SchemaCheckReport): string {
  const lines = [`### Schema check: ${verdict(report)}`, '', `Base: \`${base.slice(0, 12)}\``, ''];
  if (!report.composition.ok) {
    lines.push(
      '**Composition errors**',
      '',
      ...report.composition.errors.map((error) => `\`\`\`text\n${error}\n\`\`\``),
    );
    return lines.join('\n');
  }
  if (report.changes.length > 0) {
    lines.push('| level | change | known clients |', '| --- | --- | --- |');
    for (const change of report.changes)
      lines.push(
        `| ${change.level} | ${change.message.replaceAll('|', '\\|')} | ${change.level === 'breaking' ? (change.safeForKnownClients ? 'unaffected' : '**affected**') : ''} |`,
      );
  } else lines.push('No API schema changes.');
  if (report.brokenOperations.length > 0) {
    lines.push('', '**Known operations that break**', '');
    for (const { operations, errors } of report.brokenOperations)
      lines.push(...errors.map((error) => `- **${operations.join(', ')}**: \`${error}\``));
  }
  if (report.newlyDeprecatedInUse.length > 0) {
    lines.push('', '**Deprecated and still used**', '');
    for (const { field, usedBy } of report.newlyDeprecatedInUse) lines.push(`- \`${field}\`: ${usedBy.join(', ')}`);
  }
  return lines.join('\n');
}
