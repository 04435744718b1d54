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
import { isUuid } from '../platform/src/graphql/ids.ts';
import { seedUser } from '../seed/world.ts';
import { developmentSecrets } from './dev/secrets.ts';

function fail(message: string): never {
  console.error(`token: ${message}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    'seed-user': { type: 'string' },
    scopes: { type: 'string', default: '' },
    ttl: { type: 'string', default: '1h' },
  },
});
if (process.env.NODE_ENV === 'production')
  fail('mints development tokens only; production tokens come from your identity provider');

let subject = values.user;
if (values['seed-user'] !== undefined) {
  const index = Number(values['seed-user']);
  if (!Number.isInteger(index) || index < 0) fail('--seed-user takes a whole number');
  subject = seedUser(index).id;
}
if (!subject) fail('pass --user <id> or --seed-user <n>');
if (!isUuid(subject)) fail(`--user must be a user id (a UUID), got ${JSON.stringify(subject)}`);
if (!/^\d+[smhdw]$/.test(values.ttl)) fail('--ttl takes a number and a unit, such as 30m, 1h or 7d');

const secret = process.env.AUTH_JWT_SECRET ?? developmentSecrets(process.env.DATA_DIR ?? '.data').jwtSecret;
const scopes = values.scopes.split(',').filter(Boolean);
const jwt = new SignJWT(scopes.length > 0 ? { scope: scopes.join(' ') } : {})
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject(subject.toLowerCase())
  .setIssuedAt()
  .setExpirationTime(values.ttl);
// The router checks these when it is configured with them.
if (process.env.AUTH_JWT_ISSUER) jwt.setIssuer(process.env.AUTH_JWT_ISSUER);
if (process.env.AUTH_JWT_AUDIENCE) jwt.setAudience(process.env.AUTH_JWT_AUDIENCE);
console.log(await jwt.sign(new TextEncoder().encode(secret)));
