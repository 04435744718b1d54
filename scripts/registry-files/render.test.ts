import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadManifest, subgraphs } from '../../subgraphs/registry.ts';
import { registryFiles, RegistryFileError, type RegisteredSubgraph } from './render.ts';

/**
 * The generated parts of the files that list every subgraph: a subgraph added
 * to the registry reaches each of them, the hand-written rest stays, and a
 * file that lost its markers is named instead of being half rewritten.
 */

const registered: RegisteredSubgraph[] = await Promise.all(
  subgraphs.map(async ({ name, port }) => ({ name, port, manifest: await loadManifest(name) })),
);
const wishlists: RegisteredSubgraph = {
  name: 'wishlists',
  port: 4006,
  manifest: {
    codegenMappers: {},
    readme: { owns: '`Wishlist` (`@key id`)', addsToOtherTypes: '`User.wishlist`' },
  },
};

function current(path: string): string {
  return readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
}

/** Each file as it is now, rendered for the registry plus `wishlists`. */
function renderedWithWishlists(): Record<string, string> {
  return Object.fromEntries(
    registryFiles.map(({ path, render }) => [path, render(current(path), [...registered, wishlists])]),
  );
}

describe('a subgraph added to the registry', () => {
  const files = renderedWithWishlists();

  it('gets a compose service on its port and database, and the router waits for it and reaches it', () => {
    const compose = parse(files['docker-compose.yml']!, { merge: true }) as {
      services: Record<string, { command?: string[]; environment?: Record<string, unknown>; depends_on?: object }>;
    };
    const service = compose.services.wishlists!;
    expect(service.command).toEqual(['node', 'subgraphs/serve.js', 'wishlists']);
    expect(service.environment).toMatchObject({
      WISHLISTS_PORT: 4006,
      WISHLISTS_DATABASE_URL: 'postgres://shop:${POSTGRES_PASSWORD:-shop}@postgres:5432/wishlists',
      NODE_ENV: 'production',
    });
    expect(compose.services.migrate!.environment?.WISHLISTS_DATABASE_URL).toBe(
      service.environment?.WISHLISTS_DATABASE_URL,
    );
    expect(compose.services.router!.environment?.WISHLISTS_SUBGRAPH_URL).toBe('http://wishlists:4006/graphql');
    expect(compose.services.router!.depends_on).toMatchObject({ wishlists: { condition: 'service_healthy' } });
    // The services written by hand are all still there.
    for (const name of ['postgres', 'redis', 'migrate', 'router', 'balancer', 'prometheus', 'grafana', 'jaeger'])
      expect(compose.services[name], name).toBeDefined();
  });

  it('gets a database, a Prometheus target on its production metrics port, and its port exposed', () => {
    expect(files['docker/postgres/create-databases.sql']).toMatch(/^CREATE DATABASE wishlists;$/m);
    const prometheus = parse(files['docker/prometheus/prometheus.yml']!) as {
      scrape_configs: Array<{
        job_name: string;
        static_configs?: Array<{ targets: string[] }>;
        dns_sd_configs?: Array<{ names: string[] }>;
      }>;
    };
    const job = (name: string) => prometheus.scrape_configs.find((config) => config.job_name === name)!;
    expect(job('subgraphs').static_configs![0]!.targets).toContain('wishlists:9470');
    // The router's job, written by hand, still finds its replicas by name.
    expect(job('router').dns_sd_configs![0]!.names).toEqual(['router']);
    expect(files.Dockerfile).toMatch(/^EXPOSE 4000 4001 4002 4003 4004 4005 4006$/m);
  });

  it("gets a row in the README's table, from its manifest, and a place in the diagram", () => {
    expect(files['README.md']).toContain('| wishlists | 4006 | `Wishlist` (`@key id`) | `User.wishlist` |');
    expect(files['README.md']).toMatch(/router -->\|HTTP\| accounts & .* & wishlists$/m);
    expect(files['README.md']).toContain('  wishlists --> wishlistsdb[(wishlists)]');
  });

  it('changes nothing more when rendered again', () => {
    for (const { path, render } of registryFiles) {
      expect(render(files[path]!, [...registered, wishlists]), path).toBe(files[path]);
    }
  });
});

describe('a file without its markers', () => {
  it.each([
    { path: 'docker-compose.yml', remove: /^.*# end generated:subgraphs:services.*\n/m, block: 'services' },
    { path: 'README.md', remove: /<!-- generated:subgraphs:table.*\n/, block: 'table' },
    {
      path: 'docker/postgres/create-databases.sql',
      remove: /-- generated:subgraphs:databases.*\n/,
      block: 'databases',
    },
  ])('names $path and its $block block', ({ path, remove, block }) => {
    const file = registryFiles.find((candidate) => candidate.path === path)!;
    const broken = current(path).replace(remove, '');
    expect(broken).not.toBe(current(path));
    expect(() => file.render(broken, registered)).toThrow(RegistryFileError);
    expect(() => file.render(broken, registered)).toThrow(`${path}: found no`);
    expect(() => file.render(broken, registered)).toThrow(`generated:subgraphs:${block}`);
  });

  it('names the Dockerfile when its EXPOSE line is gone', () => {
    const dockerfile = registryFiles.find((candidate) => candidate.path === 'Dockerfile')!;
    expect(() => dockerfile.render(current('Dockerfile').replace(/^EXPOSE .*\n/m, ''), registered)).toThrow(
      'Dockerfile: found no EXPOSE line',
    );
  });
});
