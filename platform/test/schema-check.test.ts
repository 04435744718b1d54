import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSchemaChange, type KnownOperation } from '../src/composition/schema-check.ts';
import { localRoutingUrl, schemaFileOf, subgraphs } from '../../subgraphs/registry.ts';

/** The pull-request check on the shop's real schemas and the operations the frontend ships. */

const current = subgraphs.map(({ name, port }) => ({
  name,
  url: localRoutingUrl(port),
  sdl: readFileSync(schemaFileOf(name), 'utf8'),
}));

const operations: KnownOperation[] = [
  'catalog/catalog-page',
  'catalog/categories',
  'product/product-page',
  'account/order-history',
].map((file) => ({
  source: `operations/${file}.graphql`,
  document: readFileSync(`operations/${file}.graphql`, 'utf8'),
}));

/** The shop with one subgraph's SDL edited. */
function withProducts(edit: (sdl: string) => string) {
  return current.map((source) => (source.name === 'products' ? { ...source, sdl: edit(source.sdl) } : source));
}

function replaceOnce(sdl: string, from: string, to: string) {
  expect(sdl).toContain(from);
  return sdl.replace(from, to);
}

describe('schema check', () => {
  it('passes an unchanged graph', async () => {
    const report = await checkSchemaChange({ base: current, proposed: current, operations });
    expect(report).toMatchObject({ ok: true, changes: [], brokenOperations: [] });
  });

  it('fails a removed field that a known operation selects, naming the operation and the field', async () => {
    const proposed = withProducts((sdl) => replaceOnce(sdl, '  description: String!\n', ''));
    const report = await checkSchemaChange({ base: current, proposed, operations });
    expect(report.ok).toBe(false);
    expect(report.changes).toContainEqual(
      expect.objectContaining({ level: 'breaking', path: 'Product.description', safeForKnownClients: false }),
    );
    expect(report.brokenOperations).toEqual([
      {
        source: 'operations/product/product-page.graphql',
        operations: ['ProductPage', 'ProductPageDeferred', 'ProductReviews'],
        // Once for each operation that selects it.
        errors: [
          expect.stringMatching(/^operations\/product\/product-page\.graphql:\d+:\d+: .*"description"/),
          expect.stringMatching(/^operations\/product\/product-page\.graphql:\d+:\d+: .*"description"/),
        ],
      },
    ]);
  });

  it('passes a breaking change no known operation uses, unless strict', async () => {
    const proposed = withProducts((sdl) => replaceOnce(sdl, '  createdAt: DateTime!\n', ''));
    const report = await checkSchemaChange({ base: current, proposed, operations });
    expect(report.ok).toBe(true);
    expect(report.changes).toContainEqual(
      expect.objectContaining({ level: 'breaking', path: 'Product.createdAt', safeForKnownClients: true }),
    );
    expect((await checkSchemaChange({ base: current, proposed, operations, strict: true })).ok).toBe(false);
  });

  it('reports a change that does not compose, naming the subgraph', async () => {
    const proposed = withProducts((sdl) => replaceOnce(sdl, '@key(fields: "sku")', '@key(fields: "barcode")'));
    const report = await checkSchemaChange({ base: current, proposed, operations });
    expect(report.ok).toBe(false);
    expect(report.composition.ok).toBe(false);
    expect(report.composition.errors.join('\n')).toMatch(/products/);
    expect(report.composition.errors.join('\n')).toMatch(/barcode/);
  });

  it('calls a new nullable field safe', async () => {
    const proposed = withProducts((sdl) =>
      replaceOnce(sdl, '  description: String!\n', '  description: String!\n  subtitle: String\n'),
    );
    const report = await checkSchemaChange({ base: current, proposed, operations });
    expect(report.ok).toBe(true);
    expect(report.changes).toEqual([expect.objectContaining({ level: 'safe', path: 'Product.subtitle' })]);
  });

  it('lists fields deprecated by the change that known operations still use', async () => {
    const proposed = withProducts((sdl) =>
      replaceOnce(sdl, '  sku: String!\n', '  sku: String! @deprecated(reason: "Use id.")\n'),
    );
    const report = await checkSchemaChange({ base: current, proposed, operations });
    expect(report.ok).toBe(true);
    expect(report.newlyDeprecatedInUse).toEqual([
      {
        field: 'Product.sku',
        reason: 'Use id.',
        usedBy: expect.arrayContaining([
          'operations/catalog/catalog-page.graphql',
          'operations/product/product-page.graphql',
        ]),
      },
    ]);
  });
});
