import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripIgnoredCharacters } from 'graphql';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeFor, startShopGraph, startTestRouter, type ShopGraph } from '../../test/support/shop-graph.ts';
import { defaultQueryLimits } from '../src/plugins/query-limits/index.ts';
import type { RunningRouter } from '../src/router.ts';

// Debian's chromium, driven by playwright-core (no browser download). CI
// installs it (.ci/run) and must not skip; elsewhere a machine without it skips.
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
if (!hasChromium && process.env.CI === 'true') throw new Error(`CI=true but there is no Chromium at ${chromiumPath}`);
// Said aloud, as the test services say when they fall back: a quiet skip would read as a pass.
if (!hasChromium)
  console.warn(
    `No Chromium at ${chromiumPath}: the browser half of this file does not run (apt-get install chromium).`,
  );

/** The first GraphQL example of the README's quick start: what a new user pastes first. */
function readmeQuickStartQuery(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const quickStart = readme.slice(readme.indexOf('## Quick start'));
  const block = /```graphql\n([\s\S]*?)```/.exec(quickStart)?.[1];
  if (!block) throw new Error('README.md has no graphql block in its quick start');
  return block;
}

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

let graph: ShopGraph;

beforeAll(async () => {
  // The router's own limits, as a user who opens the IDE meets them.
  graph = await startShopGraph('ide', { nodeEnv: 'development', limits: defaultQueryLimits });
});

afterAll(async () => {
  await graph?.stop();
});

describe.skipIf(!hasChromium)('GraphiQL in a browser', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Every request the page tried that would leave loopback; each was aborted. */
  const outside: string[] = [];
  /** Uncaught errors in the page, such as a Monaco worker that failed to start. */
  const pageErrors: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-background-networking'],
    });
    context = await browser.newContext();
    // The machine has no internet either way: what is checked is that nothing tries.
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (
        (url.protocol === 'http:' || url.protocol === 'https:') &&
        !loopbackHosts.has(url.host.replace(/:\d+$/, ''))
      ) {
        outside.push(url.toString());
        return route.abort('blockedbyclient');
      }
      return route.continue();
    });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('serves GraphiQL at /graphql, bundled, and runs the README quick-start query', async () => {
    // The first visit bundles GraphiQL (seconds of CPU, more on a busy machine).
    const navigation = await page.goto(graph.router.url, { timeout: 240_000 });
    expect(navigation?.status()).toBe(200);
    expect(navigation?.headers()['content-type']).toMatch(/^text\/html/);
    // The editors are Monaco's: they exist once GraphiQL has rendered.
    const queryEditor = page.locator('.graphiql-query-editor .monaco-editor');
    await queryEditor.waitFor({ timeout: 60_000 });

    // As a user would: select what is there and type the query in.
    await queryEditor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    // One line, comments gone: Monaco's auto-indent and auto-close cannot bend it.
    await page.keyboard.insertText(stripIgnoredCharacters(readmeQuickStartQuery()));
    const answered = page.waitForResponse(
      (response) => response.url() === graph.router.url && response.request().method() === 'POST',
    );
    await page.locator('.graphiql-execute-button').click();
    const response = await answered;
    const body = (await response.json()) as {
      data?: { products?: { totalCount: number; edges: Array<{ node: { sku: string } }> } };
      errors?: unknown[];
    };
    expect(body.errors).toBeUndefined();
    expect(body.data?.products?.edges.length).toBeGreaterThan(0);
    // The result pane shows it.
    const sku = body.data!.products!.edges[0]!.node.sku;
    await expect.poll(() => page.locator('.graphiql-response').innerText(), { timeout: 30_000 }).toContain(sku);
    expect(outside).toEqual([]);
  });

  it('offers the shipped operations and a commented Authorization header', async () => {
    const categories = page.locator('[data-operation="Categories"]');
    await categories.waitFor({ timeout: 30_000 });
    expect(await page.locator('.ide-operation').count()).toBeGreaterThanOrEqual(8);
    await categories.click();
    // Monaco renders spaces as no-break spaces.
    await expect
      .poll(async () => (await page.locator('.graphiql-query-editor').innerText()).replace(/\u00a0/g, ' '), {
        timeout: 30_000,
      })
      .toContain('query Categories');
    const answered = page.waitForResponse(
      (response) => response.url() === graph.router.url && response.request().method() === 'POST',
    );
    await page.locator('.graphiql-execute-button').click();
    const body = (await (await answered).json()) as { data?: { categories?: unknown[] }; errors?: unknown[] };
    expect(body.errors).toBeUndefined();
    expect(body.data?.categories?.length).toBeGreaterThan(0);

    await page.getByRole('button', { name: 'Headers' }).click();
    await expect
      .poll(() => page.locator('.graphiql-editor-tool').innerText(), { timeout: 30_000 })
      .toContain('Authorization');
    expect(outside).toEqual([]);
    // The guard is not vacuous: a request to a documentation address (TEST-NET-1) is caught and aborted.
    const outcome = await page.evaluate(() =>
      fetch('http://192.0.2.1/probe').then(
        () => 'answered',
        () => 'aborted',
      ),
    );
    expect(outcome).toBe('aborted');
    expect(outside).toEqual(['http://192.0.2.1/probe']);
  });
});

describe('GraphiQL in production', () => {
  let production: RunningRouter;
  let workdir: string;

  beforeAll(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'ide-'));
    const supergraphPath = join(workdir, 'supergraph.graphql');
    await writeFile(supergraphPath, composeFor(graph.subgraphs));
    production = await startTestRouter(supergraphPath, { nodeEnv: 'production' });
  });

  afterAll(async () => {
    await production?.stop();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it('serves no IDE and no page that loads anything to a browser', async () => {
    const response = await fetch(production.url, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    const text = await response.text();
    expect(response.headers.get('content-type')).not.toMatch(/text\/html/);
    expect(text).not.toMatch(/<script|<html|graphiql|sandbox/i);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });

  it('still serves GraphiQL outside production on the same graph', async () => {
    // The same request to the development router, on the same subgraphs, gets the page: the check above is not vacuous.
    const response = await fetch(graph.router.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('id="graphiql"');
  });
});
