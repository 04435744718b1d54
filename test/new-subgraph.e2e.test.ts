import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { copyRepository, type CommandResult, type RepositoryCopy } from './support/repository-copy.ts';

/**
 * `npm run new:subgraph` as a developer runs it, in a throwaway copy of this
 * repository: it refuses unusable names and undoes a run that fails
 * halfway; and the subgraph it creates leaves `npm run check` passing,
 * answers through the router, and passes the checks every subgraph must.
 */

let copy: RepositoryCopy;

beforeAll(async () => {
  copy = await copyRepository();
});

afterAll(() => {
  copy?.remove();
});

/** `git status` of the copy as `<status> <path>`, e.g. `M codegen.ts` or `?? subgraphs/wishlists/schema.graphql`. */
async function status(): Promise<string[]> {
  const result = await copy.run('git', ['status', '--porcelain', '--untracked-files=all']);
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => `${line.slice(0, 2).trim()} ${line.slice(3)}`)
    .sort();
}

const output = (result: CommandResult) => `${result.stdout}${result.stderr}`;

describe('a name it refuses, with exit code 2', () => {
  it.each([
    { name: '', message: /Name the new subgraph/ },
    { name: 'Accounts', message: /"Accounts" is not a valid subgraph name: use lowercase letters and digits/ },
    { name: '1x', message: /"1x" is not a valid subgraph name/ },
    { name: 'accounts', message: /"accounts" already exists/ },
    { name: 'router', message: /"router" is reserved/ },
    { name: 'users', message: /"users" would define the type User, already in accounts, reviews and orders/ },
    { name: 'gift-cards', message: /dashes are not supported.*Try "giftcards"/ },
  ])('"$name"', async ({ name, message }) => {
    const result = await copy.npm('new:subgraph', [name]);
    expect(result.exitCode, output(result)).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('changes nothing', async () => {
    expect(await status()).toEqual([]);
  });
});

describe('a run that cannot finish', () => {
  afterAll(async () => {
    await copy.git('checkout', '--', '.');
  });

  it('changes nothing when a file it regenerates has lost the structure it looks for', async () => {
    copy.edit('Dockerfile', /^EXPOSE .*\n/m, '');
    const result = await copy.npm('new:subgraph', ['wishlists']);
    expect(result.exitCode, output(result)).toBe(1);
    expect(result.stderr).toContain('Dockerfile: found no EXPOSE line');
    expect(await status()).toEqual(['M Dockerfile']);
  });

  it('undoes everything when a generator fails after the files are written', async () => {
    await copy.git('checkout', '--', '.');
    copy.edit('package.json', '"codegen": "graphql-codegen --config codegen.ts"', '"codegen": "exit 3"');
    const result = await copy.npm('new:subgraph', ['wishlists']);
    expect(result.exitCode, output(result)).toBe(1);
    expect(result.stderr).toContain('`npm run codegen` failed');
    expect(result.stderr).toContain('Every change was undone');
    // compose had already rewritten the supergraph; it is back as it was, as is every wired file.
    expect(await status()).toEqual(['M package.json']);
  }, 60_000);
});

describe('npm run new:subgraph -- wishlists', () => {
  let scaffold: CommandResult;

  beforeAll(async () => {
    scaffold = await copy.npm('new:subgraph', ['wishlists']);
  }, 120_000);

  /**
   * Files outside the new folder that the scaffold's generators rewrite, each
   * drift-checked by `npm run check`: the registry's lists
   * (`registry-files:check`) and the composed schema (`compose:check`,
   * `codegen:check`).
   */
  const generatedFiles = [
    'Dockerfile',
    'README.md',
    'deploy/k8s/README.md',
    'deploy/k8s/base/kustomization.yaml',
    'deploy/k8s/base/router.yaml',
    'deploy/k8s/overlays/development/create-databases.sql',
    'docker-compose.yml',
    'docker/postgres/create-databases.sql',
    'docker/prometheus/prometheus.yml',
    'schema/api.graphql',
    'schema/api.introspection.json',
    'schema/supergraph.graphql',
  ];

  it('creates the subgraph, adds one registry line, and changes nothing else but generated files', async () => {
    expect(scaffold.exitCode, output(scaffold)).toBe(0);
    expect(scaffold.stdout).toContain('Next steps');
    expect(await status()).toEqual(
      [
        'M subgraphs/registry.ts',
        ...generatedFiles.map((path) => `M ${path}`),
        // Its Deployment, Service and migration Job (scripts/registry-files/kubernetes.ts).
        '?? deploy/k8s/base/subgraphs/wishlists.yaml',
        ...[
          'manifest.ts',
          'migrations/0000_initial.sql',
          'migrations/meta/0000_snapshot.json',
          'migrations/meta/_journal.json',
          'schema.graphql',
          'src/__generated__/resolvers.ts',
          'src/context.ts',
          'src/db/schema.ts',
          'src/index.ts',
          'src/loaders.ts',
          'src/resolvers.ts',
          'src/seed.ts',
          'test/contract.ts',
          'test/wishlists.int.test.ts',
        ].map((path) => `?? subgraphs/wishlists/${path}`),
      ].sort(),
    );
    expect(copy.read('subgraphs/registry.ts')).toContain(`{ name: 'wishlists', port: 4006 }`);
    // The registry's change is that one line, added, with nothing else touched.
    const registryDiff = (await copy.git('diff', '--unified=0', '--', 'subgraphs/registry.ts'))
      .split('\n')
      .filter((line) => /^[-+](?![-+]{2} )/.test(line));
    expect(registryDiff).toEqual([`+  { name: 'wishlists', port: 4006 },`]);
  });

  it('leaves npm run check passing: types, formatting, and every generated file fresh', async () => {
    const check = await copy.npm('check');
    expect(check.exitCode, output(check)).toBe(0);
  }, 600_000);

  it("passes its own tests through the router, the subgraph contract, and docker-compose's and the Kubernetes manifests' checks", async () => {
    // The copy's vitest uses this run's Postgres and Redis instead of starting its own.
    const postgresUrl = inject('postgresAdminUrl');
    const redisUrl = inject('redisUrl');
    const result = await copy.run(
      'npx',
      [
        'vitest',
        'run',
        'subgraphs/wishlists/',
        'test/subgraph-contract.int.test.ts',
        'test/docker-compose.test.ts',
        'test/kubernetes.test.ts',
        '--reporter=verbose',
      ],
      {
        ...(postgresUrl ? { TEST_POSTGRES_URL: postgresUrl } : {}),
        ...(redisUrl ? { TEST_REDIS_URL: redisUrl } : {}),
      },
    );
    expect(result.exitCode, output(result)).toBe(0);
    // Proof that the new subgraph's tests ran, not only that nothing failed.
    const report = stripVTControlCharacters(result.stdout);
    expect(report).toContain('subgraphs/wishlists/test/wishlists.int.test.ts');
    expect(report).toContain(`subgraph 'wishlists' > resolves 'Wishlist @key(fields: "id")' through _entities`);
    expect(report).toContain(`subgraph 'wishlists' > runs as its own service`);
    expect(report).toContain(
      'has a Deployment, a Service and a migration Job for every subgraph in subgraphs/registry.ts',
    );
  }, 180_000);
});
