import { envPrefix } from '../../platform/src/config.ts';
import { postgresLocation } from '../../platform/src/progress.ts';

/**
 * What `NODE_ENV=production npm start` needs from the environment, said
 * before anything starts. Production makes nothing up: no embedded database
 * (its data would live in a folder nobody backs up), no migrations at start
 * (`npm run db:migrate` is a release step), no seed, no development secrets.
 * Each subgraph then waits, as long as it takes, for the Postgres its
 * `<NAME>_DATABASE_URL` names, and without one there is nothing to wait for.
 */
export interface ProductionPreflight {
  /** One line per subgraph and per missing setting: `[who, what]`. */
  lines: Array<[string, string]>;
  /** A subgraph has no database to wait for: starting would only fail. */
  fatal: boolean;
}

export function productionPreflight(names: readonly string[], env: NodeJS.ProcessEnv): ProductionPreflight {
  const lines: Array<[string, string]> = [];
  let fatal = false;
  const migrates = env.MIGRATE_ON_START === 'true';
  for (const name of names) {
    const variable = `${envPrefix(name)}_DATABASE_URL`;
    const url = env[variable];
    if (!url) {
      fatal = true;
      lines.push([name, `needs its Postgres database: set ${variable} (postgres://user:password@host:5432/${name})`]);
    } else {
      lines.push([
        name,
        `waits for its database at ${postgresLocation(url)} (${variable})${migrates ? '' : ', migrated beforehand by npm run db:migrate'}`,
      ]);
    }
  }
  if (!env.REDIS_URL) {
    lines.push([
      'events',
      'REDIS_URL is not set: events between subgraphs pass through this process and are lost if it stops',
    ]);
  }
  if (!env.AUTH_JWT_SECRET && !env.AUTH_JWKS_URL) {
    lines.push([
      'router',
      'AUTH_JWT_SECRET or AUTH_JWKS_URL is not set: tokens are not verified, every caller is anonymous',
    ]);
  }
  if (!env.INTERNAL_IDENTITY_SECRET) {
    lines.push([
      'router',
      'INTERNAL_IDENTITY_SECRET is not set: the router forwards no caller, so subgraphs see everyone as anonymous (one value for the router and every subgraph)',
    ]);
  }
  return { lines, fatal };
}
