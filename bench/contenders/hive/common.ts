import type { GatewayCLIConfig } from '@graphql-hive/gateway';

/**
 * What both Hive Gateway contenders share: quiet logs, and the client's
 * Authorization on every subgraph request, as the public benchmark does.
 */
export const commonConfig = {
  logging: 'warn',
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') }),
  },
} satisfies GatewayCLIConfig;
