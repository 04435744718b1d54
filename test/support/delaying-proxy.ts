import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { close } from '../../platform/src/http/server.ts';

/** A loopback proxy in front of one service that holds every request for `delayMs` first. */
export interface DelayingProxy {
  url: string;
  /** How long each request waits before it is forwarded; change it at any time. */
  delayMs: number;
  /** Requests forwarded so far. */
  readonly forwarded: number;
  /** Requests held at the pause (see `pause`) right now. */
  readonly held: number;
  /** Holds every request from now on until `resume`, so a test decides when the service answers. */
  pause(): void;
  resume(): void;
  /** While true, requests get a 502 instead of reaching the service: it is down. */
  failing: boolean;
  stop(): Promise<void>;
}

/**
 * Starts a proxy on a free loopback port that forwards to `target` (a URL
 * whose origin is used; the request's own path is kept) after `delayMs`:
 * a slow subgraph, without touching the subgraph. The delay is before the
 * request reaches the target, so the target sees it late, as it would a
 * request from far away.
 */
export async function startDelayingProxy(target: string, delayMs: number): Promise<DelayingProxy> {
  const { hostname, port } = new URL(target);
  let forwarded = 0;
  let held = 0;
  let paused: { resumed: Promise<void>; resume: () => void } | null = null;
  const server: Server = createServer((incoming, outgoing) => {
    void (async () => {
      if (paused) {
        held++;
        await paused.resumed;
        held--;
      }
      await sleep(proxy.delayMs);
      if (proxy.failing) {
        incoming.resume();
        outgoing.writeHead(502, { 'content-type': 'text/plain' }).end('down');
        return;
      }
      forwarded++;
      const upstream = request(
        { host: hostname, port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      upstream.on('error', () => {
        if (!outgoing.headersSent) outgoing.writeHead(502);
        outgoing.end();
      });
      incoming.pipe(upstream);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  const proxy: DelayingProxy = {
    url: `http://127.0.0.1:${address.port}${new URL(target).pathname}`,
    delayMs,
    get forwarded() {
      return forwarded;
    },
    get held() {
      return held;
    },
    pause() {
      if (paused) return;
      let resume!: () => void;
      const resumed = new Promise<void>((resolve) => (resume = resolve));
      paused = { resumed, resume };
    },
    resume() {
      paused?.resume();
      paused = null;
    },
    failing: false,
    async stop() {
      proxy.resume();
      await close(server);
    },
  };
  return proxy;
}
