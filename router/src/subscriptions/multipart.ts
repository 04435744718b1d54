import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../../../platform/src/errors.ts';
import { readBodyBytes } from '../../../platform/src/http/server.ts';
import type { Logger } from '../../../platform/src/logger.ts';
import { SubscriptionRestart } from '../executor/index.ts';
import type { RouterResponse } from '../plugins/plugin.ts';
import {
  atTokenExpiry,
  resumePositionOf,
  runStreamed,
  type Outcome,
  type StartStreamed,
  type StreamedOperation,
} from './start.ts';

export interface MultipartOptions {
  start: StartStreamed;
  logger: Logger;
  /** How often an idle subscription sends a heartbeat part (`{}`), so proxies keep the response open. Default: 5 s. */
  heartbeatMs?: number;
  /** Largest request body accepted, in bytes. Default: 2 MiB, as the HTTP layer. */
  maxBodyBytes?: number;
  /** Bytes of events a client may leave unread before its subscription ends as too slow (SubscriptionLimits). */
  unreadBytes: number;
  /** Told when a subscription ends because its client fell behind. */
  closedSlow: () => void;
  /** Told when a subscription ends because its token expired. */
  closedExpired: () => void;
}

export interface MultipartEndpoint {
  /** Whether a request's `Accept` asks for a multipart subscription (Apollo Client's `subscriptionSpec`). */
  accepts(accept: string): boolean;
  handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void>;
  readonly open: number;
  /** Ends every open subscription response: clients subscribe again, on another instance, after their last position. */
  close(): Promise<void>;
}

const boundary = 'graphql';
/**
 * Each part is written with the boundary after it, not before: a client
 * hands a part on once it sees the boundary that ends it, so a part with
 * its boundary still to come would wait for the next event or heartbeat.
 */
const firstBoundary = `\r\n--${boundary}`;
const part = (json: string) => `\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${json}\r\n--${boundary}`;
/** After the last part's boundary, which makes it the closing one. */
const closing = '--\r\n';
/** A transport-level error, as the multipart subscription protocol puts it: no payload, the errors beside it. */
function endedPart(message: string, code: string): string {
  return JSON.stringify({ payload: null, errors: [{ message, extensions: { code } }] });
}
const tooSlowPart = endedPart(
  'This client fell too far behind its events: subscribe again after the last one received.',
  ErrorCode.SubscriberTooSlow,
);
/**
 * The last part of a stopping router, and of a reload's replaced graph: an
 * error part, not a quiet end, since Apollo Client completes a subscription
 * that simply ends, and never resubscribes.
 */
const restartingPart = endedPart(
  'The router is restarting or replacing its graph: subscribe again to resume after the last event received.',
  ErrorCode.ServiceRestart,
);

/**
 * Subscriptions over multipart HTTP, as Apollo Client's HttpLink speaks
 * them (`Accept: multipart/mixed;boundary="graphql";subscriptionSpec=1.0`):
 * one POST per subscription, answered with a part per event
 * (`{"payload": <result>}`, its position in `payload.extensions`) and an
 * empty `{}` part every few seconds while nothing happens. The operation
 * runs through the router as any POST; a request it refuses is answered
 * as that POST would be (a 401 for a bad token, say), not as a stream.
 */
export function multipartEndpoint({
  start,
  logger,
  heartbeatMs = 5_000,
  maxBodyBytes = 2 * 1024 * 1024,
  unreadBytes,
  closedSlow,
  closedExpired,
}: MultipartOptions): MultipartEndpoint {
  const open = new Set<ServerResponse>();
  return {
    accepts: (accept) => accept.includes('multipart/mixed') && accept.includes('subscriptionSpec'),
    async handle(incoming, outgoing) {
      let operation: StreamedOperation;
      try {
        operation = JSON.parse((await readBodyBytes(incoming, maxBodyBytes)).toString('utf8')) as StreamedOperation;
        if (typeof operation?.query !== 'string') throw new Error('no query');
      } catch {
        outgoing.writeHead(400, { 'content-type': 'application/json; charset=utf-8' });
        outgoing.end(
          JSON.stringify({
            errors: [{ message: 'The body is not a GraphQL request.', extensions: { code: 'BAD_REQUEST' } }],
          }),
        );
        return;
      }
      const run = await runStreamed(start, incoming, operation, {
        protocol: 'multipart',
        authorization: incoming.headers.authorization ?? null,
        resumeAfter: resumePositionOf(operation.extensions?.resumeAfter),
      });
      const events = 'args' in run ? (run.args.contextValue as Outcome).events : undefined;
      if (!events) return writeWhole(outgoing, run.response);
      outgoing.writeHead(200, {
        'content-type': `multipart/mixed;boundary="${boundary}";subscriptionSpec="1.0"`,
        'cache-control': 'no-store',
      });
      outgoing.write(firstBoundary);
      open.add(outgoing);
      const heartbeat = setInterval(() => outgoing.write(part('{}')), heartbeatMs);
      // The subscription lasts no longer than the token it was authorized with.
      const cancelExpiry = atTokenExpiry(run.viewer, () => {
        closedExpired();
        outgoing.end(
          part(
            endedPart(
              'The token this subscription was authorized with expired: subscribe again with a new one.',
              ErrorCode.Unauthenticated,
            ),
          ) + closing,
        );
      });
      outgoing.once('close', () => {
        cancelExpiry();
        open.delete(outgoing);
        clearInterval(heartbeat);
        void events.return?.(undefined);
      });
      let last = closing;
      try {
        for await (const event of events) {
          if (outgoing.destroyed || outgoing.writableEnded) break;
          if (outgoing.writableLength > unreadBytes) {
            // Ended rather than buffered without bound: the client subscribes again after its last position.
            closedSlow();
            outgoing.write(part(tooSlowPart));
            break;
          }
          outgoing.write(part(JSON.stringify({ payload: event })));
        }
      } catch (error) {
        // The graph serving it was replaced: it ends as `close` ends it.
        if (error instanceof SubscriptionRestart) last = part(restartingPart) + closing;
        else logger.warn({ err: error }, 'a multipart subscription failed');
      } finally {
        clearInterval(heartbeat);
      }
      if (!outgoing.writableEnded) outgoing.end(last);
    },
    get open() {
      return open.size;
    },
    async close() {
      for (const outgoing of open) outgoing.end(part(restartingPart) + closing);
      open.clear();
    },
  };
}

/** The router's answer as the POST would have had it. */
function writeWhole(outgoing: ServerResponse, response: RouterResponse) {
  for (const [name, value] of response.headers) outgoing.setHeader(name, value);
  outgoing.statusCode = response.status ?? 200;
  const body = response.body;
  outgoing.end(body.kind === 'bytes' ? body.bytes : body.kind === 'complete' ? body.string : undefined);
}
