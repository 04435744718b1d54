import type { FetchNode, PlanNode, QueryPlan } from '@apollo/query-planner';

/**
 * When the fetches of a plan are sent, so that fewer requests go out.
 *
 * The executor sends in waves (./execute-plan.ts): every fetch whose inputs
 * are ready leaves in the same wave, and the fetches of a wave to one
 * subgraph leave as one request. Sent as soon as it can be, a fetch that
 * nothing waits for (a leaf: no later step of the plan reads what it
 * returns) may be the only one to its subgraph in its wave, while a later
 * wave asks that subgraph anyway. Holding it for that wave saves a request
 * and costs no wave: the plan runs as many waves as before, since a leaf
 * is never held past the last one.
 *
 * Levels are counted as if every fetch of the plan runs (both branches of a
 * Condition, every Flatten non-empty). At run time some do not; a held
 * fetch whose wave never comes is sent once nothing else is left to send.
 */
export interface FetchSchedule {
  /** The wave a fetch waits for, counted from 0, for each fetch that is held; others go when ready. */
  notBefore: ReadonlyMap<FetchNode, number>;
}

interface Timed {
  fetch: FetchNode;
  /** The wave it is ready in, every earlier fetch sent as soon as ready. */
  earliest: number;
  /** Whether a later step of the plan reads its answer. */
  leaf: boolean;
}

const schedules = new WeakMap<QueryPlan, FetchSchedule>();

const nothingHeld: FetchSchedule = { notBefore: new Map() };

/** The plan's schedule, worked out once per plan: a plan lives as long as its cache keeps it. */
export function scheduleOf(plan: QueryPlan): FetchSchedule {
  let schedule = schedules.get(plan);
  if (!schedule) {
    // A deferred plan holds nothing back: a held fetch could delay a payload that was ready to go.
    schedule =
      plan.node && plan.node.kind !== 'Subscription' && !hasDefer(plan.node) ? scheduleNode(plan.node) : nothingHeld;
    schedules.set(plan, schedule);
  }
  return schedule;
}

function scheduleNode(root: PlanNode): FetchSchedule {
  const timed: Timed[] = [];
  const waves = walk(root, 0, true, timed);
  if (waves <= 1) return nothingHeld;
  const last = waves - 1;
  const notBefore = new Map<FetchNode, number>();
  for (const [, fetches] of groupBy(timed, ({ fetch }) => fetch.serviceName)) {
    // Waves this subgraph is asked in anyway, by fetches that cannot move.
    const asked = new Set(fetches.filter(({ leaf }) => !leaf).map(({ earliest }) => earliest));
    // A leaf may go in any wave from its earliest to the last: join the first one the subgraph is asked in, or
    // else meet the other movable leaves in the last wave (a point every one of their ranges holds).
    const movable = fetches.filter(({ leaf }) => leaf).sort((a, b) => a.earliest - b.earliest);
    for (const { fetch, earliest } of movable) {
      let wave = earliest;
      while (wave < last && !asked.has(wave)) wave++;
      asked.add(wave);
      if (wave > earliest) notBefore.set(fetch, wave);
    }
  }
  return notBefore.size > 0 ? { notBefore } : nothingHeld;
}

/**
 * Records each fetch below `node` with the wave it is ready in when `node`
 * starts in wave `start`, and returns the wave after its last fetch.
 * `last` says whether nothing after `node` waits for it.
 */
function walk(node: PlanNode, start: number, last: boolean, out: Timed[]): number {
  switch (node.kind) {
    case 'Fetch':
      out.push({ fetch: node, earliest: start, leaf: last });
      return start + 1;
    case 'Flatten':
      return walk(node.node, start, last, out);
    case 'Sequence': {
      let wave = start;
      node.nodes.forEach((child, index) => {
        wave = walk(child, wave, last && index === node.nodes.length - 1, out);
      });
      return wave;
    }
    case 'Parallel':
      return Math.max(start, ...node.nodes.map((child) => walk(child, start, last, out)));
    case 'Condition':
      return Math.max(
        node.ifClause ? walk(node.ifClause, start, last, out) : start,
        node.elseClause ? walk(node.elseClause, start, last, out) : start,
      );
    case 'Defer':
      // Never reached: deferred plans are not scheduled (scheduleOf).
      return start;
  }
}

function hasDefer(node: PlanNode): boolean {
  switch (node.kind) {
    case 'Defer':
      return true;
    case 'Fetch':
      return false;
    case 'Flatten':
      return hasDefer(node.node);
    case 'Sequence':
    case 'Parallel':
      return node.nodes.some(hasDefer);
    case 'Condition':
      return [node.ifClause, node.elseClause].some((branch) => branch !== undefined && hasDefer(branch));
  }
}

function groupBy<T, K>(items: readonly T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
