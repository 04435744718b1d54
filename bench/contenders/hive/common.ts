import type { GatewayCLIConfig } from '@graphql-hive/gateway';
import { identityHeader } from '../../../platform/src/identity.ts';

/**
 * What both Hive Gateway contenders share: quiet logs, and the client's
 * Authorization on every subgraph request, as the public benchmark does,
 * with the caller's signed identity (`x-verified-identity`) where the load
 * generator sends one, pre-signed as a real deployment would sign it in the
 * gateway (see bench/lib/callers.ts). Headers that are absent (null) are
 * not sent.
 */
export const commonConfig = {
  logging: 'warn',
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get('authorization'),
      [identityHeader]: request.headers.get(identityHeader),
    }),
  },
} satisfies GatewayCLIConfig;
