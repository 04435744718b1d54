import type { SubgraphManifest } from '../registry.ts';

export const manifest: SubgraphManifest = {
  codegenMappers: {
    User: '../db/schema.ts#UserRow',
    UserConnection: '../../../../platform/src/graphql/pagination.ts#Connection<UserRow>',
  },
  readme: {
    owns: '`User` (`@key id`): name, username, email; `updateProfile`',
    addsToOtherTypes: '',
  },
};
