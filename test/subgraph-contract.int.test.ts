import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kind, parse, type DocumentNode, type StringValueNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentitySigner, identityHeader, type IdentitySigner } from '../platform/src/identity.ts';
import { schemaFileOf, subgraphs } from '../subgraphs/registry.ts';
import { postGraphQL, startSubgraphs, type StartedSubgraphs } from './support/shop-graph.ts';
import { loadContract } from './support/subgraph-contract.ts';
import { testIdentitySecret } from './support/tokens.ts';

/**
 * Checks every subgraph must pass, whatever its domain: it serves its own
 * schema file as `_service.sdl`, every `@key` resolves a seeded entity
 * through `_entities`, unknown and malformed keys never cause errors, and
 * its health endpoints answer.
 */

/** Each subgraph's contract sample (`subgraphs/<name>/test/contract.ts`): the entities it owns, seeded. */
const contracts = await Promise.all(subgraphs.map(async ({ name }) => ({ name, ...(await loadContract(name)) })));

/** A seeded entity of each type, whose fields supply key values. */
const seededEntities: Record<string, object> = {};
/** Types only their owner may see: the seeded entity is resolved as that user (the router's signed identity). */
const actingAs: Record<string, string> = {};
/** Where a type's rows live: there, and only there, an unknown key resolves to null. */
const owners: Record<string, string> = {};
for (const { name, owns } of contracts) {
  for (const [type, entity] of Object.entries(owns)) {
    if (owners[type]) throw new Error(`${type} is owned by both ${owners[type]} and ${name} in their test/contract.ts`);
    owners[type] = name;
    seededEntities[type] = entity.seeded;
    if (entity.actingAs) actingAs[type] = entity.actingAs;
  }
}

interface EntityKey {
  type: string;
  fields: string[];
}

function resolvableKeys(document: DocumentNode): EntityKey[] {
  const keys: EntityKey[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'key') continue;
      const argument = (name: string) => directive.arguments?.find((arg) => arg.name.value === name)?.value;
      const resolvable = argument('resolvable');
      if (resolvable?.kind === Kind.BOOLEAN && !resolvable.value) continue;
      const fields = (argument('fields') as StringValueNode).value.trim().split(/\s+/);
      if (fields.some((field) => /[{}]/.test(field)))
        throw new Error(`${definition.name.value}: nested keys need support in this test`);
      keys.push({ type: definition.name.value, fields });
    }
  }
  return keys;
}

/** `Type.field` for every field of every object type, to compare two SDLs by content. */
function fieldCoordinates(document: DocumentNode): string[] {
  return document.definitions
    .flatMap((definition) =>
      definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION
        ? (definition.fields ?? []).map((field) => `${definition.name.value}.${field.name.value}`)
        : [],
    )
    .sort();
}

let started: StartedSubgraphs;
let identity: IdentitySigner;

beforeAll(async () => {
  started = await startSubgraphs('contract');
  identity = await createIdentitySigner(testIdentitySecret);
});

afterAll(async () => {
  await started?.stop();
});

describe.each(subgraphs.map(({ name }) => ({ name })))('subgraph $name', ({ name }) => {
  const document = parse(readFileSync(schemaFileOf(name), 'utf8'));
  const url = () => started.byName[name].url;

  it('serves its schema file as _service.sdl', async () => {
    const response = await postGraphQL<{ _service: { sdl: string } }>(url(), '{ _service { sdl } }');
    expect(response.body.errors).toBeUndefined();
    const served = parse(response.body.data!._service.sdl);
    expect(fieldCoordinates(served)).toEqual(expect.arrayContaining(fieldCoordinates(document)));
  });

  const keys = resolvableKeys(document);
  it.each(keys.map((key) => ({ ...key, label: `${key.type} @key(fields: "${key.fields.join(' ')}")` })))(
    'resolves $label through _entities',
    async ({ type, fields }) => {
      const seeded = seededEntities[type] as Record<string, unknown> | undefined;
      if (!seeded) throw new Error(`No seeded entity for ${type}: its owner's test/contract.ts must list it.`);
      const representation = { __typename: type, ...Object.fromEntries(fields.map((field) => [field, seeded[field]])) };
      const unknown = {
        __typename: type,
        ...Object.fromEntries(fields.map((field) => [field, field === 'id' ? randomUUID() : 'NO-SUCH-KEY'])),
      };
      const malformed = { __typename: type, ...Object.fromEntries(fields.map((field) => [field, 'not-a-valid-key'])) };

      const response = await postGraphQL<{ _entities: Array<Record<string, unknown> | null> }>(
        url(),
        `query ($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on ${type} { ${fields.join(' ')} } } }`,
        { representations: [representation, unknown, malformed] },
        actingAs[type] ? { [identityHeader]: await identity.sign({ id: actingAs[type], scopes: [] }) } : {},
      );
      expect(response.body.errors).toBeUndefined();
      const [found, missing, bad] = response.body.data!._entities;
      expect(found).toEqual(representation);
      if (owners[type] === name) {
        expect(missing).toBeNull();
        expect(bad).toBeNull();
      } else {
        // An extending subgraph answers for any key: a product without stock has zero, not null.
        expect(missing).toMatchObject({ __typename: type });
      }
    },
  );

  it('reports live and ready, with its database checked', async () => {
    const base = url().replace(/\/graphql$/, '');
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: { ok: true } } });
  });
});
