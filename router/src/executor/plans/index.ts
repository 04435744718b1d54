import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { operationFromDocument, Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type QueryPlan, type QueryPlannerConfig } from '@apollo/query-planner';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { parse, print, type DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../../../platform/src/logger.ts';
import { withSubgraphEnforcedSecurity } from '../served-supergraph.ts';
import { plannedDocumentsOf } from '../defer/operation.ts';
import { deferEnabled, type PlanRequest, type PlanSource } from '../plan-source.ts';
import { overrideLabelsOf } from './override-labels.ts';
import { deserializePlan, serializePlan } from './serialize.ts';

export { overrideLabelsOf, warmLabelSets, type OverrideLabels } from './override-labels.ts';
export { deserializePlan, serializePlan } from './serialize.ts';

/** Where a plan came from: this instance's memory, the cache instances share, or the planner just now. */
export type PlanOrigin = 'memory' | 'shared' | 'planned';

/** Told about every plan handed out and every run of the planner (RouterMetrics is one). */
export interface QueryPlansObserver {
  /**
   * A plan was handed out. Requests that waited for the same key's planning
   * in flight count with the origin of that planning.
   */
  queryPlanServed(origin: PlanOrigin): void;
  /** The planner ran once, for `seconds`, whether it produced a plan or threw. */
  queryPlanned(seconds: number): void;
}

export interface QueryPlansOptions {
  /**
   * The cache router instances share (RouterServices.cache: Redis when
   * configured). Plans are stored under
   * `qp:<supergraph hash>:<planner version>:<operation key>`, so instances
   * on the same supergraph share them and instances on another never read or
   * overwrite them. A failing cache is a miss. Default: null, memory only.
   */
  shared?: KeyValueCache<string> | null;
  /**
   * How long a plan stays in the shared cache. Entries are never deleted
   * (another instance may still run their supergraph), so this is what
   * clears the plans of supergraphs no instance runs any more. Default: one day.
   */
  sharedTtlSeconds?: number;
  /**
   * Bound of this instance's plans in memory, in bytes of their JSON form
   * (an approximation of their heap size). Default: 32 MiB.
   */
  memoryBytes?: number;
  /** Told where each plan came from and how long planning took. Default: null. */
  observer?: QueryPlansObserver | null;
  /** Where shared-cache failures and unreadable entries are logged. Default: null, nowhere. */
  logger?: Logger | null;
  /** Passed to @apollo/query-planner; it changes plans, so it is part of the shared key. Default: {}. */
  planner?: QueryPlannerConfig;
}

/** One operation to plan ahead, as the trusted documents list it (operationsOf). */
export interface WarmOperation {
  /** Text is parsed here; one that does not parse counts as failed. */
  document: DocumentNode | string;
  /** Needed when the document holds more than one operation. */
  operationName?: string;
}

export interface WarmUpOptions {
  /**
   * Each operation is planned once for each of these sets of active
   * override labels. Default: one empty set (no override label active).
   */
  labelSets?: readonly ReadonlySet<string>[];
}

export interface WarmUpReport {
  /** Operations times label sets. */
  operations: number;
  /** Planned here. */
  planned: number;
  /** Read from the shared cache. */
  shared: number;
  /** Already in this instance's memory. */
  memory: number;
  /** Could not be planned (not valid for this supergraph, say); each is listed in `failures`. */
  failed: number;
  failures: { operationName: string | null; message: string }[];
  /** Wall time of the whole warm-up, in milliseconds. */
  ms: number;
}

/** Keys in the shared cache start with this, as other features' start with theirs. */
const sharedPrefix = 'qp:';
const defaultSharedTtlSeconds = 24 * 60 * 60;
const defaultMemoryBytes = 32 * 1024 * 1024;

const plannerPackageVersion = (
  createRequire(import.meta.url)('@apollo/query-planner/package.json') as { version: string }
).version;

interface Resolved {
  plan: QueryPlan;
  origin: PlanOrigin;
}

interface Keyed {
  /** The operation's key within this supergraph and planner. */
  key: string;
  /** The request's override labels that this supergraph has, sorted. */
  labels: string[];
}

/**
 * The query plans of one supergraph: planned once per operation, document
 * and active override labels, kept in memory and, with `shared`, in the
 * cache every router instance reads, so a new instance or a restarted one
 * starts with the plans the others already made.
 */
export class QueryPlans implements PlanSource {
  /** sha256 of the supergraph SDL, hex. */
  readonly graphHash: string;
  /** The planner package's version, and a hash of its configuration when there is one. */
  readonly plannerVersion: string;
  private readonly apiSchema: Schema;
  private readonly planner: QueryPlanner;
  private readonly knownLabels: ReadonlySet<string>;
  private readonly withDocuments: boolean;
  private readonly memory: LRUCache<string, QueryPlan>;
  private readonly shared: KeyValueCache<string> | null;
  private readonly sharedTtlSeconds: number;
  private readonly observer: QueryPlansObserver | null;
  private readonly logger: Logger | null;
  /** Plannings (and shared lookups) under way, so concurrent requests for one key share them. */
  private readonly inFlight = new Map<string, Promise<Resolved>>();
  private readonly pendingWrites = new Set<Promise<void>>();
  /**
   * Apollo Server hands the same DocumentNode for the same query text (its
   * document store), so printing and hashing happen once per document.
   */
  private readonly documentHashes = new WeakMap<DocumentNode, string>();
  private sharedFailing = false;

  /** Throws, like the gateway, when the supergraph cannot be planned over. */
  constructor(
    supergraphSdl: string,
    {
      shared = null,
      sharedTtlSeconds = defaultSharedTtlSeconds,
      memoryBytes = defaultMemoryBytes,
      observer = null,
      logger = null,
      planner = {},
    }: QueryPlansOptions = {},
  ) {
    this.graphHash = sha256(supergraphSdl);
    this.plannerVersion = plannerVersionOf({ ...deferEnabled, ...planner });
    const supergraph = Supergraph.build(withSubgraphEnforcedSecurity(supergraphSdl, { contextArguments: true }));
    this.apiSchema = supergraph.apiSchema();
    this.planner = new QueryPlanner(supergraph, { ...deferEnabled, ...planner });
    const { percent, custom } = overrideLabelsOf(supergraphSdl);
    this.knownLabels = new Set([...percent.map(({ label }) => label), ...custom]);
    this.withDocuments = planner.exposeDocumentNodeInFetchNode ?? false;
    // Each entry is sized by its JSON when stored (`remember`).
    this.memory = new LRUCache<string, QueryPlan>({ maxSize: memoryBytes });
    this.shared = shared;
    this.sharedTtlSeconds = sharedTtlSeconds;
    this.observer = observer;
    this.logger = logger;
  }

  /**
   * The plan for one operation. A plan in memory is returned as it is, not
   * in a promise; without a shared cache a new plan is too, since planning
   * itself is synchronous.
   */
  planFor(request: PlanRequest): QueryPlan | Promise<QueryPlan> {
    const resolved = this.resolve(request);
    return resolved instanceof Promise ? resolved.then(({ plan }) => plan) : resolved.plan;
  }

  /**
   * Plans `operations` ahead, one after another, giving the event loop a turn
   * between them so that a version warming up beside a serving one does not
   * stall it, and waits until the plans are written to the shared cache.
   * Never rejects: an operation that cannot be planned is counted and listed.
   */
  async warm(
    operations: readonly WarmOperation[],
    { labelSets = [new Set<string>()] }: WarmUpOptions = {},
  ): Promise<WarmUpReport> {
    const started = performance.now();
    const report: Omit<WarmUpReport, 'ms'> = {
      operations: 0,
      planned: 0,
      shared: 0,
      memory: 0,
      failed: 0,
      failures: [],
    };
    const failed = (operationName: string | undefined, error: unknown, times: number) => {
      report.failed += times;
      report.failures.push({
        operationName: operationName ?? null,
        message: error instanceof Error ? error.message : String(error),
      });
    };
    for (const { document, operationName } of operations) {
      report.operations += labelSets.length;
      let parsed: DocumentNode;
      try {
        parsed = typeof document === 'string' ? parse(document, { noLocation: true }) : document;
      } catch (error) {
        failed(operationName, error, labelSets.length);
        continue;
      }
      for (const overrideLabels of labelSets) {
        try {
          // An operation with @defer is planned as requests will ask for it: whole, and in parts.
          for (const document of plannedDocumentsOf(parsed)) {
            const { origin } = await this.resolve({ document, operationName, overrideLabels });
            report[origin] += 1;
          }
        } catch (error) {
          failed(operationName, error, 1);
        }
        await nextTurn();
      }
    }
    await this.flush();
    return { ...report, ms: performance.now() - started };
  }

  /** Resolves once every plan written to the shared cache so far is written (or has failed to be). */
  async flush(): Promise<void> {
    while (this.pendingWrites.size > 0) await Promise.all(this.pendingWrites);
  }

  private resolve(request: PlanRequest): Resolved | Promise<Resolved> {
    const keyed = this.keyOf(request);
    const plan = this.memory.get(keyed.key);
    if (plan) return this.served({ plan, origin: 'memory' });
    const pending = this.inFlight.get(keyed.key);
    if (pending) return pending.then((resolved) => this.served(resolved));
    if (!this.shared) {
      const planned = this.plan(keyed, request);
      this.remember(keyed.key, planned, serializePlan(planned));
      return this.served({ plan: planned, origin: 'planned' });
    }
    const started = this.fromSharedOrPlanner(this.shared, keyed, request).finally(() =>
      this.inFlight.delete(keyed.key),
    );
    this.inFlight.set(keyed.key, started);
    return started.then((resolved) => this.served(resolved));
  }

  private served(resolved: Resolved): Resolved {
    this.observer?.queryPlanServed(resolved.origin);
    return resolved;
  }

  private async fromSharedOrPlanner(
    shared: KeyValueCache<string>,
    keyed: Keyed,
    request: PlanRequest,
  ): Promise<Resolved> {
    const sharedKey = `${sharedPrefix}${this.graphHash}:${this.plannerVersion}:${keyed.key}`;
    const stored = await this.sharedGet(shared, sharedKey);
    if (stored !== undefined) {
      const plan = deserializePlan(stored, { withDocuments: this.withDocuments });
      if (plan) {
        this.remember(keyed.key, plan, stored);
        return { plan, origin: 'shared' };
      }
      // Written by a build whose stored form differs, or damaged: planning again overwrites it.
      this.logger?.warn({ key: sharedKey }, 'unreadable query plan in the shared cache; planning it again');
    }
    const plan = this.plan(keyed, request);
    const serialized = serializePlan(plan);
    this.remember(keyed.key, plan, serialized);
    this.sharedSet(shared, sharedKey, serialized);
    return { plan, origin: 'planned' };
  }

  /** `serialized` is made anyway for the shared cache, and its length stands for the plan's size. */
  private remember(key: string, plan: QueryPlan, serialized: string): void {
    this.memory.set(key, plan, { size: serialized.length });
  }

  private plan({ labels }: Keyed, { document, operationName }: PlanRequest): QueryPlan {
    const started = performance.now();
    try {
      const operation = operationFromDocument(this.apiSchema, document, { operationName: operationName ?? undefined });
      return this.planner.buildQueryPlan(operation, {
        overrideConditions: new Map(labels.map((label) => [label, true])),
      });
    } finally {
      this.observer?.queryPlanned((performance.now() - started) / 1000);
    }
  }

  /**
   * Labels this supergraph does not have change nothing in a plan, so they
   * are left out of the key: a request carrying a label for another
   * supergraph, or a percentage rolled for a field that is gone, shares the
   * plan of the request without it.
   */
  private keyOf({ document, operationName, overrideLabels }: PlanRequest): Keyed {
    let documentHash = this.documentHashes.get(document);
    if (documentHash === undefined) {
      documentHash = sha256(print(document));
      this.documentHashes.set(document, documentHash);
    }
    const labels: string[] = [];
    for (const label of overrideLabels) if (this.knownLabels.has(label)) labels.push(label);
    labels.sort();
    return { key: sha256(JSON.stringify([documentHash, operationName ?? null, labels])), labels };
  }

  private async sharedGet(shared: KeyValueCache<string>, key: string): Promise<string | undefined> {
    try {
      const value = await shared.get(key);
      this.sharedAnswered();
      return value;
    } catch (error) {
      this.sharedFailed(error);
      return undefined;
    }
  }

  /** Not awaited by the request that planned: it has its plan, and the write only helps the next instance. */
  private sharedSet(shared: KeyValueCache<string>, key: string, value: string): void {
    const write = (async () => {
      try {
        await shared.set(key, value, { ttl: this.sharedTtlSeconds });
        this.sharedAnswered();
      } catch (error) {
        this.sharedFailed(error);
      }
    })();
    this.pendingWrites.add(write);
    void write.finally(() => this.pendingWrites.delete(write));
  }

  /** One warning when the shared cache starts failing, and one line when it answers again, not one per request. */
  private sharedFailed(error: unknown): void {
    if (this.sharedFailing) return;
    this.sharedFailing = true;
    this.logger?.warn({ err: error }, 'shared query plan cache failing; planning without it');
  }

  private sharedAnswered(): void {
    if (!this.sharedFailing) return;
    this.sharedFailing = false;
    this.logger?.info('shared query plan cache answers again');
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The planner's options change plans, so instances configured differently
 * must not share them. The plan cache option is no planning option, and
 * whether fetches expose their documents does not change what is stored.
 */
function plannerVersionOf(config: QueryPlannerConfig): string {
  const { cache: _cache, exposeDocumentNodeInFetchNode: _documents, ...options } = config;
  const text = JSON.stringify(options, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
  return text === '{}' ? plannerPackageVersion : `${plannerPackageVersion}+${sha256(text).slice(0, 12)}`;
}
