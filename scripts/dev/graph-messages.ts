/**
 * What `npm start` (scripts/start.ts) and the process running the graph
 * (scripts/dev/graph-host.ts) tell each other over the IPC channel between
 * them, beside the start steps of platform/src/progress.ts. Kept apart from
 * both so that `npm start` need not load the graph's code to speak to it.
 */

const tag = 'shop-graph';

/** From `npm start` to the graph. */
export type GraphCommand =
  /** Start the router: every subgraph is ready. */
  | { graph: typeof tag; command: 'start-router' }
  /** Stop `service` and start it again on the code now on disk (hot reload). */
  | { graph: typeof tag; command: 'restart'; service: string };

/** From the graph to `npm start`. */
export type GraphReport =
  /** `service` could not start again: its code does not load, or its start failed. */
  { graph: typeof tag; report: 'failed'; service: string; reason: string };

export function graphCommand(command: GraphCommand['command'], service?: string): GraphCommand {
  return command === 'restart' ? { graph: tag, command, service: service ?? '' } : { graph: tag, command };
}

export function failedReport(service: string, reason: string): GraphReport {
  return { graph: tag, report: 'failed', service, reason };
}

export function isGraphCommand(message: unknown): message is GraphCommand {
  return isTagged(message) && typeof (message as { command?: unknown }).command === 'string';
}

export function isGraphReport(message: unknown): message is GraphReport {
  return isTagged(message) && (message as { report?: unknown }).report === 'failed';
}

function isTagged(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { graph?: unknown }).graph === tag;
}
