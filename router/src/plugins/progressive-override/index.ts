import { noOverrideLabels, type RouterPlugin, type RouterRequest } from '../plugin.ts';
import { labelsIn, supergraphLabels, type SupergraphLabels } from './labels.ts';

export { supergraphLabels, type SupergraphLabels } from './labels.ts';

export interface ProgressiveOverridePluginOptions {
  /**
   * A request header that names labels to turn on, comma-separated, for
   * trying a field's new owner before its percentage is raised. Any client
   * can send it, so set it only where that is wanted (staging, an internal
   * router).
   * @default null: no header is read
   */
  header?: string | null;
  /**
   * A claim of the verified bearer token that names labels to turn on: a
   * comma- or space-separated string, or a list of strings. Something else
   * in the claim is ignored, not refused: it says nothing about who calls.
   * @default null: no claim is read
   */
  claim?: string | null;
  /**
   * A number in [0, 1), drawn for each `percent(N)` label of each request.
   * @default Math.random
   */
  random?: () => number;
}

/**
 * Versions whose labels are kept. A request fixes its supergraph version
 * before its operation stage and versions are replaced one at a time, so
 * only the newest few can still be asked for; older ones are dropped.
 */
const keptVersions = 8;

/**
 * Progressive override: which `@override(label:)` labels are on for a
 * request. Each `percent(N)` label of the serving supergraph is on for N%
 * of requests, drawn per request; other labels are on when the configured
 * header or token claim names them. A label the supergraph does not declare
 * is dropped, so a caller cannot grow the set of plans (or of cache
 * entries) with made-up names.
 *
 * The labels go into `RouterRequest.overrideLabels` in the operation stage,
 * once the version is fixed and before the response cache looks the
 * request up (it must be listed before that plugin), and from there into
 * the context the query planner reads.
 */
export function progressiveOverridePlugin({
  header = null,
  claim = null,
  random = Math.random,
}: ProgressiveOverridePluginOptions = {}): RouterPlugin {
  const byVersion = new Map<string, SupergraphLabels>();
  const headerName = header?.toLowerCase() ?? null;
  return {
    name: 'progressive override',
    graph({ sdl, id }) {
      byVersion.delete(id);
      byVersion.set(id, supergraphLabels(sdl));
      if (byVersion.size > keptVersions) byVersion.delete(byVersion.keys().next().value!);
      return {};
    },
    onOperation(request) {
      const labels = byVersion.get(request.graphId);
      if (labels && labels.all.size > 0) request.overrideLabels = activeLabels(request, labels);
    },
  };

  function activeLabels(request: RouterRequest, labels: SupergraphLabels): ReadonlySet<string> {
    const active = new Set<string>();
    for (const { label, percent } of labels.percent) if (random() * 100 < percent) active.add(label);
    const asked = [
      ...(headerName ? labelsIn(request.http.headers.get(headerName)) : []),
      ...(claim && request.viewer?.claims ? labelsIn(request.viewer.claims[claim]) : []),
    ];
    for (const label of asked) if (labels.all.has(label)) active.add(label);
    return active.size > 0 ? active : noOverrideLabels;
  }
}
