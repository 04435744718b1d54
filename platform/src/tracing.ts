import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import {
  context,
  diag,
  DiagLogLevel,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type SpanOptions,
  type Tracer,
} from '@opentelemetry/api';
import type * as OtelCore from '@opentelemetry/core';
import type * as OtlpTraceExporter from '@opentelemetry/exporter-trace-otlp-http';
import type * as OtelResources from '@opentelemetry/resources';
import type * as SdkTraceNode from '@opentelemetry/sdk-trace-node';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { z } from 'zod';
import { assertNever } from './assert.ts';
import { booleanFromEnv } from './config.ts';
import { defineEnvFragment, parseFragments } from './config/fragment.ts';
import type { Logger } from './logger.ts';

/**
 * OpenTelemetry tracing, one tracer provider per process, configured by the
 * standard `OTEL_*` variables (docs/tracing-and-logs.md). Without an
 * endpoint nothing is registered: every span the code starts is the API's
 * no-op, and no trace context is read from or written to any request.
 *
 * Spans are made where the work happens: the HTTP server span in
 * http/server.ts, a span per SQL statement in db/database.ts, root-field
 * resolver spans in subgraph/tracing.ts, and @apollo/gateway's own
 * `gateway.*` spans on the router, whose `gateway.fetch` span is the parent
 * of the subgraph's server span (router/src/subgraph-fetch).
 */

/** The `OTEL_TRACES_SAMPLER` values this service understands. */
export const samplerNames = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export type SamplerName = (typeof samplerNames)[number];

export interface TracingConfig {
  /** `service.name` of every span this process exports. */
  serviceName: string;
  /** Where spans are POSTed, as OTLP over HTTP (JSON); null: tracing is off. */
  tracesUrl: string | null;
  sampler: SamplerName;
  /** Share of traces kept by the `*traceidratio` samplers, 0 to 1. */
  samplerRatio: number;
}

// The OpenTelemetry spec reads an empty variable as unset; compose files write them that way.
const unsetWhenEmpty = (value: unknown) => (value === '' ? undefined : value);
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/**
 * The standard variables, as a config fragment: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * (the full URL), else `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL that
 * `/v1/traces` is appended to); neither, or `OTEL_SDK_DISABLED=true`, turns
 * tracing off. `OTEL_SERVICE_NAME` defaults to the service's own name.
 */
export function tracingEnv(serviceName: string) {
  return defineEnvFragment({
    variables: {
      OTEL_SDK_DISABLED: z.preprocess(unsetWhenEmpty, booleanFromEnv.optional()),
      OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(unsetWhenEmpty, httpUrl.optional()),
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.preprocess(unsetWhenEmpty, httpUrl.optional()),
      OTEL_SERVICE_NAME: z.preprocess(unsetWhenEmpty, z.string().optional()),
      OTEL_TRACES_SAMPLER: z.preprocess(
        unsetWhenEmpty,
        z.enum(samplerNames, { message: `expected one of ${samplerNames.join(', ')}` }).optional(),
      ),
      OTEL_TRACES_SAMPLER_ARG: z.preprocess(
        unsetWhenEmpty,
        z.coerce
          .number({ message: 'expected a ratio from 0 to 1' })
          .min(0, 'expected a ratio from 0 to 1')
          .max(1, 'expected a ratio from 0 to 1')
          .optional(),
      ),
    },
    // Only the sampler's: the exporter and the resource read further OTEL_* variables of their own.
    prefixes: ['OTEL_TRACES_SAMPLER'],
    fromEnv: (vars): TracingConfig => ({
      serviceName: vars.OTEL_SERVICE_NAME ?? serviceName,
      tracesUrl: vars.OTEL_SDK_DISABLED
        ? null
        : (vars.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
          (vars.OTEL_EXPORTER_OTLP_ENDPOINT ? signalUrl(vars.OTEL_EXPORTER_OTLP_ENDPOINT, 'v1/traces') : null)),
      sampler: vars.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on',
      samplerRatio: vars.OTEL_TRACES_SAMPLER_ARG ?? 1,
    }),
  });
}

/** Reads `tracingEnv` alone, for an entry point whose other settings are parsed apart. */
export function tracingConfigFromEnv(serviceName: string, env: NodeJS.ProcessEnv = process.env): TracingConfig {
  return parseFragments({ tracing: tracingEnv(serviceName) }, env).options.tracing;
}

/** The spec's rule for the base endpoint: the signal's path is appended to whatever path it has. */
function signalUrl(base: string, path: string): string {
  return new URL(path, base.endsWith('/') ? base : `${base}/`).toString();
}

/**
 * The SDK (@opentelemetry/sdk-trace-node, resources, core and the OTLP
 * exporter) is loaded by `startTracing`, and only when it registers a
 * provider, rather than when this module is imported: every service imports
 * this one (its HTTP server and database make their spans through it), and
 * the SDK's modules are a tenth of a second or more of a cold start, which
 * a service with tracing off would pay for nothing.
 * The packages are CommonJS (a `main`, no `exports` map), so `require`
 * loads what `import()` would, synchronously: `startTracing` stays
 * synchronous for the entry points, as node-redis's load does
 * (cache/redis.ts), and the router's bundle leaves the SDK in node_modules
 * (scripts/build.ts). Only types are imported statically.
 */
const load = createRequire(import.meta.url);

export interface Tracing {
  /** Whether spans are recorded: false means the API's no-op everywhere. */
  readonly enabled: boolean;
  /** Exports what is still buffered and unregisters the provider; for the entry point's stop. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Told of export failures (a collector that is down), at warn. Default: nobody. */
  logger?: Logger | null;
  /**
   * Further span processors, beside the OTLP exporter's; tests pass an
   * in-memory exporter here, which turns tracing on without an endpoint.
   * Default: none.
   */
  spanProcessors?: SpanProcessor[];
}

/**
 * Registers this process's tracer provider, W3C trace context propagation
 * and the AsyncLocalStorage context manager, when `config` names an
 * endpoint (or `spanProcessors` are given). Call once, at start, before
 * serving.
 */
export function startTracing(
  config: TracingConfig,
  { logger = null, spanProcessors = [] }: TracingOptions = {},
): Tracing {
  if (!config.tracesUrl && spanProcessors.length === 0) return { enabled: false, shutdown: async () => {} };
  if (logger) {
    const warn = (message: string, ...args: unknown[]) => logger.warn({ detail: args }, `tracing: ${message}`);
    diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
  }
  const sdk = load('@opentelemetry/sdk-trace-node') as typeof SdkTraceNode;
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = load(
    '@opentelemetry/resources',
  ) as typeof OtelResources;
  const { W3CTraceContextPropagator } = load('@opentelemetry/core') as typeof OtelCore;
  const processors = [...spanProcessors];
  if (config.tracesUrl) {
    // Only with an endpoint: tests that pass their own processors skip the exporter's tenth of a second.
    const { OTLPTraceExporter } = load('@opentelemetry/exporter-trace-otlp-http') as typeof OtlpTraceExporter;
    processors.push(new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: config.tracesUrl })));
  }
  const provider = new sdk.NodeTracerProvider({
    // The SDK's own attributes (telemetry.sdk.*), which 2.x no longer merges in when given a resource;
    // OTEL_RESOURCE_ATTRIBUTES (deployment.environment, service.version…) over them; the name is ours.
    resource: defaultResource()
      .merge(detectResources({ detectors: [envDetector] }))
      .merge(resourceFromAttributes({ 'service.name': config.serviceName })),
    sampler: samplerOf(sdk, config),
    spanProcessors: processors,
  });
  // W3C trace context only: baggage from a client would be forwarded to every subgraph unread.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  providersRegistered++;
  let registered = true;
  return {
    enabled: true,
    async shutdown() {
      if (registered) providersRegistered--;
      registered = false;
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
      diag.disable();
    },
  };
}

/**
 * Tracer providers registered by `startTracing` and not shut down. With
 * none, every span would be a no-op: the request's span is then not made
 * at all, which saves the API's context switching on every request.
 */
let providersRegistered = 0;

/** A span that records nothing, handed to `serve` when tracing is off. */
const untracedSpan: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

function samplerOf(
  { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler }: typeof SdkTraceNode,
  { sampler, samplerRatio }: TracingConfig,
): Sampler {
  switch (sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(samplerRatio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(samplerRatio) });
    default:
      return assertNever(sampler, 'sampler');
  }
}

/**
 * The tracer every span of ours comes from. Looked up per use rather than
 * held: a tracer taken before a provider is registered stays a no-op
 * forever once the provider is replaced, as tests do.
 */
export function tracer(): Tracer {
  return trace.getTracer('shop-graph');
}

/** Whether a span is active here, so that a child span would be made: callers on hot paths check it before building a span's name and attributes. */
export function inTracedWork(): boolean {
  return providersRegistered > 0 && trace.getActiveSpan() !== undefined;
}

/**
 * Runs `work` in a child span of the active one, ending the span when
 * `work` returns or, for a promise, settles. Without an active span (no
 * request being traced, or tracing off) `work` just runs: work outside a
 * request, such as a poller's statements, would otherwise make a trace of
 * one span each time it runs.
 */
export function inChildSpan<T>(name: string, options: SpanOptions, work: () => T): T {
  if (!inTracedWork()) return work();
  return tracer().startActiveSpan(name, options, (span) => {
    let result: T;
    try {
      result = work();
    } catch (error) {
      endFailed(span, error);
      throw error;
    }
    if (!isPromiseLike(result)) {
      span.end();
      return result;
    }
    return Promise.resolve(result).then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        endFailed(span, error);
        throw error;
      },
    ) as T;
  });
}

/**
 * Runs `serve` as the SERVER span of one incoming request, a child of the
 * trace context the caller sent in `traceparent`, if any. Every caller's
 * context is continued, a client's included: a browser or app that traces
 * its own requests then sees the graph in the same trace. A client can thus
 * choose its trace id and ask for sampling; docs/tracing-and-logs.md says
 * how to sample regardless of what clients ask.
 */
export function inServerSpan<T>(
  incoming: IncomingMessage,
  route: string,
  serve: (span: Span) => Promise<T>,
): Promise<T> {
  if (providersRegistered === 0) return serve(untracedSpan);
  const method = incoming.method ?? 'GET';
  const parent = propagation.extract(ROOT_CONTEXT, incoming.headers);
  return tracer().startActiveSpan(
    `${method} ${route}`,
    {
      kind: SpanKind.SERVER,
      // HTTP semantic conventions, written out: the package is not a direct dependency.
      attributes: { 'http.request.method': method, 'http.route': route, 'server.port': incoming.socket.localPort ?? 0 },
    },
    parent,
    async (span) => {
      try {
        return await serve(span);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * The active span's W3C `traceparent`, to be carried where headers cannot
 * go (a domain event, through the outbox and the event stream); undefined
 * when no request is being traced.
 */
export function activeTraceparent(): string | undefined {
  if (!inTracedWork()) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/**
 * Runs `work` in a span continuing the trace `traceparent` names: the
 * request that recorded an event, for the work the event causes elsewhere
 * (a subscription's router completing it). Without a traceparent, or with
 * tracing off, `work` just runs: an event of unknown origin would
 * otherwise make a trace of its own each time.
 */
export async function inSpanContinuing<T>(
  traceparent: string | undefined,
  name: string,
  options: SpanOptions,
  work: () => Promise<T>,
): Promise<T> {
  if (providersRegistered === 0 || !traceparent) return work();
  const parent = propagation.extract(ROOT_CONTEXT, { traceparent });
  return tracer().startActiveSpan(name, options, parent, async (span) => {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      endFailed(span, error);
      throw error;
    }
    span.end();
    return result;
  });
}

function endFailed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.end();
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
