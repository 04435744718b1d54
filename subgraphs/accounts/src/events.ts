import { z } from 'zod';
import { defineEvent, entityTag } from '../../../platform/src/events/index.ts';

/** The stream this subgraph publishes to. */
export const accountsStream = 'accounts';

/**
 * A user's public profile as it now is: the whole state, so a consumer
 * (reviews keeps usernames, orders knows who has an account) needs nothing
 * else, and `changedAt` (ISO-8601, strictly later than the user's previous
 * change) orders the changes of one user.
 */
export const userProfileChanged = defineEvent({
  type: 'UserProfileChanged',
  stream: accountsStream,
  schema: z.object({
    userId: z.string(),
    username: z.string(),
    name: z.string(),
    changedAt: z.iso.datetime(),
  }),
  // The name and username accounts serves.
  invalidates: ({ userId }) => [entityTag('User', userId)],
});

export type UserProfileChanged = z.infer<typeof userProfileChanged.schema>;
