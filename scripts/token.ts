/**
 * `npm run token -- --user <id> [--scopes a,b] [--ttl 1h]`: a development
 * token for the router, signed with AUTH_JWT_SECRET or, when that is unset,
 * with the secret `npm start` made up in DATA_DIR. Prints the token alone,
 * so `TOKEN=$(npm run -s token -- --seed-user 0)` works.
 *
 *   --user <id>        the token's subject (a user id)
 *   --seed-user <n>    or: the n-th user of the seed world
 *   --scopes a,b       granted scopes, e.g. admin
 *   --ttl <duration>   lifetime as jose reads it (30m, 1h, 7d); default 1h
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { nodeEnvFromEnv } from '../platform/src/config.ts';
import { defineEnvFragment, parseFragments } from '../platform/src/config/fragment.ts';
import { defaultDataDir } from '../platform/src/db/env.ts';
import { isUuid } from '../platform/src/graphql/ids.ts';
import { configOrExit } from '../platform/src/process.ts';
import { seedUser } from '../seed/world.ts';
import { developmentSecrets } from './dev/secrets.ts';

function fail(message: string): never {
  console.error(`token: ${message}`);
  process.exit(2);
}

/** What the token is signed with and for, read as the router reads it. */
const tokenEnv = defineEnvFragment({
  variables: {
    NODE_ENV: nodeEnvFromEnv.unwrap().optional(),
    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    AUTH_JWT_ISSUER: z.string().min(1).optional(),
    AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
    DATA_DIR: z.string().min(1).optional(),
  },
  fromEnv: (vars) => ({
    production: vars.NODE_ENV === 'production',
    secret: vars.AUTH_JWT_SECRET ?? null,
    dataDir: vars.DATA_DIR ?? defaultDataDir,
    issuer: vars.AUTH_JWT_ISSUER ?? null,
    audience: vars.AUTH_JWT_AUDIENCE ?? null,
  }),
});
const env = configOrExit(() => parseFragments({ token: tokenEnv })).options.token;

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    'seed-user': { type: 'string' },
    scopes: { type: 'string', default: '' },
    ttl: { type: 'string', default: '1h' },
  },
});
if (env.production) fail('mints development tokens only; production tokens come from your identity provider');

let subject = values.user;
if (values['seed-user'] !== undefined) {
  const index = Number(values['seed-user']);
  if (!Number.isInteger(index) || index < 0) fail('--seed-user takes a whole number');
  subject = seedUser(index).id;
}
if (!subject) fail('pass --user <id> or --seed-user <n>');
if (!isUuid(subject)) fail(`--user must be a user id (a UUID), got ${JSON.stringify(subject)}`);
if (!/^\d+[smhdw]$/.test(values.ttl)) fail('--ttl takes a number and a unit, such as 30m, 1h or 7d');

const scopes = values.scopes.split(',').filter(Boolean);
const jwt = new SignJWT(scopes.length > 0 ? { scope: scopes.join(' ') } : {})
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject(subject.toLowerCase())
  .setIssuedAt()
  .setExpirationTime(values.ttl);
// The router checks these when it is configured with them.
if (env.issuer) jwt.setIssuer(env.issuer);
if (env.audience) jwt.setAudience(env.audience);
// Unset: the secret `npm start` made up, which the router it started verifies with.
const secret = env.secret ?? developmentSecrets(env.dataDir).jwtSecret;
console.log(await jwt.sign(new TextEncoder().encode(secret)));
