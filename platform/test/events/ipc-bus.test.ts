import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MemoryBus,
  parentEventBusEnv,
  serveEventBusOverIpc,
  type DomainEvent,
  type ServeEventBusOptions,
  type Subscription,
} from '../../src/events/index.ts';
import { until } from '../../../test/support/until.ts';
import type { Behaviour, Command, Report } from './ipc-bus-child.ts';
import { events, logger, uniqueStream } from './support.ts';

/**
 * The bus `npm start` shares between its subgraph processes: a MemoryBus in
 * this process, served over IPC to real child processes (ipc-bus-child.ts)
 * that use it through an IpcEventBus. Every child is killed after each test.
 */

const root = fileURLToPath(new URL('../../..', import.meta.url));
const fixture = fileURLToPath(new URL('./ipc-bus-child.ts', import.meta.url));
// Long, so that a redelivery seen within seconds comes from a nack, a timeout or an exit, not from the bus reclaiming it.
const claimIdleMs = 60_000;
const waitMs = 10_000;

interface Child {
  process: ChildProcess;
  reports: Report[];
  run(command: Command): void;
  /** Resolves with the first report `matches` accepts, old or new. */
  waitFor(what: string, matches: (report: Report) => boolean): Promise<Report>;
  exited: Promise<void>;
}

let bus: MemoryBus;
const children: ChildProcess[] = [];
const subscriptions: Subscription[] = [];

beforeEach(() => {
  bus = new MemoryBus({ logger, claimIdleMs, retryDelayMs: 20 });
});

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }),
  );
  await Promise.all(subscriptions.splice(0).map((subscription) => subscription.stop()));
  await bus.close();
});

/** Starts the fixture as `npm start` starts a subgraph, and serves it `bus`. */
async function startChild(options?: ServeEventBusOptions): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...parentEventBusEnv },
  });
  children.push(child);
  serveEventBusOverIpc(bus, child, logger, options);
  const reports: Report[] = [];
  child.on('message', (message: Partial<Report>) => {
    if (message?.fixture === 'report') reports.push(message as Report);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitFor = async (what: string, matches: (report: Report) => boolean) => {
    await until(
      () => {
        const failed = reports.find((report) => report.what === 'failed');
        if (failed) throw new Error(`the child failed: ${JSON.stringify(failed)}`);
        return reports.some(matches);
      },
      { timeoutMs: waitMs, what },
    );
    return reports.find(matches)!;
  };
  const started: Child = { process: child, reports, run: (command) => child.send(command), waitFor, exited };
  const ready = await waitFor('the child ready', (report) => report.what === 'ready');
  expect(ready).toMatchObject({ hasParentEventBus: true });
  return started;
}

async function subscribeChild(child: Child, stream: string, consumer: string, behaviour: Behaviour) {
  child.run({ fixture: 'subscribe', stream, group: 'consumers', consumer, behaviour });
  await child.waitFor('subscribed', (report) => report.what === 'subscribed');
}

const handled = (child: Child, eventId: string, attempt: number) =>
  child.waitFor(
    `event ${eventId} handled (attempt ${attempt})`,
    (report) => report.what === 'handling' && report.eventId === eventId && report.attempt === attempt,
  );

const settled = (stream: string) =>
  until(
    async () => {
      const stats = await bus.stats(stream, 'consumers');
      return stats.pending === 0 && stats.lag === 0;
    },
    { timeoutMs: waitMs, what: `every event on ${stream} acknowledged` },
  );

describe('the event bus over IPC', () => {
  it("delivers a child's publish to the parent bus's subscribers, and answers its stats", async () => {
    const stream = uniqueStream('ipc');
    const received: DomainEvent[] = [];
    subscriptions.push(
      bus.subscribe({
        stream,
        group: 'consumers',
        consumer: 'parent',
        blockMs: 100,
        handle: async (event) => void received.push(event),
      }),
    );
    const child = await startChild();
    const published = events(3);

    child.run({ fixture: 'publish', stream, events: published });
    await child.waitFor('published', (report) => report.what === 'published');
    await until(() => received.length === 3, { timeoutMs: waitMs, what: 'three events received' });
    expect(received).toEqual(published);

    await settled(stream);
    child.run({ fixture: 'stats', stream, group: 'consumers' });
    const stats = await child.waitFor('stats', (report) => report.what === 'stats');
    expect(stats).toMatchObject({ stats: { length: 3, pending: 0, lag: 0, deadLetters: 0 } });
  });

  it("delivers the parent bus's events to a child's handler, which acknowledges them", async () => {
    const stream = uniqueStream('ipc');
    const child = await startChild();
    await subscribeChild(child, stream, 'child', 'ack');

    const published = events(3);
    await bus.publish(stream, published);
    for (const event of published) await handled(child, event.id, 1);
    await settled(stream);
    const handling = child.reports.filter((report) => report.what === 'handling');
    expect(handling.map((report) => report.eventId)).toEqual(published.map((event) => event.id));
  });

  it('redelivers an event whose handler in the child throws', async () => {
    const stream = uniqueStream('ipc');
    const child = await startChild();
    await subscribeChild(child, stream, 'child', 'fail-first');

    const [event] = events(1);
    await bus.publish(stream, [event!]);
    await handled(child, event!.id, 1);
    await handled(child, event!.id, 2);
    await settled(stream);
    expect((await bus.stats(stream, 'consumers')).deadLetters).toBe(0);
  });

  it('redelivers an event the child does not answer in time', async () => {
    const stream = uniqueStream('ipc');
    const child = await startChild({ deliveryTimeoutMs: 300 });
    await subscribeChild(child, stream, 'child', 'hang-first');

    const [event] = events(1);
    await bus.publish(stream, [event!]);
    await handled(child, event!.id, 1);
    await handled(child, event!.id, 2);
    await settled(stream);
  });

  it('hands the event a child was handling when it was killed to another consumer of its group', async () => {
    const stream = uniqueStream('ipc');
    const doomed = await startChild();
    await subscribeChild(doomed, stream, 'doomed', 'hang-first');
    const [event] = events(1);
    await bus.publish(stream, [event!]);
    await handled(doomed, event!.id, 1);

    const survivor = await startChild();
    await subscribeChild(survivor, stream, 'survivor', 'ack');
    doomed.process.kill('SIGKILL');
    await doomed.exited;

    // Long before the bus would reclaim it from a silent consumer (claimIdleMs).
    await handled(survivor, event!.id, 2);
    await settled(stream);
  });

  it('stops the subscriptions on close() and lets the child exit by itself', async () => {
    const stream = uniqueStream('ipc');
    const child = await startChild();
    await subscribeChild(child, stream, 'child', 'ack');
    const [event] = events(1);
    await bus.publish(stream, [event!]);
    await handled(child, event!.id, 1);
    await settled(stream);

    child.run({ fixture: 'close' });
    await child.waitFor('closed', (report) => report.what === 'closed');
    await until(() => child.process.exitCode !== null, { timeoutMs: waitMs, what: 'the child exited' });
    expect(child.process.exitCode).toBe(0);
    // Nobody consumes any more: the next event waits in the group.
    await bus.publish(stream, events(1));
    expect(await bus.stats(stream, 'consumers')).toMatchObject({ pending: 0, lag: 1 });
  });
});
