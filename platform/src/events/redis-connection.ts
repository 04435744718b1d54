import { once } from 'node:events';
import type { RedisClient } from '../cache/redis.ts';
import type { Logger } from '../logger.ts';

/** What the Redis bus's readers share about the connections their blocking reads hold. */

/**
 * A connection of its own for a reader whose reads block (XREADGROUP,
 * XREAD BLOCK), duplicated from `control`, not yet connected (`whenReady`
 * connects it). `name` shows in CLIENT LIST.
 */
export function dedicatedConnection(control: RedisClient, logger: Logger, name?: string): RedisClient {
  // No offline queue: while Redis is away a command fails at once and the loop backs off,
  // instead of commands piling up to run against whatever Redis comes back.
  const connection = control.duplicate({ disableOfflineQueue: true, ...(name === undefined ? {} : { name }) });
  // Without an 'error' listener node-redis crashes the process on a socket error.
  // The reading loop reports the failures that matter, once per streak.
  connection.on('error', (error: Error) => logger.debug({ err: error }, 'event reader: redis error'));
  return connection;
}

/** Resolves once `connection` is ready; rejects when it is not within `waitMs`, unless `signal` aborted. */
export async function whenReady(connection: RedisClient, waitMs: number, signal: AbortSignal): Promise<void> {
  if (connection.isReady) return;
  // connect() retries by itself (the client's reconnect strategy) and resolves when ready.
  if (!connection.isOpen) connection.connect().catch(() => {});
  await once(connection, 'ready', { signal: AbortSignal.any([signal, AbortSignal.timeout(waitMs)]) }).catch(() => {});
  if (!connection.isReady && !signal.aborted) throw new Error('redis is not reachable');
}

/** A stream read's reply (XREAD, XREADGROUP). Loosely typed because RESP3 would shape it differently; the bus speaks RESP2. */
export type StreamsReply = Array<{ name: string; messages: Array<{ id: string; message: unknown }> }> | null;

export function isReplyError(error: unknown, prefix: string): boolean {
  return error instanceof Error && error.message.startsWith(prefix);
}
