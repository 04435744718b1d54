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
 * in the graph and missing or miswired in the production-like stack.
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
  scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
};
const scrapeTargets = (job: string) =>
  prometheus.scrape_configs
    .find((config) => config.job_name === job)
    ?.static_configs.flatMap((config) => config.targets) ?? [];

describe('docker-compose.yml', () => {
  it('has Postgres, Redis, the migrate step and the router', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'redis', 'migrate', 'router']));
    // The image's build (dist/ over /app), run by plain Node.
    expect(compose.services.router!.command).toEqual(['node', '--max-semi-space-size=64', 'router/src/main.js']);
    expect(compose.services.router!.ports).toEqual(['4000:4000']);
    expect(compose.services.router!.environment?.REDIS_URL).toBe('redis://redis:6379');
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

  it('has Prometheus scrape the router, and Grafana read Prometheus under the uid its dashboards use', () => {
    expect(scrapeTargets('router')).toEqual([`router:${defaultMetricsPort}`]);
    expect(compose.services.router!.environment?.METRICS_HOST).toBe('0.0.0.0');
    expect(compose.services.router!.ports).toEqual(['4000:4000']);
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
