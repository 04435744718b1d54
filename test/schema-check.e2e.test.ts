import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SchemaCheckReport } from '../platform/src/composition/schema-check.ts';
import { copyRepository, type RepositoryCopy } from './support/repository-copy.ts';

/**
 * `npm run schema:check` the way a subgraph owner runs it: a branch off
 * main in a real git repository, a schema edit, and the command with its
 * default base (the merge base with main). Each scenario asserts the exit
 * code and the report a reviewer would read.
 */

const products = 'subgraphs/products/schema.graphql';
const inventory = 'subgraphs/inventory/schema.graphql';

let repo: RepositoryCopy;

beforeAll(async () => {
  repo = await copyRepository();
  await repo.git('checkout', '-q', '-b', 'schema-change');
});

afterAll(() => repo?.remove());

beforeEach(async () => {
  await repo.git('checkout', '-q', '--', '.');
});

async function schemaCheck(...flags: string[]) {
  const json = await repo.npm('schema:check', ['--json', ...flags]);
  expect(json.stderr).not.toMatch(/Error:/);
  return { exitCode: json.exitCode, report: JSON.parse(json.stdout) as SchemaCheckReport & { base: string } };
}

describe('npm run schema:check on a branch', () => {
  it('fails when a field a known operation selects is removed, naming the operation and where it selects it', async () => {
    repo.edit(products, /\n {2}description: String!/, '');
    await repo.git('commit', '-qam', 'drop Product.description');

    const { exitCode, report } = await schemaCheck();
    expect(exitCode).toBe(1);
    expect(report.base).toBe(await repo.git('rev-parse', 'main'));
    expect(report.changes).toContainEqual(
      expect.objectContaining({ level: 'breaking', path: 'Product.description', safeForKnownClients: false }),
    );
    expect(report.brokenOperations).toContainEqual({
      source: 'operations/product/product-page.graphql',
      operations: ['ProductPage', 'ProductPageDeferred', 'ProductReviews'],
      // Once for each operation that selects it.
      errors: [
        expect.stringMatching(/^operations\/product\/product-page\.graphql:\d+:\d+: .*"description"/),
        expect.stringMatching(/^operations\/product\/product-page\.graphql:\d+:\d+: .*"description"/),
      ],
    });

    const text = await repo.npm('schema:check');
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toMatch(/FAIL: \d+ known operation\(s\) break/);
    expect(text.stdout).toMatch(
      /✖ ProductPage, ProductPageDeferred, ProductReviews: operations\/product\/product-page\.graphql:\d+:\d+/,
    );

    const markdown = await repo.npm('schema:check', ['--markdown']);
    expect(markdown.stdout).toMatch(/^### Schema check: FAIL/);
    expect(markdown.stdout).toContain('| breaking |');

    await repo.git('reset', '-q', '--hard', 'main');
  });

  it('passes a removed field no known operation selects as safe for known clients, and fails it with --strict', async () => {
    repo.edit(products, '\n  createdAt: DateTime!\n', '\n');

    const { exitCode, report } = await schemaCheck();
    expect(report.changes.filter((change) => change.level === 'breaking')).toEqual([
      expect.objectContaining({ level: 'breaking', path: 'Product.createdAt', safeForKnownClients: true }),
    ]);
    expect(report.brokenOperations).toEqual([]);
    expect(exitCode).toBe(0);

    const strict = await schemaCheck('--strict');
    expect(strict.exitCode).toBe(1);
    expect((await repo.npm('schema:check')).stdout).toContain('(no known operation uses it)');
  });

  it('fails a change that does not compose, naming the subgraph file, the line and the field', async () => {
    repo.edit(inventory, /(type Product @key\(fields: "id"\)[^{]*\{)/, '$1\n  name: Int');

    const { exitCode, report } = await schemaCheck();
    expect(exitCode).toBe(1);
    expect(report.composition.ok).toBe(false);
    expect(report.composition.diagnostics).toContainEqual(
      expect.objectContaining({
        code: 'FIELD_TYPE_MISMATCH',
        locations: [
          expect.objectContaining({ path: inventory, line: expect.any(Number) }),
          expect.objectContaining({ path: products }),
        ],
        help: expect.stringContaining('same type'),
      }),
    );

    const text = await repo.npm('schema:check');
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toContain('error[FIELD_TYPE_MISMATCH]: Type of field "Product.name" is incompatible');
    expect(text.stdout).toMatch(new RegExp(`--> ${inventory}:\\d+:3\\n.*\\n\\d+ \\|   name: Int\\n`));
    expect(text.stdout).toContain('= help:');
  });

  it('reports a syntax error with the subgraph and position', async () => {
    repo.edit(products, '  sku: String!', '  sku String!');
    const text = await repo.npm('schema:check');
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toMatch(/error\[INVALID_GRAPHQL\]: \[products\] Syntax Error/);
    expect(text.stdout).toMatch(new RegExp(`--> ${products}:\\d+:\\d+`));
  });

  it('calls a new nullable field safe', async () => {
    repo.edit(products, '  weightGrams: Int!', '  weightGrams: Int!\n  "Country of origin."\n  origin: String');

    const { exitCode, report } = await schemaCheck('--strict');
    expect(exitCode).toBe(0);
    expect(report.changes).toContainEqual(expect.objectContaining({ level: 'safe', path: 'Product.origin' }));
    expect(report.changes.every((change) => change.level === 'safe')).toBe(true);
  });

  it('lists a field deprecated by the change that known operations still use, without failing', async () => {
    repo.edit(products, /\n {2}sku: String!/, '\n  sku: String! @deprecated(reason: "Use id.")');

    const { exitCode, report } = await schemaCheck();
    expect(exitCode).toBe(0);
    expect(report.newlyDeprecatedInUse).toEqual([
      expect.objectContaining({
        field: 'Product.sku',
        reason: 'Use id.',
        usedBy: expect.arrayContaining(['operations/catalog/catalog-page.graphql']),
      }),
    ]);
  });

  it('shows in the operations report when a change makes a public catalog query private, and codegen:check fails until it is regenerated', async () => {
    repo.edit(products, '  slug: String!', '  slug: String! @cacheControl(scope: PRIVATE)');
    expect((await repo.npm('compose')).exitCode).toBe(0);

    const stale = await repo.npm('codegen:check');
    expect(stale.exitCode).not.toBe(0);
    expect(stale.stdout + stale.stderr).toContain('schema/operations.json');

    expect((await repo.npm('codegen')).exitCode).toBe(0);
    const diff = await repo.git('diff', '--', 'schema/operations.json', 'schema/operations.md');
    expect(diff).toMatch(/^-.*"scope": "PUBLIC"/m);
    expect(diff).toMatch(/^\+.*"scope": "PRIVATE"/m);
    expect(diff).toMatch(/^\+\| `Categories` .*\| 3600 s, private \|/m);
    expect((await repo.npm('codegen:check')).exitCode).toBe(0);
  });

  it('counts the operations deployed clients still send: the base manifest, even when the branch rewrites them', async () => {
    // The branch stops asking for the description and removes it in the same change.
    repo.edit('operations/product/product-page.graphql', /\n {4}description/g, '');
    expect((await repo.npm('codegen')).exitCode).toBe(0);
    repo.edit(products, /\n {2}description: String!/, '');

    const { exitCode, report } = await schemaCheck();
    expect(exitCode).toBe(1);
    // One entry per deployed document, each named by its hash in the base manifest.
    expect(report.brokenOperations).toEqual(
      ['ProductPage', 'ProductPageDeferred'].map((name) =>
        expect.objectContaining({
          source: expect.stringMatching(/^[0-9a-f]{12}:operations\/__generated__\/persisted-documents\.json#/),
          operations: [name],
        }),
      ),
    );
  });

  it('checks against the base it is given', async () => {
    repo.edit(products, '\n  createdAt: DateTime!\n', '\n');
    await repo.git('commit', '-qam', 'drop Product.createdAt');
    const head = await repo.git('rev-parse', 'HEAD');

    // Against main the removal shows; against the branch's own head nothing changed.
    expect((await schemaCheck()).report.changes).toContainEqual(expect.objectContaining({ path: 'Product.createdAt' }));
    expect((await schemaCheck('--base', head)).report).toMatchObject({ ok: true, changes: [], base: head });

    await repo.git('reset', '-q', '--hard', 'main');
  });

  // Five runs of the command, each starting tsx: minutes on a busy machine.
  it(
    'says there is nothing to compare on main itself, instead of comparing HEAD with itself',
    { timeout: 300_000 },
    async () => {
      await repo.git('checkout', '-q', 'main');
      try {
        const text = await repo.npm('schema:check');
        // CI on main stays green: the merged change was checked on its branch, and the subgraphs still compose.
        expect(text.exitCode).toBe(0);
        expect(text.stdout).toMatch(/NOTHING COMPARED: HEAD is the merge base with main/);
        expect(text.stdout).toContain('--base <ref>');
        expect(text.stdout).not.toMatch(/: PASS/);
        const { exitCode, report } = await schemaCheck();
        expect(exitCode).toBe(0);
        expect(report).toMatchObject({ compared: false, note: expect.stringContaining('merge base'), changes: [] });

        // An uncommitted change on main is still something to compare with HEAD.
        repo.edit(products, '\n  createdAt: DateTime!\n', '\n');
        const uncommitted = await schemaCheck();
        expect(uncommitted.report).toMatchObject({ compared: true });
        expect(uncommitted.report.changes).toContainEqual(expect.objectContaining({ path: 'Product.createdAt' }));

        // So is a base given explicitly, even HEAD.
        await repo.git('checkout', '-q', '--', '.');
        expect((await schemaCheck('--base', 'HEAD')).report).toMatchObject({ compared: true, ok: true });
      } finally {
        await repo.git('checkout', '-q', '--', '.');
        await repo.git('checkout', '-q', 'schema-change');
      }
    },
  );
});
