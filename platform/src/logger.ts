import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import type { ApolloServerPlugin } from '@apollo/server';
import { context, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { serializeError } from './db/logged-errors.ts';

export type { Logger };

export interface LoggerSettings {
  /** Service name on every line. */
  service: string;
  /** Minimum level. Default: `info`. */
  level?: LoggerOptions['level'];
  /** Human-readable lines instead of JSON. Default: off; `npm start` turns it on. */
  pretty?: boolean;
  /** Where JSON lines go, such as a test's capture. Default: stdout. Ignored when `pretty`. */
  destination?: DestinationStream;
}

// Credentials must never reach a log line, whichever component logs them and
// however deep: pino's redact matches exact paths, so each name is listed at
// every depth a logged object has (a header under `req.headers` is two deep,
// a config value under `config.database` as well).
const secretKeys = [
  'authorization',
  'cookie',
  '["set-cookie"]',
  '["x-verified-identity"]',
  'password',
  'secret',
  'token',
  'identitySecret',
  'jwtSecret',
  'purgeToken',
  'accessToken',
  'refreshToken',
];
/** Connection strings: only their password is hidden, so the host still shows where it pointed. */
const urlKeys = ['url', 'databaseUrl', 'redisUrl'];
const redactedDepths = ['', '*.', '*.*.', '*.*.*.'];

export const redactedPaths = redactedDepths.flatMap((depth) =>
  [...secretKeys, ...urlKeys].map((key) => (key.startsWith('[') ? `${depth.slice(0, -1)}${key}` : `${depth}${key}`)),
);

export const redactedText = '[redacted]';

function censor(value: unknown, path: string[]): unknown {
  const key = path.at(-1);
  if (key !== undefined && urlKeys.includes(key)) return typeof value === 'string' ? withoutPassword(value) : value;
  return redactedText;
}

/** `postgres://shop:hunter2@db/shop` → `postgres://shop:[redacted]@db/shop`; anything else as it is. */
function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#@]*@/i, `$1:${redactedText}@`);
}

/** What every log line written while serving one request carries. */
export interface RequestLogFields {
  /** The request's id, as in its `x-request-id` header. */
  requestId: string;
  /** The GraphQL operation's name, once Apollo Server has resolved it. */
  operationName?: string;
}

// One store per request, reaching every log line written in its async
// continuations (resolvers, loaders, plugins) without passing a logger down.
const requestLogFields = new AsyncLocalStorage<RequestLogFields>();

/** Runs `serve` with `fields` on every line it logs, however deep. */
export function withRequestLogFields<T>(fields: RequestLogFields, serve: () => T): T {
  return requestLogFields.run(fields, serve);
}

/**
 * Adds the resolved operation's name to the request's log lines: the name
 * from the parsed document, never one a client merely sent.
 */
export function requestLogPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operationName }) {
          const fields = requestLogFields.getStore();
          if (fields && operationName) fields.operationName = operationName;
        },
      };
    },
  };
}

/** The request's fields and, when a span is active, its trace: a new object per line, as pino asks. */
function requestMixin(): object {
  const fields = requestLogFields.getStore();
  const span = trace.getSpanContext(context.active());
  if (!span) return fields ? { ...fields } : {};
  return { ...fields, traceId: span.traceId, spanId: span.spanId };
}

const require = createRequire(import.meta.url);

function prettyTransportAvailable(): boolean {
  try {
    require.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export function createLogger({ service, level = 'info', pretty = false, destination }: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level,
    base: { service },
    mixin: requestMixin,
    redact: { paths: redactedPaths, censor },
    // Parameter values never reach a log line: a failed statement is logged by its text and diagnostics.
    serializers: { err: serializeError },
  };
  // pino-pretty is a dev dependency; a production image without it still logs JSON.
  if (pretty && prettyTransportAvailable()) {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        // The request's id and operation lead the line; the trace id, when there is one, follows it.
        options: {
          ignore: 'pid,hostname,service,requestId,operationName,spanId',
          messageFormat: `[${service}]{if requestId} {requestId}{end}{if operationName} {operationName}{end} {msg}`,
        },
      },
    });
  }
  return destination ? pino(options, destination) : pino(options);
}
