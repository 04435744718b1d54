import { createRequire } from 'node:module';
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export interface LoggerSettings {
  /** Service name on every line. */
  service: string;
  /** Minimum level. Default: `info`. */
  level?: LoggerOptions['level'];
  /** Human-readable lines instead of JSON. Default: off; `npm start` turns it on. */
  pretty?: boolean;
}

// Credentials must never reach a log line, whichever component logs the request.
const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.token',
  '*.databaseUrl',
];

const require = createRequire(import.meta.url);

function prettyTransportAvailable(): boolean {
  try {
    require.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export function createLogger({ service, level = 'info', pretty = false }: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level,
    base: { service },
    redact: { paths: redactedPaths, censor: '[redacted]' },
  };
  // pino-pretty is a dev dependency; a production image without it still logs JSON.
  if (pretty && prettyTransportAvailable()) {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { ignore: 'pid,hostname,service', messageFormat: `[${service}] {msg}` },
      },
    });
  }
  return pino(options);
}
