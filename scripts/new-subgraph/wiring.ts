import ts from 'typescript';
import { isMap, isScalar, isSeq, parseDocument, visit, type Pair, type YAMLMap } from 'yaml';
import { metricsPortFrom } from '../../platform/src/metrics.ts';
import type { SubgraphNames } from './names.ts';

/**
 * Edits to the files outside the new subgraph's folder that list every
 * subgraph. Each edit finds its place by the file's structure (a TypeScript
 * or YAML syntax tree where there is one) and throws a `WiringError` naming
 * the file when that structure is not there, before anything is written.
 */

export class WiringError extends Error {
  override name = 'WiringError';
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}. Update scripts/new-subgraph/wiring.ts to match the file.`);
  }
}

export interface FileEdit {
  path: string;
  /** What the edit adds, for the summary the scaffold prints. */
  adds: string;
  apply(text: string): string;
}

export interface RegisteredSubgraph {
  name: string;
  port: number;
}

const registryPath = 'subgraphs/registry.ts';

/** The port after the highest one taken. */
export function nextFreePort(registered: readonly RegisteredSubgraph[]): number {
  return Math.max(...registered.map((entry) => entry.port)) + 1;
}

export function fileEdits(names: SubgraphNames, port: number, registered: readonly RegisteredSubgraph[]): FileEdit[] {
  const { name, type } = names;
  return [
    {
      path: registryPath,
      adds: `{ name: '${name}', port: ${port} }`,
      apply: (text) => {
        const list = registryList(text);
        return appendToLiteral(text, list, `{ name: '${name}', port: ${port} }`);
      },
    },
    {
      path: 'codegen.ts',
      adds: `resolver mappers for ${type} and ${type}Connection`,
      apply: (text) => {
        const source = parseTypeScript('codegen.ts', text);
        const mappers = objectLiteral(source, 'codegen.ts', 'mappers');
        return appendToLiteral(
          text,
          mappers,
          `${name}: {
    ${type}: '../db/schema.ts#${type}Row',
    ${type}Connection: '../../../../platform/src/graphql/pagination.ts#Connection<${type}Row>',
  }`,
        );
      },
    },
    {
      path: 'test/subgraph-contract.int.test.ts',
      adds: `a seeded ${type} for the _entities check`,
      apply: (text) => {
        const path = 'test/subgraph-contract.int.test.ts';
        // Each edit is made on a fresh tree, since the one before moved every later position.
        let next = appendToLiteral(
          text,
          objectLiteral(parseTypeScript(path, text), path, 'owners'),
          `${type}: '${name}'`,
        );
        next = appendToLiteral(
          next,
          objectLiteral(parseTypeScript(path, next), path, 'seededEntities'),
          `${type}: seed${type}(0)`,
        );
        // With the other imports from the parent folder, if there are any.
        const imports = parseTypeScript(path, next).statements.filter(ts.isImportDeclaration);
        const fromParent = imports.filter((node) => (node.moduleSpecifier as ts.StringLiteral).text.startsWith('../'));
        const after = fromParent.at(-1) ?? imports.at(-1);
        if (!after) throw new WiringError(path, 'found no import declarations');
        return insertAt(next, after.getEnd(), `\nimport { seed${type} } from '../subgraphs/${name}/src/seed.ts';`);
      },
    },
    {
      path: 'docker-compose.yml',
      adds: `the ${name} service, its database URL, and the router's dependency on it`,
      apply: (text) =>
        addComposeService(
          text,
          names,
          port,
          registered.map((entry) => entry.name),
        ),
    },
    {
      path: prometheusPath,
      adds: `${name}:${metricsPortFrom(undefined, true, port - 4000)} to the subgraphs Prometheus scrapes`,
      // Its metrics port in production, where compose runs it.
      apply: (text) => addScrapeTarget(text, name, metricsPortFrom(undefined, true, port - 4000)),
    },
    {
      path: 'docker/postgres/create-databases.sql',
      adds: `CREATE DATABASE ${name};`,
      apply: (text) => {
        const last = [...text.matchAll(/^CREATE DATABASE \w+;$/gm)].at(-1);
        if (!last)
          throw new WiringError('docker/postgres/create-databases.sql', 'found no `CREATE DATABASE <name>;` line');
        return insertAt(text, last.index + last[0].length, `\nCREATE DATABASE ${name};`);
      },
    },
    {
      path: 'Dockerfile',
      adds: `port ${port} to EXPOSE`,
      apply: (text) => {
        const expose = /^EXPOSE .*$/m.exec(text);
        if (!expose) throw new WiringError('Dockerfile', 'found no EXPOSE line');
        return insertAt(text, expose.index + expose[0].length, ` ${port}`);
      },
    },
    {
      path: 'README.md',
      adds: 'a row in the subgraph table, the architecture diagram, the port range',
      apply: (text) => addToReadme(text, names, port),
    },
  ];
}

// TypeScript: entries are added to array and object literals found by variable name.

function parseTypeScript(path: string, text: string): ts.SourceFile {
  return ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
}

type Literal = ts.ArrayLiteralExpression | ts.ObjectLiteralExpression;

/** The literal a top-level `const <variable> = …` holds, looking through `as` and `satisfies`. */
function literalOf(source: ts.SourceFile, variable: string): Literal | undefined {
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      if (!ts.isIdentifier(declaration.name) || declaration.name.text !== variable) continue;
      let value = declaration.initializer;
      while (value && (ts.isAsExpression(value) || ts.isSatisfiesExpression(value))) value = value.expression;
      if (value && (ts.isArrayLiteralExpression(value) || ts.isObjectLiteralExpression(value))) return value;
    }
  }
  return undefined;
}

function objectLiteral(source: ts.SourceFile, path: string, variable: string): ts.ObjectLiteralExpression {
  const literal = literalOf(source, variable);
  if (!literal || !ts.isObjectLiteralExpression(literal)) {
    throw new WiringError(path, `found no top-level \`const ${variable} = { … }\``);
  }
  return literal;
}

function registryList(text: string): ts.ArrayLiteralExpression {
  const literal = literalOf(parseTypeScript(registryPath, text), 'subgraphs');
  if (!literal || !ts.isArrayLiteralExpression(literal)) {
    throw new WiringError(registryPath, 'found no top-level `const subgraphs = [ … ]`');
  }
  return literal;
}

/** The subgraphs in the registry, read from its syntax tree, the way the edit sees them. */
export function readRegistry(text: string): RegisteredSubgraph[] {
  const entries = registryList(text).elements.map((element) => {
    const property = (key: string) =>
      ts.isObjectLiteralExpression(element)
        ? element.properties.find(
            (candidate): candidate is ts.PropertyAssignment =>
              ts.isPropertyAssignment(candidate) && ts.isIdentifier(candidate.name) && candidate.name.text === key,
          )?.initializer
        : undefined;
    const name = property('name');
    const port = property('port');
    if (!name || !ts.isStringLiteral(name) || !port || !ts.isNumericLiteral(port)) {
      throw new WiringError(registryPath, `the entry \`${element.getText()}\` is not \`{ name: '…', port: … }\``);
    }
    return { name: name.text, port: Number(port.text) };
  });
  if (entries.length === 0) throw new WiringError(registryPath, 'lists no subgraphs');
  return entries;
}

/** Adds an entry after the last one, on a line of its own; prettier lays it out afterwards. */
function appendToLiteral(text: string, literal: Literal, entry: string): string {
  const items = ts.isArrayLiteralExpression(literal) ? literal.elements : literal.properties;
  const last = items.at(-1);
  if (!last) return insertAt(text, literal.getStart() + 1, `\n${entry},\n`);
  if (!items.hasTrailingComma) return insertAt(text, last.getEnd(), `,\n${entry}`);
  return insertAt(text, text.indexOf(',', last.getEnd()) + 1, `\n${entry},`);
}

function insertAt(text: string, offset: number, insertion: string): string {
  return text.slice(0, offset) + insertion + text.slice(offset);
}

// YAML: the service is written as text in the file's own layout, at places found in the
// parsed document, so comments, anchors and quoting elsewhere stay exactly as they were.

const composePath = 'docker-compose.yml';

function addComposeService(
  text: string,
  { name, envPrefix }: SubgraphNames,
  port: number,
  subgraphs: readonly string[],
): string {
  const document = parseDocument(text, { merge: true });
  if (document.errors.length > 0) throw new WiringError(composePath, `does not parse: ${document.errors[0]!.message}`);
  const anchors = new Set<string>();
  visit(document, {
    Node: (_, node) => {
      if (node.anchor) anchors.add(node.anchor);
    },
  });
  for (const anchor of ['subgraph', 'subgraph-environment', 'healthcheck-timing']) {
    if (!anchors.has(anchor)) throw new WiringError(composePath, `has no &${anchor} anchor to build the service on`);
  }

  const map = (node: unknown, what: string): YAMLMap => {
    if (!isMap(node)) throw new WiringError(composePath, `has no ${what} mapping`);
    return node;
  };
  const databaseUrls = map(document.get('x-database-urls'), 'x-database-urls');
  const services = map(document.get('services'), 'services');
  const router = map(services.get('router'), 'services.router');
  const routerEnvironment = map(router.get('environment'), 'services.router.environment');
  const routerDependencies = map(router.get('depends_on'), 'services.router.depends_on');

  const lastUrl = databaseUrls.items.at(-1);
  const lastSubgraphUrl = routerEnvironment.items.filter((pair) => keyOf(pair).endsWith('_SUBGRAPH_URL')).at(-1);
  // After the last subgraph's service, so the subgraphs stay together and the router last.
  const lastService = services.items.filter((pair) => subgraphs.includes(keyOf(pair))).at(-1);
  const lastDependency = routerDependencies.items.at(-1);
  if (!lastUrl || !isScalar(lastUrl.value) || typeof lastUrl.value.value !== 'string') {
    throw new WiringError(composePath, 'x-database-urls has no URL to follow');
  }
  if (!lastSubgraphUrl) throw new WiringError(composePath, 'the router has no <NAME>_SUBGRAPH_URL to follow');
  if (!lastService) throw new WiringError(composePath, 'has a service for none of the registered subgraphs');
  if (!lastDependency) throw new WiringError(composePath, 'the router has no depends_on entry to follow');

  // The same URL as the others (user, password and host included), on this subgraph's database.
  const databaseUrl = lastUrl.value.value.replace(/\/\w+$/, `/${name}`);
  if (databaseUrl === lastUrl.value.value)
    throw new WiringError(composePath, 'the last database URL ends in no /<database>');

  const indent = (pair: Pair) => ' '.repeat(column(text, rangeOf(pair.key)[0]));
  const service = indent(lastService);
  const inService = service + '  ';
  const healthcheck = `fetch('http://127.0.0.1:${port}/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;
  const insertions = [
    {
      after: lastUrl,
      text: `${indent(lastUrl)}${envPrefix}_DATABASE_URL: &${name}-db ${databaseUrl}\n`,
    },
    {
      after: lastService,
      text: [
        '',
        `${service}${name}:`,
        `${inService}<<: *subgraph`,
        `${inService}command: ['node', '--import', 'tsx', 'subgraphs/serve.ts', '${name}']`,
        `${inService}environment:`,
        `${inService}  <<: *subgraph-environment`,
        `${inService}  ${envPrefix}_PORT: ${port}`,
        `${inService}  ${envPrefix}_DATABASE_URL: *${name}-db`,
        `${inService}healthcheck:`,
        `${inService}  test: ['CMD', 'node', '-e', "${healthcheck}"]`,
        `${inService}  <<: *healthcheck-timing`,
        '',
      ].join('\n'),
    },
    {
      after: lastSubgraphUrl,
      text: `${indent(lastSubgraphUrl)}${envPrefix}_SUBGRAPH_URL: http://${name}:${port}/graphql\n`,
    },
    {
      after: lastDependency,
      text: `${indent(lastDependency)}${name}:\n${indent(lastDependency)}  condition: service_healthy\n`,
    },
  ];
  // From the end of the file backwards, so every offset still points where it did.
  let edited = text;
  for (const { after, text: insertion } of insertions.sort((a, b) => endOf(text, b.after) - endOf(text, a.after))) {
    edited = insertAt(edited, endOf(text, after), insertion);
  }

  const check = parseDocument(edited, { merge: true });
  const added = check.toJS({ maxAliasCount: -1 }) as { services?: Record<string, { environment?: object }> };
  if (check.errors.length > 0 || !added.services?.[name]?.environment) {
    throw new WiringError(composePath, `the edit did not produce a valid ${name} service`);
  }
  return edited;
}

function keyOf(pair: Pair): string {
  return isScalar(pair.key) ? String(pair.key.value) : '';
}

function rangeOf(node: unknown): [number, number, number] {
  const range = (node as { range?: [number, number, number] | null }).range;
  if (!range) throw new WiringError(composePath, 'a node has no source position');
  return range;
}

/** The start of the line after a pair's value, where a sibling pair can go. */
function endOf(text: string, pair: Pair): number {
  const valueEnd = rangeOf(pair.value)[1];
  const newline = text.indexOf('\n', valueEnd - 1);
  return newline === -1 ? text.length : newline + 1;
}

function column(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

// Prometheus: the subgraph's address joins the targets of the `subgraphs` scrape job.

const prometheusPath = 'docker/prometheus/prometheus.yml';

function addScrapeTarget(text: string, name: string, port: number): string {
  const targetsOf = (document: ReturnType<typeof parseDocument>) => {
    const jobs = document.get('scrape_configs');
    const job = isSeq(jobs) ? jobs.items.find((item) => isMap(item) && item.get('job_name') === 'subgraphs') : null;
    const targets = isMap(job) ? job.getIn(['static_configs', 0, 'targets'], true) : null;
    return isSeq(targets) ? targets : null;
  };
  const document = parseDocument(text, { merge: true });
  const last = targetsOf(document)?.items.at(-1);
  if (document.errors.length > 0 || !isScalar(last) || !last.range)
    throw new WiringError(prometheusPath, 'has no `subgraphs` scrape job with a list of targets to follow');
  // On the line after the last target, indented as it is (its dash stands two columns before its value).
  const lineAfter = text.indexOf('\n', last.range[1]) + 1 || text.length;
  const edited = insertAt(text, lineAfter, `${' '.repeat(column(text, last.range[0]) - 2)}- ${name}:${port}\n`);
  const targets = targetsOf(parseDocument(edited, { merge: true }))?.toJSON() as unknown[] | undefined;
  if (!targets?.includes(`${name}:${port}`))
    throw new WiringError(prometheusPath, `the edit did not add ${name}:${port} to the subgraphs job`);
  return edited;
}

// README: the subgraph table, the architecture diagram and the documented port range.

function addToReadme(text: string, { name, type, one, many }: SubgraphNames, port: number): string {
  const path = 'README.md';
  const lines = text.split('\n');
  const find = (pattern: RegExp, what: string) => {
    const index = lines.findLastIndex((line) => pattern.test(line));
    if (index === -1) throw new WiringError(path, `found no ${what}`);
    return index;
  };

  const header = find(/^\| Subgraph\s+\|/, 'table headed `| Subgraph |`');
  let lastRow = header;
  while (lines[lastRow + 1]?.startsWith('|')) lastRow++;
  const row = `| ${name} | \`${type}\` (\`@key id\`): name, createdAt; \`${one}(id)\`, \`${many}\` with cursors | |`;

  const routes = find(/^\s*router -->\|HTTP\| /, 'diagram line `router -->|HTTP| …`');
  const database = find(/^\s*(\w+) --> \1db\[\(\1\)\]$/, 'diagram line `<name> --> <name>db[(<name>)]`');
  const indent = /^\s*/.exec(lines[database]!)![0];

  const ports = find(/^\| `<NAME>_PORT`/, 'configuration row for `<NAME>_PORT`');
  const range = /(\d+)–(\d+)/.exec(lines[ports]!);
  if (!range) throw new WiringError(path, 'the `<NAME>_PORT` row gives no port range like 4001–4005');

  lines[routes] += ` & ${name}`;
  lines[ports] = lines[ports]!.replace(range[0], `${range[1]}–${Math.max(Number(range[2]), port)}`);
  // Later lines first, so the earlier indexes still hold.
  const additions = [
    { after: lastRow, line: row },
    { after: database, line: `${indent}${name} --> ${name}db[(${name})]` },
  ].sort((a, b) => b.after - a.after);
  for (const { after, line } of additions) lines.splice(after + 1, 0, line);
  return lines.join('\n');
}
