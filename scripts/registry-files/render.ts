import { envPrefix } from '../../platform/src/config.ts';
import { metricsPortFrom } from '../../platform/src/metrics.ts';
import type { SubgraphManifest } from '../../subgraphs/registry.ts';
import { subgraphManifests } from './kubernetes.ts';

/**
 * The parts of shared files that list every subgraph, rendered from the
 * registry and each subgraph's manifest. Everything else in those files is
 * written by hand: a generated part sits between a pair of marker comments,
 * `generated:subgraphs:<block>` and `end generated:subgraphs:<block>`, in the
 * file's own comment syntax, and the Dockerfile's `EXPOSE` line is rewritten
 * whole. A file that lost its markers (or its `EXPOSE`) stops the run with a
 * `RegistryFileError` naming the file, before anything is written.
 */

export interface RegisteredSubgraph {
  name: string;
  port: number;
  manifest: SubgraphManifest;
}

export class RegistryFileError extends Error {
  override name = 'RegistryFileError';
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
  }
}

/** A file with generated parts: how to rewrite its current text for the registered subgraphs. */
export interface RegistryFile {
  path: string;
  render(text: string, subgraphs: readonly RegisteredSubgraph[]): string;
}

/** ROUTER_PORT's default (router/src/config.ts); subgraph ports follow it. */
const routerPort = 4000;

export const registryFiles: readonly RegistryFile[] = [
  {
    path: 'docker-compose.yml',
    render: (text, subgraphs) => {
      const path = 'docker-compose.yml';
      let next = fillBlock(path, text, '#', 'database-urls', (indent) =>
        subgraphs.map(
          ({ name }) =>
            `${indent}${envPrefix(name)}_DATABASE_URL: &${name}-db postgres://shop:\${POSTGRES_PASSWORD:-shop}@postgres:5432/${name}`,
        ),
      );
      next = fillBlock(path, next, '#', 'services', (indent) =>
        subgraphs.flatMap(({ name, port }) => {
          const prefix = envPrefix(name);
          const healthcheck = `fetch('http://127.0.0.1:${port}/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;
          return [
            `${indent}${name}:`,
            `${indent}  <<: *subgraph`,
            `${indent}  command: ['node', 'subgraphs/serve.js', '${name}']`,
            `${indent}  environment:`,
            `${indent}    <<: *subgraph-environment`,
            `${indent}    ${prefix}_PORT: ${port}`,
            `${indent}    ${prefix}_DATABASE_URL: *${name}-db`,
            `${indent}  healthcheck:`,
            `${indent}    test: ['CMD', 'node', '-e', "${healthcheck}"]`,
            `${indent}    <<: *healthcheck-timing`,
            '',
          ];
        }),
      );
      next = fillBlock(path, next, '#', 'subgraph-urls', (indent) =>
        subgraphs.map(({ name, port }) => `${indent}${envPrefix(name)}_SUBGRAPH_URL: http://${name}:${port}/graphql`),
      );
      return fillBlock(path, next, '#', 'router-depends-on', (indent) =>
        subgraphs.flatMap(({ name }) => [`${indent}${name}:`, `${indent}  condition: service_healthy`]),
      );
    },
  },
  {
    path: 'docker/prometheus/prometheus.yml',
    // Each subgraph's metrics port in production, where compose runs it.
    render: (text, subgraphs) =>
      fillBlock('docker/prometheus/prometheus.yml', text, '#', 'targets', (indent) =>
        subgraphs.map(({ name, port }) => `${indent}- ${name}:${metricsPortFrom(undefined, true, port - routerPort)}`),
      ),
  },
  {
    path: 'docker/postgres/create-databases.sql',
    render: (text, subgraphs) =>
      fillBlock('docker/postgres/create-databases.sql', text, '--', 'databases', (indent) =>
        subgraphs.map(({ name }) => `${indent}CREATE DATABASE ${name};`),
      ),
  },
  {
    path: 'deploy/k8s/base/kustomization.yaml',
    render: (text, subgraphs) =>
      fillBlock('deploy/k8s/base/kustomization.yaml', text, '#', 'files', (indent) =>
        subgraphs.map(({ name }) => `${indent}- ${subgraphFiles[0]!.pathOf(name).replace('deploy/k8s/base/', '')}`),
      ),
  },
  {
    path: 'deploy/k8s/base/router.yaml',
    // Each subgraph through its Service (subgraphFiles below).
    render: (text, subgraphs) =>
      fillBlock('deploy/k8s/base/router.yaml', text, '#', 'subgraph-urls', (indent) =>
        subgraphs.flatMap(({ name, port }) => [
          `${indent}- name: ${envPrefix(name)}_SUBGRAPH_URL`,
          `${indent}  value: http://${name}:${port}/graphql`,
        ]),
      ),
  },
  {
    path: 'deploy/k8s/overlays/development/create-databases.sql',
    render: (text, subgraphs) =>
      fillBlock('deploy/k8s/overlays/development/create-databases.sql', text, '--', 'databases', (indent) =>
        subgraphs.map(({ name }) => `${indent}CREATE DATABASE ${name};`),
      ),
  },
  {
    path: 'deploy/k8s/README.md',
    // The commands that create the Secret of the subgraphs' database URLs, for production and for development.
    render: (text, subgraphs) => {
      const path = 'deploy/k8s/README.md';
      const secret = (url: (name: string) => string) => [
        '```sh',
        'kubectl create secret generic shop-graph-databases --namespace "$NS" \\',
        ...subgraphs.map(
          ({ name }, index) =>
            `  --from-literal=${envPrefix(name)}_DATABASE_URL=${url(name)}${index < subgraphs.length - 1 ? ' \\' : ''}`,
        ),
        '```',
      ];
      const next = fillBlock(path, text, '<!--', 'database-secret', () =>
        secret((name) => `'postgres://${name}:PASSWORD@postgres.internal:5432/${name}'`),
      );
      return fillBlock(path, next, '<!--', 'development-database-secret', () =>
        secret((name) => `"postgres://shop:$PGPASSWORD@postgres:5432/${name}"`),
      );
    },
  },
  {
    path: 'Dockerfile',
    render: (text, subgraphs) => {
      const expose = /^EXPOSE .*$/m.exec(text);
      if (!expose) throw new RegistryFileError('Dockerfile', 'found no EXPOSE line');
      const ports = [routerPort, ...subgraphs.map(({ port }) => port)];
      return text.slice(0, expose.index) + `EXPOSE ${ports.join(' ')}` + text.slice(expose.index + expose[0].length);
    },
  },
  {
    path: 'README.md',
    render: (text, subgraphs) => {
      const path = 'README.md';
      const names = subgraphs.map(({ name }) => name);
      const next = fillBlock(path, text, '%%', 'diagram', (indent) => [
        `${indent}router -->|HTTP| ${names.join(' & ')}`,
        ...names.map((name) => `${indent}${name} --> ${name}db[(${name})]`),
      ]);
      return fillBlock(path, next, '<!--', 'table', () => [
        '',
        '| Subgraph | Port | Owns | Adds to other types |',
        '| --- | --- | --- | --- |',
        ...subgraphs.map(
          ({ name, port, manifest }) =>
            `| ${name} | ${port} | ${manifest.readme.owns} | ${manifest.readme.addsToOtherTypes} |`,
        ),
        '',
      ]);
    },
  },
];

/** A file of each subgraph's own, written whole: a new subgraph gets its file, and every such file is drift-checked. */
export interface SubgraphFile {
  pathOf(name: string): string;
  render(subgraph: RegisteredSubgraph): string;
}

export const subgraphFiles: readonly SubgraphFile[] = [
  {
    pathOf: (name) => `deploy/k8s/base/subgraphs/${name}.yaml`,
    render: (subgraph) => subgraphManifests(subgraph, routerPort),
  },
];

/**
 * Replaces the lines between a block's two marker lines with `lines`, given
 * the end marker's indentation (the begin marker may end a line of its own,
 * where prettier puts a comment that opens a YAML mapping). The markers stay,
 * so the next run finds them again.
 */
function fillBlock(
  path: string,
  text: string,
  comment: '#' | '--' | '%%' | '<!--',
  block: string,
  lines: (indent: string) => string[],
): string {
  const close = comment === '<!--' ? ' -->' : '';
  const escaped = comment.replace(/[-/\\^$*+?.()|[\]{}]/g, '\\$&');
  const begin = new RegExp(`^.*${escaped} generated:subgraphs:${block}\\b.*$`, 'm').exec(text);
  const end = new RegExp(`^([ \\t]*)${escaped} end generated:subgraphs:${block}\\b.*$`, 'm').exec(text);
  if (!begin || !end || end.index < begin.index) {
    throw new RegistryFileError(
      path,
      `found no \`${comment} generated:subgraphs:${block}${close}\` … \`${comment} end generated:subgraphs:${block}${close}\` marker lines around the generated part`,
    );
  }
  const from = begin.index + begin[0].length + 1;
  return (
    text.slice(0, from) +
    lines(end[1]!)
      .map((line) => `${line}\n`)
      .join('') +
    text.slice(end.index)
  );
}
