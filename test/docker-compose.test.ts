import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { envPrefix } from '../platform/src/config.ts';
import { defaultMetricsPort, metricsPortFrom } from '../platform/src/metrics.ts';
import { subgraphConfigFromEnv } from '../platform/src/subgraph/config.ts';
import { subgraphs } from '../subgraphs/registry.ts';

/**
 * docker-compose.yml is written by hand for people to run, except the parts
 * that list every subgraph, which `npm run registry-files` generates from
 * subgraphs/registry.ts; this checks what both say, so a subgraph cannot be
 * in the graph and missing or miswired in the production-like stack. The
 * routers run behind nginx (docker/nginx/nginx.conf), read here for what
 * streams and subscriptions need of it.
 */

interface Service {
  image?: string;
  profiles?: string[];
  volumes?: string[];
  command?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  deploy?: { replicas?: number };
  container_name?: string;
}

const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const createdDatabases = [
  ...readFileSync(new URL('../docker/postgres/create-databases.sql', import.meta.url), 'utf8').matchAll(
    /CREATE DATABASE (\w+);/g,
  ),
].map((match) => match[1]);

/** The services Prometheus scrapes, as `host:port`, by job. */
const prometheus = parse(readFileSync(new URL('../docker/prometheus/prometheus.yml', import.meta.url), 'utf8'), {
  merge: true,
}) as {
  rule_files: string[];
  scrape_configs: Array<{
    job_name: string;
    static_configs?: Array<{ targets: string[] }>;
    dns_sd_configs?: Array<{ names: string[]; type: string; port: number }>;
    relabel_configs?: Array<Record<string, unknown>>;
  }>;
};
const scrapeJob = (job: string) => prometheus.scrape_configs.find((config) => config.job_name === job);
const scrapeTargets = (job: string) => scrapeJob(job)?.static_configs?.flatMap((config) => config.targets) ?? [];

/** One nginx directive: its name, its arguments, and the directives inside if it opens a block. */
interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

/** Enough of nginx's grammar to read what a config does: words, quoted strings, `;`, blocks and `#` comments. */
function parseNginx(text: string): Directive[] {
  const root: Directive[] = [];
  const open = [root];
  let words: string[] = [];
  for (const [token, single, double, punctuation] of text.matchAll(
    /#[^\n]*|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{};])|[^\s{};'"]+/g,
  )) {
    if (token.startsWith('#')) continue;
    if (punctuation === undefined) {
      words.push(single ?? double ?? token);
      continue;
    }
    const [name = '', ...args] = words;
    words = [];
    if (punctuation === '}') open.pop();
    else if (punctuation === ';') open.at(-1)!.push({ name, args });
    else {
      const block: Directive[] = [];
      open.at(-1)!.push({ name, args, block });
      open.push(block);
    }
  }
  return root;
}

/** The directives named `name` in `directives`, each with `args` first in its arguments. */
const directivesOf = (directives: readonly Directive[], name: string, ...args: string[]) =>
  directives.filter((directive) => directive.name === name && args.every((arg, i) => directive.args[i] === arg));
/** The one directive named `name` (with `args` first) in `directives`; none, or several, is a failure naming it. */
function only(directives: readonly Directive[], name: string, ...args: string[]): Directive {
  const found = directivesOf(directives, name, ...args);
  if (found.length !== 1)
    throw new Error(
      `docker/nginx/nginx.conf: expected one \`${[name, ...args].join(' ')}\` here, found ${found.length}`,
    );
  return found[0]!;
}
const blockOf = (directives: readonly Directive[], name: string, ...args: string[]) =>
  only(directives, name, ...args).block ?? [];
const argsOf = (directives: readonly Directive[], name: string, ...args: string[]) =>
  only(directives, name, ...args).args;
/** Every directive in `directives` and in the blocks they open. */
const everyDirective = (directives: readonly Directive[]): Directive[] =>
  directives.flatMap((directive) => [directive, ...everyDirective(directive.block ?? [])]);
/** An nginx time (`90`, `30s`, `5m`, `1h`) in seconds. */
function seconds(time: string): number {
  const [, amount, unit = 's'] = /^(\d+)(ms|s|m|h|d)?$/.exec(time) ?? [];
  return Number(amount) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
}

const nginx = parseNginx(readFileSync(new URL('../docker/nginx/nginx.conf', import.meta.url), 'utf8'));
const http = blockOf(nginx, 'http');
const server = blockOf(http, 'server');
const graphqlLocation = blockOf(server, 'location', '=', '/graphql');
const locations = directivesOf(server, 'location');

describe('docker-compose.yml', () => {
  it('has Postgres, Redis, the migrate step, the router and its balancer', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['postgres', 'redis', 'migrate', 'router', 'balancer']),
    );
    // The image's build (dist/ over /app), run by plain Node.
    expect(compose.services.router!.command).toEqual(['node', '--max-semi-space-size=64', 'router/src/main.js']);
    expect(compose.services.router!.environment?.REDIS_URL).toBe('redis://redis:6379');
    expect(compose.services.router!.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:4000/health/ready');
  });

  it('runs two router replicas, publishing no port, behind the balancer, which alone publishes 4000', () => {
    const { router, balancer } = compose.services;
    // Replicas of one service: Docker's DNS names them all `router`, for nginx and Prometheus.
    expect(router!.deploy?.replicas).toBe(2);
    expect(router!.container_name).toBeUndefined();
    expect(router!.ports).toBeUndefined();
    expect(balancer!.ports).toEqual(['4000:4000']);
    // Everything else publishes nothing, or on localhost only.
    for (const [name, service] of Object.entries(compose.services))
      if (name !== 'balancer') for (const port of service.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:/);
    expect(balancer!.volumes).toContain('./docker/nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(balancer!.depends_on?.router).toEqual({ condition: 'service_healthy' });
    expect(balancer!.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:4000/health/ready');
  });

  it("has nginx 1.27.3 or later balance the replicas, re-resolving `router` through Docker's DNS", () => {
    // The first open-source nginx with `resolve` in an upstream.
    const [, ...version] = /^nginx:(\d+)\.(\d+)(?:\.(\d+))?-alpine$/.exec(compose.services.balancer!.image ?? '') ?? [];
    const [major, minor, patch] = [0, 1, 2].map((i) => Number(version[i] ?? 0)) as [number, number, number];
    expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(1_027_003);
    expect(argsOf(server, 'listen')).toEqual(['4000']);
    const resolver = argsOf(http, 'resolver');
    expect(resolver[0]).toBe('127.0.0.11');
    expect(resolver).toContainEqual(expect.stringMatching(/^valid=\d+s$/));
    const upstream = blockOf(http, 'upstream', 'routers');
    expect(argsOf(upstream, 'server')).toEqual(['router:4000', 'resolve']);
    // `resolve` needs the group in shared memory.
    expect(directivesOf(upstream, 'zone')).toHaveLength(1);
    // Connections to the routers kept open, closed before the routers' own 65 s (platform/src/http/server.ts).
    expect(Number(argsOf(upstream, 'keepalive')[0])).toBeGreaterThan(0);
    expect(seconds(argsOf(upstream, 'keepalive_timeout')[0]!)).toBeLessThan(65);
    expect(locations.length).toBeGreaterThan(0);
    for (const location of locations)
      expect(argsOf(location.block!, 'proxy_pass'), location.args.join(' ')).toEqual(['http://routers']);
  });

  it('has the balancer speak HTTP/1.1 to the routers and pass WebSocket upgrades on /graphql', () => {
    expect(argsOf(server, 'proxy_http_version')).toEqual(['1.1']);
    expect(argsOf(server, 'proxy_set_header', 'Upgrade')).toEqual(['Upgrade', '$http_upgrade']);
    expect(argsOf(server, 'proxy_set_header', 'Connection')).toEqual(['Connection', '$connection_upgrade']);
    // An upgrade says so; any other request sends no Connection header, keeping the connection alive.
    const upgrade = blockOf(http, 'map', '$http_upgrade', '$connection_upgrade');
    expect(upgrade.map(({ name, args }) => [name, ...args])).toEqual(
      expect.arrayContaining([
        ['default', 'upgrade'],
        ['', ''],
      ]),
    );
    // One proxy_set_header in a location would drop every one the server sets.
    for (const location of locations)
      for (const name of ['proxy_set_header', 'proxy_http_version'])
        expect(directivesOf(location.block!, name), `${location.args.join(' ')}: ${name}`).toEqual([]);
  });

  it('has the balancer stream /graphql answers unbuffered, and keep subscriptions open', () => {
    expect(argsOf(graphqlLocation, 'proxy_buffering')).toEqual(['off']);
    // Far past nginx's 60 s default.
    expect(seconds(argsOf(graphqlLocation, 'proxy_read_timeout')[0]!)).toBeGreaterThanOrEqual(3600);
    expect(seconds(argsOf(graphqlLocation, 'proxy_send_timeout')[0]!)).toBeGreaterThanOrEqual(3600);
    // Compressing would hold streamed parts back.
    expect(directivesOf(everyDirective(nginx), 'gzip', 'on')).toEqual([]);
  });

  it("has the balancer pass the request's id and trace context on, and the client's address", () => {
    expect(argsOf(server, 'proxy_set_header', 'X-Request-Id')).toEqual(['X-Request-Id', '$forwarded_request_id']);
    const requestId = blockOf(http, 'map', '$http_x_request_id', '$forwarded_request_id');
    expect(requestId.map(({ name, args }) => [name, ...args])).toEqual(
      expect.arrayContaining([
        ['', '$request_id'],
        ['default', '$http_x_request_id'],
      ]),
    );
    // traceparent and tracestate pass as the client sent them, like every header nginx is not told about.
    const all = everyDirective(nginx);
    expect(directivesOf(all, 'proxy_pass_request_headers', 'off')).toEqual([]);
    const setHeaders = directivesOf(all, 'proxy_set_header').map(({ args }) => args[0]!.toLowerCase());
    expect(setHeaders).not.toContain('traceparent');
    expect(setHeaders).not.toContain('tracestate');
    // The routers' rate limits count the client, one trusted proxy back, not nginx.
    expect(argsOf(server, 'proxy_set_header', 'X-Forwarded-For')).toEqual([
      'X-Forwarded-For',
      '$proxy_add_x_forwarded_for',
    ]);
    expect(compose.services.router!.environment?.TRUSTED_PROXIES).toBe(1);
  });

  it('has Prometheus, Grafana and Jaeger in the observability profile only, published on localhost only', () => {
    for (const name of ['prometheus', 'grafana', 'jaeger']) {
      expect(compose.services[name]!.profiles, name).toEqual(['observability']);
      for (const port of compose.services[name]!.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:/);
    }
    const withProfiles = Object.entries(compose.services).filter(([, service]) => service.profiles);
    expect(withProfiles.map(([name]) => name).sort()).toEqual(['grafana', 'jaeger', 'prometheus']);
    expect(compose.services.prometheus!.volumes).toContain('./docker/prometheus:/etc/prometheus:ro');
    for (const rules of prometheus.rule_files)
      expect(() => readFileSync(new URL(`../docker/prometheus/${rules}`, import.meta.url))).not.toThrow();
  });

  it('has the router and every subgraph send spans where one variable says, and nowhere by default', () => {
    for (const name of ['router', ...subgraphs.map((subgraph) => subgraph.name)])
      expect(compose.services[name]!.environment?.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe(
        '${OTEL_EXPORTER_OTLP_ENDPOINT:-}',
      );
  });

  it('has Prometheus scrape every router replica, and Grafana read Prometheus under the uid its dashboards use', () => {
    // Found by Docker's DNS, one target per replica, on the metrics port the router takes in production.
    const router = scrapeJob('router')!;
    expect(router.static_configs).toBeUndefined();
    expect(router.dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['router'], type: 'A', port: defaultMetricsPort }),
    ]);
    // Labelled with the service's name, as the subgraphs are, whatever the replica's address.
    expect(router.relabel_configs).toContainEqual({ source_labels: ['__meta_dns_name'], target_label: 'service' });
    expect(compose.services.router!.environment?.METRICS_HOST).toBe('0.0.0.0');
    expect(compose.services.router!.ports).toBeUndefined();
    const datasources = parse(
      readFileSync(new URL('../docker/grafana/provisioning/datasources/prometheus.yml', import.meta.url), 'utf8'),
    ) as { datasources: Array<{ uid: string; url: string }> };
    expect(datasources.datasources).toEqual([
      expect.objectContaining({ uid: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    const dashboard = JSON.parse(
      readFileSync(new URL('../docker/grafana/dashboards/shop-graph.json', import.meta.url), 'utf8'),
    ) as { panels: Array<{ datasource?: { uid: string }; targets?: Array<{ expr: string }> }> };
    const queried = dashboard.panels.filter((panel) => panel.targets);
    expect(queried.length).toBeGreaterThan(0);
    for (const panel of queried) expect(panel.datasource?.uid).toBe('prometheus');
  });

  describe.each(subgraphs.map((subgraph) => ({ ...subgraph, prefix: envPrefix(subgraph.name) })))(
    'subgraph $name',
    ({ name, port, prefix }) => {
      const service = () => compose.services[name]!;

      it('runs as its own service, on its port, on its own database', () => {
        // Node itself, never npm, which would not pass `docker stop`'s SIGTERM on (Dockerfile).
        expect(service().command).toEqual(['node', 'subgraphs/serve.js', name]);
        expect(service().environment).toMatchObject({
          [`${prefix}_PORT`]: port,
          NODE_ENV: 'production',
          HOST: '0.0.0.0',
        });
        expect(service().environment?.[`${prefix}_DATABASE_URL`]).toMatch(new RegExp(`@postgres:5432/${name}$`));
        expect(compose.services.migrate!.environment?.[`${prefix}_DATABASE_URL`]).toBe(
          service().environment?.[`${prefix}_DATABASE_URL`],
        );
        expect(createdDatabases).toContain(name);
      });

      it('has a readiness health check on its port, and the router waits for it and can reach it', () => {
        expect(service().healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${port}/health/ready`);
        expect(compose.services.router!.depends_on?.[name]).toEqual({ condition: 'service_healthy' });
        expect(compose.services.router!.environment?.[`${prefix}_SUBGRAPH_URL`]).toBe(`http://${name}:${port}/graphql`);
      });

      it('is scraped by Prometheus on its metrics port, the one it takes in production', () => {
        const metricsPort = subgraphConfigFromEnv(name, port, { NODE_ENV: 'production' }).metrics.port;
        expect(metricsPort).toBe(metricsPortFrom(undefined, true, port - 4000));
        expect(scrapeTargets('subgraphs')).toContain(`${name}:${metricsPort}`);
        expect(service().environment?.METRICS_HOST).toBe('0.0.0.0');
      });
    },
  );
});
