import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { envPrefix } from '../platform/src/config.ts';
import { subgraphs } from '../subgraphs/registry.ts';

/**
 * docker-compose.yml is written by hand for people to run; this keeps it in
 * step with subgraphs/registry.ts, so a subgraph cannot be added to the
 * graph and forgotten in the production-like stack.
 */

interface Service {
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

describe('docker-compose.yml', () => {
  it('has Postgres, Redis, the migrate step and the router', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'redis', 'migrate', 'router']));
    expect(compose.services.router!.ports).toEqual(['4000:4000']);
    expect(compose.services.router!.environment?.REDIS_URL).toBe('redis://redis:6379');
  });

  describe.each(subgraphs.map((subgraph) => ({ ...subgraph, prefix: envPrefix(subgraph.name) })))(
    'subgraph $name',
    ({ name, port, prefix }) => {
      const service = () => compose.services[name]!;

      it('runs as its own service, on its port, on its own database', () => {
        expect(service().command).toEqual(['npm', 'run', 'start:subgraph', '--', name]);
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
    },
  );
});
