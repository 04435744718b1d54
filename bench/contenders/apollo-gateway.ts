/**
 * The baseline: stock `@apollo/gateway` in `@apollo/server` 5 standalone,
 * configured as the public gateway benchmark configures it, which is to say
 * not at all, except that the client's Authorization goes on to every
 * subgraph request.
 *
 *   node --import tsx bench/contenders/apollo-gateway.ts <supergraph> <port>
 */
import { readFileSync } from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

interface Context {
  authorization?: string;
}

class AuthorizationForwarding extends RemoteGraphQLDataSource<Context> {
  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<Context>): void {
    if (context.authorization) request.http?.headers.set('authorization', context.authorization);
  }
}

const [supergraphPath, port] = process.argv.slice(2);
if (!supergraphPath || !port) {
  console.error('Usage: apollo-gateway.ts <supergraph> <port>');
  process.exit(2);
}

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath, 'utf8'),
  buildService: ({ url }) => new AuthorizationForwarding({ url }),
});
const server = new ApolloServer<Context>({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(port), host: '127.0.0.1' },
  context: async ({ req }) => ({ authorization: req.headers.authorization }),
});
console.log(`apollo gateway ready at ${url}`);
