import { HeaderMap } from '@apollo/server';
import { describe, expect, it } from 'vitest';
import { close, createHttpService, listen } from '../src/http/server.ts';
import { PhaseTransitionError, ServiceLifecycle, type LivePhase } from '../src/lifecycle.ts';
import { createLogger } from '../src/logger.ts';

const logger = createLogger({ service: 'lifecycle-phases-test', level: 'silent' });
const waitingForDatabase: LivePhase = { phase: 'waiting', for: ['database'], reason: null };

describe('a service’s lifecycle', () => {
  it('goes from waiting through migrating and seeding to ready, then drains and stops', () => {
    const lifecycle = new ServiceLifecycle(waitingForDatabase);
    const seen: string[] = [lifecycle.phase.phase];
    for (const next of [
      { phase: 'waiting', for: ['database'], reason: 'ECONNREFUSED' },
      { phase: 'migrating' },
      { phase: 'seeding' },
      { phase: 'waiting', for: ['redis'], reason: null },
      { phase: 'ready' },
    ] satisfies LivePhase[]) {
      lifecycle.enter(next);
      seen.push(lifecycle.phase.phase);
    }
    expect(lifecycle.stopping).toBe(false);
    lifecycle.drain();
    expect(lifecycle.phase).toEqual({ phase: 'draining', from: { phase: 'ready' } });
    expect(lifecycle.stopping).toBe(true);
    lifecycle.stop();
    expect([...seen, 'draining', lifecycle.phase.phase]).toEqual([
      'waiting',
      'waiting',
      'migrating',
      'seeding',
      'waiting',
      'ready',
      'draining',
      'stopped',
    ]);
  });

  it('refuses a start that goes back or goes on after the stop, naming where it may go', () => {
    const ready = new ServiceLifecycle();
    expect(() => ready.enter({ phase: 'migrating' })).toThrow(PhaseTransitionError);
    expect(() => ready.enter({ phase: 'migrating' })).toThrow(
      'a service cannot go from ready to migrating; from ready it goes to draining, stopped',
    );
    const seeding = new ServiceLifecycle({ phase: 'seeding' });
    expect(() => seeding.enter({ phase: 'migrating' })).toThrow(/cannot go from seeding to migrating/);
    const stopped = new ServiceLifecycle(waitingForDatabase);
    stopped.stop();
    expect(() => stopped.enter({ phase: 'ready' })).toThrow(
      'a service cannot go from stopped to ready; from stopped it goes to nothing',
    );
    expect(stopped.phase).toEqual({ phase: 'stopped' });
  });

  it('keeps the start’s progress while draining, checked as ever, and drains once', () => {
    const lifecycle = new ServiceLifecycle(waitingForDatabase);
    lifecycle.drain();
    lifecycle.enter({ phase: 'migrating' });
    expect(lifecycle.phase).toEqual({ phase: 'draining', from: { phase: 'migrating' } });
    lifecycle.drain();
    expect(lifecycle.phase).toEqual({ phase: 'draining', from: { phase: 'migrating' } });
    expect(() => lifecycle.enter({ phase: 'waiting', for: ['database'], reason: null })).not.toThrow();
    lifecycle.enter({ phase: 'ready' });
    expect(() => lifecycle.enter({ phase: 'seeding' })).toThrow(/cannot go from ready to seeding/);
    expect(lifecycle.phase).toEqual({ phase: 'draining', from: { phase: 'ready' } });
  });
});

describe('readiness read from the phase', () => {
  it('says what a start waits for, is ready only in the ready phase, and shows the drain and the stop', async () => {
    const lifecycle = new ServiceLifecycle({ phase: 'waiting', for: ['supergraph'], reason: null });
    const askedIn: string[] = [];
    const server = createHttpService({
      logger,
      lifecycle,
      graphql: async () => ({ status: 200, headers: new HeaderMap(), body: { kind: 'complete', string: '{}' } }),
      readiness: async (phase) => {
        askedIn.push(phase.phase);
        return { supergraph: { ok: true } };
      },
    });
    const { url } = await listen(server, 0, '127.0.0.1');
    const readiness = async () => {
      const response = await fetch(`${url}/health/ready`);
      return { status: response.status, body: await response.json() };
    };
    try {
      // Every check passes, yet a service still starting is not ready.
      expect(await readiness()).toEqual({
        status: 503,
        body: {
          status: 'not ready',
          phase: 'waiting',
          waitingFor: ['supergraph'],
          checks: { supergraph: { ok: true } },
        },
      });
      lifecycle.enter({ phase: 'ready' });
      expect(await readiness()).toEqual({
        status: 200,
        body: { status: 'ready', phase: 'ready', checks: { supergraph: { ok: true } } },
      });
      lifecycle.drain();
      expect(await readiness()).toEqual({
        status: 503,
        body: { status: 'not ready', phase: 'draining', checks: { shutdown: { ok: false, detail: 'shutting down' } } },
      });
      expect(askedIn).toEqual(['waiting', 'ready']);
    } finally {
      await close(server);
    }
    expect(lifecycle.phase).toEqual({ phase: 'stopped' });
  });

  it('drains a service stopped without a drain first, and stops it once closed', async () => {
    const lifecycle = new ServiceLifecycle();
    const server = createHttpService({
      logger,
      lifecycle,
      graphql: async () => ({ status: 200, headers: new HeaderMap(), body: { kind: 'complete', string: '{}' } }),
      readiness: async () => ({}),
    });
    await listen(server, 0, '127.0.0.1');
    const closing = close(server);
    expect(lifecycle.phase).toEqual({ phase: 'draining', from: { phase: 'ready' } });
    await closing;
    expect(lifecycle.phase).toEqual({ phase: 'stopped' });
  });
});
