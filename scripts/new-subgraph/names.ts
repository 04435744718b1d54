import { envPrefix } from '../../platform/src/config.ts';

/** Every name the scaffold derives from the subgraph's name, so templates never derive one themselves. */
export interface SubgraphNames {
  /** Folder, registry entry, docker-compose service and Postgres database: `wishlists`. */
  name: string;
  /** The entity type, singular PascalCase: `Wishlist`. */
  type: string;
  /** The query field that fetches one entity by id: `wishlist`. */
  one: string;
  /** The connection query field, the SQL table and its TypeScript variable: `wishlists`. */
  many: string;
  /** Prefix of the subgraph's env variables: `WISHLISTS`. */
  envPrefix: string;
}

/** Input the scaffold refuses; the CLI prints the message and exits 2. */
export class InvalidNameError extends Error {
  override name = 'InvalidNameError';
}

/** What the rest of the graph already uses, which a new subgraph must not take. */
export interface ExistingGraph {
  /** Subgraph names from the registry and folders under subgraphs/. */
  subgraphs: readonly string[];
  /** Type names, each with the subgraphs that define it. */
  types: ReadonlyMap<string, readonly string[]>;
  /** `Query` field names, each with the subgraphs that define it. */
  queryFields: ReadonlyMap<string, readonly string[]>;
}

/** Postgres limits identifiers to 63 bytes; the longest derived one is `<name>_created_at_id_idx`. */
const maxLength = 32;

/**
 * Names that are already something else wherever a subgraph's name is used:
 * a docker-compose service, a Postgres database, an env variable prefix, or
 * the TypeScript variable of the subgraph's table.
 */
const reserved: Record<string, string> = {
  router: 'the router is a docker-compose service, and ROUTER_PORT is its port',
  postgres: 'it is a docker-compose service and Postgres’s own database',
  redis: 'it is a docker-compose service',
  migrate: 'it is the docker-compose release step',
  balancer: 'it is the docker-compose service in front of the routers (nginx)',
  prometheus: 'it is a docker-compose service (the observability profile)',
  grafana: 'it is a docker-compose service (the observability profile)',
  jaeger: 'it is a docker-compose service (the observability profile)',
  shop: 'docker-compose creates that database for Postgres itself',
  template0: 'it is a Postgres system database',
  template1: 'it is a Postgres system database',
  this: 'the table’s TypeScript variable takes the name, and it is a JavaScript keyword',
  extends: 'the table’s TypeScript variable takes the name, and it is a JavaScript keyword',
  implements: 'the table’s TypeScript variable takes the name, and it is a JavaScript keyword',
  arguments: 'the table’s TypeScript variable takes the name, and it is reserved in JavaScript',
};

/** Types every subgraph schema declares or GraphQL itself owns. */
const builtInTypes = [
  'Query',
  'Mutation',
  'Subscription',
  'String',
  'Int',
  'Float',
  'Boolean',
  'ID',
  'DateTime',
  'PageInfo',
  'CacheControlScope',
];

/**
 * Checks a subgraph name and derives the others from it. A subgraph is named
 * for what it owns, in the plural (`wishlists` owns `Wishlist`); a name that
 * does not end in "s" is taken as singular (`inventory` owns `Inventory`,
 * listed by `inventories`).
 */
export function subgraphNames(name: string, existing: ExistingGraph): SubgraphNames {
  if (name === '') throw new InvalidNameError('Name the new subgraph: npm run new:subgraph -- <name>, e.g. wishlists.');
  if (name.includes('-') && /^[a-z][a-z0-9-]*$/.test(name)) {
    // A dashed database name needs quoting in SQL, but create-databases.sql, the test that
    // reads it and the benchmark all create databases by bare name.
    throw new InvalidNameError(
      `"${name}": dashes are not supported, because the name is also the subgraph's Postgres database, ` +
        `created by bare name in docker/postgres/create-databases.sql. Try "${name.replaceAll('-', '')}".`,
    );
  }
  if (!/^[a-z][a-z0-9]*$/.test(name)) {
    throw new InvalidNameError(
      `"${name}" is not a valid subgraph name: use lowercase letters and digits, starting with a letter (e.g. wishlists).`,
    );
  }
  if (name.length > maxLength) {
    throw new InvalidNameError(`"${name}" is too long: at most ${maxLength} characters, to fit Postgres identifiers.`);
  }
  if (existing.subgraphs.includes(name)) {
    throw new InvalidNameError(`"${name}" already exists: see subgraphs/registry.ts and subgraphs/${name}/.`);
  }
  const reason = reserved[name];
  if (reason) throw new InvalidNameError(`"${name}" is reserved: ${reason}.`);

  const endsPlural = name.endsWith('s') && !name.endsWith('ss');
  const one = endsPlural ? singular(name) : name;
  const many = endsPlural ? name : plural(name);
  const names: SubgraphNames = {
    name,
    type: one[0]!.toUpperCase() + one.slice(1),
    one,
    many,
    envPrefix: envPrefix(name),
  };

  for (const type of [names.type, `${names.type}Connection`, `${names.type}Edge`]) {
    if (builtInTypes.includes(type)) {
      throw new InvalidNameError(`"${name}" would define the type ${type}, which every GraphQL schema here has.`);
    }
    const owners = existing.types.get(type);
    if (owners) throw new InvalidNameError(`"${name}" would define the type ${type}, already in ${list(owners)}.`);
  }
  for (const field of [names.one, names.many]) {
    const owners = existing.queryFields.get(field);
    if (owners) throw new InvalidNameError(`"${name}" would add Query.${field}, already in ${list(owners)}.`);
  }
  return names;
}

/** `accounts, reviews and orders` */
function list(items: readonly string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items.at(-1)}` : (items[0] ?? '');
}

/** English plurals, the common cases only; the output of the scaffold says what it derived. */
function singular(word: string): string {
  if (/[^aeiou]ies$/.test(word)) return word.slice(0, -3) + 'y';
  if (/(ch|sh|x|z|ss)es$/.test(word)) return word.slice(0, -2);
  return word.slice(0, -1);
}

function plural(word: string): string {
  if (/[^aeiou]y$/.test(word)) return word.slice(0, -1) + 'ies';
  if (/(ch|sh|x|z|s)$/.test(word)) return word + 'es';
  return word + 's';
}
