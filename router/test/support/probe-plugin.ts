import type { RouterPlugin } from '../../src/plugins/plugin.ts';

/** What the probe saw of one request, in the order its hooks ran. */
export interface ProbedRequest {
  hooks: string[];
  answeredBy: string | null;
  /** The operation's document hash as the front stage read it. */
  documentHash: string | null;
}

/**
 * A plugin from outside the router's source, as a third party would write
 * one: it records which hooks ran for each request, and stamps every
 * answer with a header, so a test sees it run on a cache hit and a miss.
 */
export function probePlugin(): RouterPlugin & { seen: ProbedRequest[]; stopped: boolean } {
  const seen: ProbedRequest[] = [];
  // Per-request state kept in the plugin, keyed by the request.
  const probes = new WeakMap<object, ProbedRequest>();
  const plugin: RouterPlugin & { seen: ProbedRequest[]; stopped: boolean } = {
    name: 'probe',
    seen,
    stopped: false,
    onRequest(request) {
      const probe: ProbedRequest = { hooks: ['onRequest'], answeredBy: null, documentHash: null };
      probes.set(request, probe);
      seen.push(probe);
    },
    onOperation(request) {
      const probe = probes.get(request);
      probe?.hooks.push('onOperation');
      if (probe) probe.documentHash = request.operation?.documentHash ?? null;
    },
    context(request) {
      probes.get(request)?.hooks.push('context');
      return {};
    },
    apollo: {
      async requestDidStart({ contextValue }) {
        probes.get(contextValue.request)?.hooks.push('apollo');
      },
    },
    onResponse(request, response, answeredBy) {
      const probe = probes.get(request);
      probe?.hooks.push('onResponse');
      if (probe) probe.answeredBy = answeredBy;
      response.headers.set('x-probe', 'seen');
    },
    stops: [
      {
        name: 'probe',
        stop: () => {
          plugin.stopped = true;
        },
      },
    ],
  };
  return plugin;
}
