/**
 * The baseline: stock `@apollo/gateway` in `@apollo/server` 5 standalone,
 * configured as the public gateway benchmark configures it, which is to say
 * not at all, except that the client's Authorization goes on to every
 * subgraph request, and so does the caller's signed identity
 * (`x-verified-identity`) where the load generator sends one: the shop
 * subgraphs read only that. A real deployment would sign it in the gateway
 * (or a proxy in front of it); here it comes pre-signed, at no cost to the
 * gateway (see bench/lib/callers.ts).
 *
 * The shop supergraph links `@authenticated` and `@requiresScopes` as
 * SECURITY features, which this gateway refuses to load because it does not
 * enforce them; the shop subgraphs enforce them on the forwarded identity.
 * So, as anyone deploying it in front of them would, and as our router does
 * (`withSubgraphEnforcedSecurity` in router/src/executor/served-supergraph.ts, not imported here
 * so that none of our router's code runs in the baseline), it loads them as
 * plain metadata.
 *
 *   node --import tsx bench/contenders/apollo-gateway.ts <supergraph> <port>
 */
import { readFileSync } from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { identityHeader } from '../../platform/src/identity.ts';

interface Context {
  authorization?: string;
  identity?: string;
}

class CallerForwarding extends RemoteGraphQLDataSource<Context> {
  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<Context>): void {
    if (context.authorization) request.http?.headers.set('authorization', context.authorization);
    if (context.identity) request.http?.headers.set(identityHeader, context.identity);
  }
}

const [supergraphPath, port] = process.argv.slice(2);
if (!supergraphPath || !port) {
  console.error('Usage: apollo-gateway.ts <supergraph> <port>');
  process.exit(2);
}

const subgraphEnforcedFeatures = [
  'https://specs.apollo.dev/authenticated/v0.1',
  'https://specs.apollo.dev/requiresScopes/v0.1',
];
let supergraphSdl = readFileSync(supergraphPath, 'utf8');
for (const feature of subgraphEnforcedFeatures) {
  supergraphSdl = supergraphSdl.replace(`@link(url: "${feature}", for: SECURITY)`, `@link(url: "${feature}")`);
}

const gateway = new ApolloGateway({
  supergraphSdl,
  buildService: ({ url }) => new CallerForwarding({ url }),
});
const server = new ApolloServer<Context>({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(port), host: '127.0.0.1' },
  context: async ({ req }) => {
    const identity = req.headers[identityHeader];
    return { authorization: req.headers.authorization, identity: typeof identity === 'string' ? identity : undefined };
  },
});
console.log(`apollo gateway ready at ${url}`);
