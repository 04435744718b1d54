/**
 * `npm run bench:streaming`: what `@defer` buys a client, as the time to
 * its first payload. The product page (`ProductPage`) against the same page
 * with rating and reviews deferred (`ProductPageDeferred`), through our
 * router on the shop graph, with every request to the reviews subgraph held
 * back by a delaying proxy (50 ms by default). Requests go one at a time,
 * so each figure is one request's latency, not a throughput. See the
 * "Streaming" section of docs/benchmarks.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kind, parse, print, type EnumTypeDefinitionNode, type ValueNode } from 'graphql';
import { composeSupergraph } from '../platform/src/composition/compose.ts';
import { schemaFileOf, subgraphs } from '../subgraphs/registry.ts';
import { startDelayingProxy } from '../test/support/delaying-proxy.ts';
import { freePorts } from '../test/support/processes.ts';
import { contenders } from './contenders/index.ts';
import { waitForGraphQL } from './lib/graphql.ts';
import { describeMachine } from './lib/machine.ts';
import { runSibling, summary } from './lib/sibling.ts';
import { choosePlacement, onCleanup, pinSelf, repoRoot, startProcess } from './lib/processes.ts';
import { TokenPool } from './lib/tokens.ts';
import { startShopGraph } from './shop/graph.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

const usage = `Usage: npm run bench:streaming -- [options]

Time to the first payload of the deferred product page (ProductPageDeferred),
against the whole page (ProductPage), through our router (RESPONSE_CACHE=off)
on the shop graph, with every request to the reviews subgraph delayed.

  --requests <n>     measured requests of each kind, one at a time (default 200)
  --delay-ms <ms>    delay added to every reviews subgraph request (default 50)
  --no-write-docs    print the table only; leave docs/benchmarks.md as it is
  --help             this text
`;

/** Unmeasured requests of each kind before the measured ones: JIT, plan cache, connection pools. */
const warmupRequests = 50;
/** The shop seed the page is read from; the full bench's (`npm run bench`) default. */
const shopSize = 'scale';
const deferAccept = 'multipart/mixed;deferSpec=20220824, application/json';
const jsonAccept = 'application/json';

interface StreamingOptions {
  requests: number;
  delayMs: number;
  writeDocs: boolean;
}

function parseOptions(argv: string[]): StreamingOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      'delay-ms': { type: 'string' },
      'no-write-docs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const requests = Number(values.requests ?? 200);
  if (!Number.isInteger(requests) || requests <= 0)
    throw new Error(`--requests: expected a positive integer, got ${values.requests}`);
  const delayMs = Number(values['delay-ms'] ?? 50);
  if (!Number.isFinite(delayMs) || delayMs < 0)
    throw new Error(`--delay-ms: expected a number of milliseconds ≥ 0, got ${values['delay-ms']}`);
  return { requests, delayMs, writeDocs: !values['no-write-docs'] };
}

// ---------------------------------------------------------------------------
// The supergraph with the reviews subgraph behind the proxy
// ---------------------------------------------------------------------------

/** Each subgraph's URL as the supergraph records it (`join__Graph`). */
function subgraphUrlsOf(supergraphSdl: string): Record<string, string> {
  const graphs = parse(supergraphSdl).definitions.find(
    (definition): definition is EnumTypeDefinitionNode =>
      definition.kind === Kind.ENUM_TYPE_DEFINITION && definition.name.value === 'join__Graph',
  );
  const stringArgument = (value: ValueNode | undefined) => (value?.kind === Kind.STRING ? value.value : undefined);
  const urls: Record<string, string> = {};
  for (const value of graphs?.values ?? []) {
    const directive = value.directives?.find((each) => each.name.value === 'join__graph');
    const argument = (name: string) =>
      stringArgument(directive?.arguments?.find((each) => each.name.value === name)?.value);
    const name = argument('name');
    const url = argument('url');
    if (name && url) urls[name] = url;
  }
  return urls;
}

/** The shop's supergraph, composed again with `reviews` at `reviewsUrl`; written next to the original. */
function composeWithReviewsAt(originalPath: string, reviewsUrl: string): string {
  const urls = subgraphUrlsOf(readFileSync(originalPath, 'utf8'));
  const outcome = composeSupergraph(
    subgraphs.map(({ name }) => {
      const url = name === 'reviews' ? reviewsUrl : urls[name];
      if (!url) throw new Error(`the shop supergraph records no URL for ${name}`);
      return { name, url, sdl: readFileSync(schemaFileOf(name), 'utf8') };
    }),
  );
  if (!outcome.ok) throw new Error(`shop subgraphs do not compose:\n${outcome.errors.join('\n')}`);
  if (subgraphUrlsOf(outcome.supergraphSdl).reviews !== reviewsUrl)
    throw new Error('the composed supergraph does not route reviews through the proxy');
  const path = originalPath.replace(/\.graphql$/, '-reviews-delayed.graphql');
  writeFileSync(path, outcome.supergraphSdl);
  return path;
}

// ---------------------------------------------------------------------------
// Requests, timed as their body arrives
// ---------------------------------------------------------------------------

interface Timed {
  status: number;
  contentType: string;
  body: string;
  /** From sending the request to the end of the response body. */
  endMs: number;
  /** Multipart answers: to the end of the first complete part (the first payload); null if none was seen. */
  firstPartMs: number | null;
}

type Json = Record<string, unknown>;

/** The multipart delimiter for `content-type`'s boundary (the router's is `-`, so `\r\n---`). */
function delimiterOf(contentType: string): string {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1] ?? '-';
  return `\r\n--${boundary}`;
}

function countOccurrences(haystack: Buffer, needle: Buffer, atMost: number): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1 && count < atMost; at = haystack.indexOf(needle, at + 1)) count++;
  return count;
}

class Client {
  /** One keep-alive connection, reused by every request in turn. */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly port: number) {}

  post(body: string, headers: Record<string, string>): Promise<Timed> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          path: '/graphql',
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
        },
        (response) => {
          const contentType = response.headers['content-type'] ?? '';
          const delimiter = contentType.startsWith('multipart/mixed') ? Buffer.from(delimiterOf(contentType)) : null;
          const chunks: Buffer[] = [];
          let firstPartMs: number | null = null;
          response.on('data', (chunk: Buffer) => {
            const at = performance.now();
            chunks.push(chunk);
            // The first part is complete once the delimiter after it has arrived (the first delimiter opens it).
            if (delimiter && firstPartMs === null && countOccurrences(Buffer.concat(chunks), delimiter, 2) >= 2)
              firstPartMs = at - started;
          });
          response.on('end', () => {
            const endMs = performance.now() - started;
            resolve({
              status: response.statusCode ?? 0,
              contentType,
              body: Buffer.concat(chunks).toString('utf8'),
              endMs,
              firstPartMs,
            });
          });
          response.on('error', reject);
        },
      );
      request.setTimeout(30_000, () => request.destroy(new Error('no answer in 30 s')));
      request.on('error', reject);
      request.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The JSON of each part of a multipart answer, in order. */
function multipartPayloads({ body, contentType }: Pick<Timed, 'body' | 'contentType'>): Json[] {
  const delimiter = delimiterOf(contentType);
  // Between two delimiters: a part (headers, blank line, JSON). Before the first: the preamble; after the last: `--`.
  const segments = body.split(delimiter).slice(1, -1);
  return segments.map((segment) => {
    const bodyAt = segment.indexOf('\r\n\r\n');
    if (bodyAt === -1) throw new Error(`a multipart part without a body: ${segment.slice(0, 200)}`);
    return JSON.parse(segment.slice(bodyAt + 4)) as Json;
  });
}

/** The whole page's data, or an error saying what was wrong with the answer. */
function wholeData(answer: Timed): Json {
  if (answer.status !== 200) throw new Error(`ProductPage: HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
  if (!answer.contentType.startsWith('application/json'))
    throw new Error(`ProductPage: answered as ${answer.contentType}, not application/json`);
  const result = JSON.parse(answer.body) as Json;
  if (result.errors) throw new Error(`ProductPage: GraphQL errors: ${JSON.stringify(result.errors).slice(0, 300)}`);
  const data = result.data as Json | null | undefined;
  if (!data?.product) throw new Error(`ProductPage: no product: ${answer.body.slice(0, 300)}`);
  return data;
}

/** The deferred page's payloads, checked to be a real stream: a first payload, then at least one more. */
function deferredPayloads(answer: Timed): Json[] {
  const what = 'ProductPageDeferred';
  if (answer.status !== 200) throw new Error(`${what}: HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
  if (!answer.contentType.startsWith('multipart/mixed'))
    throw new Error(`${what}: answered as ${answer.contentType || 'no content type'}, not in parts`);
  const payloads = multipartPayloads(answer);
  if (payloads.length < 2 || answer.firstPartMs === null)
    throw new Error(`${what}: ${payloads.length} part(s); a deferred page has at least 2`);
  const [first] = payloads;
  if (first!.hasNext !== true) throw new Error(`${what}: the first payload does not announce more`);
  if (payloads.at(-1)!.hasNext !== false) throw new Error(`${what}: the last payload announces more`);
  for (const [index, payload] of payloads.entries()) {
    const errors = [
      ...((payload.errors as unknown[] | undefined) ?? []),
      ...((payload.incremental as Json[] | undefined) ?? []).flatMap((item) => (item.errors as unknown[]) ?? []),
    ];
    if (errors.length > 0)
      throw new Error(`${what}: part ${index + 1} carries errors: ${JSON.stringify(errors).slice(0, 300)}`);
  }
  return payloads;
}

/** The data a client holds once it has applied every payload (`deferSpec=20220824`: items carry their path). */
function mergePayloads(payloads: Json[]): Json {
  const [initial, ...rest] = structuredClone(payloads);
  const data = initial!.data as Json;
  for (const payload of rest)
    for (const item of (payload.incremental as Json[] | undefined) ?? []) {
      let target: unknown = data;
      for (const key of item.path as Array<string | number>)
        target = (target as Record<string | number, unknown> | null)?.[key];
      if (!isObject(target) || !isObject(item.data))
        throw new Error(`a deferred part for ${JSON.stringify(item.path)}, where the client holds no object`);
      deepMerge(target, item.data);
    }
  return data;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(target: Json, source: Json): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isObject(existing) && isObject(value)) deepMerge(existing, value);
    else if (Array.isArray(existing) && Array.isArray(value) && existing.length === value.length)
      value.forEach((element, index) => {
        if (isObject(existing[index]) && isObject(element)) deepMerge(existing[index] as Json, element);
        else existing[index] = element;
      });
    else target[key] = value;
  }
}

/** JSON with every object's keys sorted: equal text, equal data whatever the key order. */
function canonical(value: unknown): string {
  const sorted = (each: unknown): unknown =>
    Array.isArray(each)
      ? each.map(sorted)
      : isObject(each)
        ? Object.fromEntries(
            Object.keys(each)
              .sort()
              .map((key) => [key, sorted(each[key])]),
          )
        : each;
  return JSON.stringify(sorted(value));
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

interface Row {
  request: string;
  until: string;
  samples: number[];
}

interface Facts {
  command: string;
  machine: Awaited<ReturnType<typeof describeMachine>>;
  placement: string;
  options: StreamingOptions;
  productCount: number;
  checkedProduct: string;
  reviewsRequestsPerPage: number;
  wallSeconds: number;
}

function renderReport(rows: Row[], facts: Facts): string {
  const { machine, options } = facts;
  const whole = summary(rows[0]!.samples);
  const first = summary(rows[1]!.samples);
  const ratioToWhole = (ms: number) => `${(ms / whole.p50).toFixed(2)}×`;
  const ms = (value: number) => value.toFixed(1);
  const lines = [
    `Measured ${machine.date} with \`${facts.command}\` (${(facts.wallSeconds / 60).toFixed(1)} min).`,
    '',
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}` +
      (machine.busyBeforeRun === null
        ? '.'
        : `; ${(machine.busyBeforeRun * 100).toFixed(0)} % busy just before the run.`),
    `- Placement: ${facts.placement}.`,
    `- Router: \`ours-nocache\` (response cache off); every request to the reviews subgraph delayed ${options.delayMs} ms ` +
      `(${facts.reviewsRequestsPerPage} per page).`,
    `- Requests: ${options.requests} of each kind, one at a time on one keep-alive connection, the two kinds alternating, ` +
      `after ${warmupRequests} warm-up requests of each; ${facts.productCount} seeded products in turn, each request with a token of its own.`,
    '',
    '| operation | `Accept` | measured until | p50 ms | p90 ms | p99 ms | × full page p50 |',
    '| --- | --- | --- | --: | --: | --: | --: |',
    ...rows.map(({ request, until, samples }) => {
      const { p50, p90, p99 } = summary(samples);
      const accept = request === 'ProductPage' ? jsonAccept : deferAccept;
      return `| \`${request}\` | \`${accept}\` | ${until} | ${ms(p50)} | ${ms(p90)} | ${ms(p99)} | ${ratioToWhole(p50)} |`;
    }),
    '',
    `First payload p50 / full page p50: **${(first.p50 / whole.p50).toFixed(2)}×**. ` +
      `Check: the deferred parts merged equal the full page's data (product \`${facts.checkedProduct}\`) ✓.`,
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

function operationFrom(file: string, name: string): string {
  const document = parse(readFileSync(file, 'utf8'));
  const operation = document.definitions.find(
    (definition) => definition.kind === Kind.OPERATION_DEFINITION && definition.name?.value === name,
  );
  if (!operation) throw new Error(`${file} has no operation ${name}`);
  // Sent alone, as a client (Apollo Client) sends it.
  return print(operation);
}

async function run(options: StreamingOptions, command: string): Promise<{ report: string }> {
  const started = performance.now();
  const machine = await describeMachine();
  const placement = choosePlacement();
  // Before anything starts: children (subgraphs, Postgres) inherit the runner's core.
  if (placement.pinned) pinSelf(placement.supportCore!);
  log(`placement: ${placement.note}`);

  const workDir = mkdtempSync(join(tmpdir(), 'bench-streaming-'));
  onCleanup(async () => rmSync(workDir, { recursive: true, force: true }));

  const tokens = new TokenPool();
  const identitySecret = randomBytes(48).toString('base64url');
  const shop = await startShopGraph({ size: shopSize, core: placement.supportCore, workDir, identitySecret, log });
  log(`shop graph ready (most reviewed product ${shop.ids.productId})`);

  const reviewsUrl = subgraphUrlsOf(readFileSync(shop.supergraphPath, 'utf8')).reviews;
  if (!reviewsUrl) throw new Error('the shop supergraph has no reviews subgraph');
  const proxy = await startDelayingProxy(reviewsUrl, options.delayMs);
  onCleanup(() => proxy.stop());
  const supergraphPath = composeWithReviewsAt(shop.supergraphPath, proxy.url);
  log(`reviews subgraph behind a ${options.delayMs} ms delaying proxy at ${proxy.url}`);

  const [port] = await freePorts(1);
  const launch = contenders['ours-nocache'].launch({
    supergraphPath,
    port: port!,
    jwtSecret: tokens.secret,
    identitySecret,
    signedIn: false,
  });
  const router = startProcess({
    name: 'ours-nocache',
    command: launch.command,
    env: launch.env,
    core: placement.gatewayCore,
    ipc: false,
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  const client = new Client(port!);
  try {
    const readyAt = performance.now();
    // Readiness, the product list and the check's two requests, then the warm-up and the measured ones.
    const callers = await tokens.take(4 + 2 * (warmupRequests + options.requests));
    let nextCaller = 0;
    const authorization = () => {
      const caller = callers[nextCaller++];
      if (!caller) throw new Error('ran out of tokens');
      return { authorization: caller.authorization };
    };
    await waitForGraphQL(url, authorization(), () => !router.hasExited(), 90_000);
    log(`router ready in ${((performance.now() - readyAt) / 1000).toFixed(1)} s (pid ${router.pid})`);

    // The seeded products in turn: the most reviewed first (the one checked), then a page of the catalog.
    const listing = await client.post(JSON.stringify({ query: '{ products(first: 100) { edges { node { id } } } }' }), {
      accept: jsonAccept,
      ...authorization(),
    });
    const listed = (JSON.parse(listing.body) as { data?: { products?: { edges?: Array<{ node: { id: string } }> } } })
      .data?.products?.edges;
    if (listing.status !== 200 || !listed?.length) throw new Error(`could not list products: ${listing.body}`);
    const productIds = [...new Set([shop.ids.productId, ...listed.map((edge) => edge.node.id)])];

    const file = join(repoRoot, 'operations/product/product-page.graphql');
    const wholeQuery = operationFrom(file, 'ProductPage');
    const deferredQuery = operationFrom(file, 'ProductPageDeferred');
    const bodies = (id: string) => ({
      whole: JSON.stringify({ query: wholeQuery, operationName: 'ProductPage', variables: { id } }),
      deferred: JSON.stringify({ query: deferredQuery, operationName: 'ProductPageDeferred', variables: { id } }),
    });
    const whole = (id: string) =>
      client.post(bodies(id).whole, { accept: jsonAccept, ...authorization() }).then((answer) => {
        wholeData(answer);
        return answer;
      });
    const deferred = (id: string) =>
      client.post(bodies(id).deferred, { accept: deferAccept, ...authorization() }).then((answer) => {
        deferredPayloads(answer);
        return answer;
      });

    // Correctness, once: the deferred page, merged, is the full page.
    const checkedProduct = productIds[0]!;
    const forwardedBefore = proxy.forwarded;
    const expected = wholeData(await whole(checkedProduct));
    const reviewsRequestsPerPage = proxy.forwarded - forwardedBefore;
    const payloads = deferredPayloads(await deferred(checkedProduct));
    const firstProduct = (payloads[0]!.data as { product?: Json } | undefined)?.product;
    if (!firstProduct || 'reviews' in firstProduct)
      throw new Error('ProductPageDeferred: the first payload already holds the reviews; nothing was deferred');
    const merged = mergePayloads(payloads);
    if (canonical(merged) !== canonical(expected))
      throw new Error(
        `ProductPageDeferred, merged, differs from ProductPage for product ${checkedProduct}:\n` +
          `  ProductPage:         ${canonical(expected).slice(0, 500)}\n` +
          `  ProductPageDeferred: ${canonical(merged).slice(0, 500)}`,
      );
    if (reviewsRequestsPerPage === 0) throw new Error('the full page made no request through the delaying proxy');
    log(
      `check: ProductPageDeferred (${payloads.length} parts) merged equals ProductPage for product ${checkedProduct}; ` +
        `${reviewsRequestsPerPage} reviews request(s) per page through the proxy`,
    );

    for (let i = 0; i < warmupRequests; i++) {
      const id = productIds[i % productIds.length]!;
      await whole(id);
      await deferred(id);
    }
    log(`warmed up (${warmupRequests} requests of each)`);

    const rows: Row[] = [
      { request: 'ProductPage', until: 'complete body', samples: [] },
      { request: 'ProductPageDeferred', until: 'first payload', samples: [] },
      { request: 'ProductPageDeferred', until: 'last payload', samples: [] },
    ];
    for (let i = 0; i < options.requests; i++) {
      const id = productIds[i % productIds.length]!;
      rows[0]!.samples.push((await whole(id)).endMs);
      const answer = await deferred(id);
      rows[1]!.samples.push(answer.firstPartMs!);
      rows[2]!.samples.push(answer.endMs);
    }
    for (const { request, until, samples } of rows) {
      const { p50, p90, p99 } = summary(samples);
      log(
        `${request.padEnd(20)} ${until.padEnd(14)} p50 ${p50.toFixed(1)} ms  p90 ${p90.toFixed(1)} ms  p99 ${p99.toFixed(1)} ms`,
      );
    }

    const report = renderReport(rows, {
      command,
      machine,
      placement: placement.note,
      options,
      productCount: productIds.length,
      checkedProduct,
      reviewsRequestsPerPage,
      wallSeconds: (performance.now() - started) / 1000,
    });
    return { report };
  } catch (error) {
    const output = router.output().slice(-2_000).trim();
    throw new Error(`${(error as Error).message}${output ? `\nrouter output:\n${output}` : ''}`, { cause: error });
  } finally {
    client.close();
  }
}

await runSibling({ script: 'bench:streaming', usage, parseOptions, run });
