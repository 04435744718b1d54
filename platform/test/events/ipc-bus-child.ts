/**
 * A child process for ipc-bus.test.ts: an `IpcEventBus` driven by the test
 * through the same IPC channel, with commands tagged `{ fixture: ... }`, so
 * the bus's own messages share the channel with others, as under `npm start`.
 * It reports what it does with `{ fixture: 'report', ... }`.
 */
import { hasParentEventBus, IpcEventBus } from '../../src/events/ipc-bus.ts';
import type { DomainEvent, Subscription } from '../../src/events/index.ts';
import { createLogger } from '../../src/logger.ts';

/** How a subscription's handler treats each delivery. */
export type Behaviour =
  /** Acknowledges. */
  | 'ack'
  /** Throws on the first attempt, acknowledges after. */
  | 'fail-first'
  /** Never settles on the first attempt, acknowledges after. */
  | 'hang-first';

export type Command =
  | { fixture: 'publish'; stream: string; events: DomainEvent[] }
  | { fixture: 'subscribe'; stream: string; group: string; consumer: string; behaviour: Behaviour }
  | { fixture: 'stats'; stream: string; group: string }
  | { fixture: 'close' };

type ReportBody =
  | { what: 'ready'; hasParentEventBus: boolean }
  | { what: 'published' | 'subscribed' | 'closed' }
  | { what: 'failed'; error: string }
  | { what: 'stats'; stats: unknown }
  | { what: 'handling'; consumer: string; eventId: string; attempt: number };

export type Report = { fixture: 'report' } & ReportBody;

const bus = new IpcEventBus({
  logger: createLogger({ service: 'ipc-bus-child', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  requestTimeoutMs: 5_000,
});
const subscriptions: Subscription[] = [];
const report = (message: ReportBody): void => {
  process.send!({ fixture: 'report', ...message });
};

async function run(command: Command): Promise<void> {
  switch (command.fixture) {
    case 'publish':
      await bus.publish(command.stream, command.events);
      return report({ what: 'published' });
    case 'subscribe': {
      const { stream, group, consumer, behaviour } = command;
      subscriptions.push(
        bus.subscribe({
          stream,
          group,
          consumer,
          blockMs: 100,
          async handle(event, { attempt }) {
            report({ what: 'handling', consumer, eventId: event.id, attempt });
            if (attempt > 1 || behaviour === 'ack') return;
            if (behaviour === 'fail-first') throw new Error('the first attempt fails');
            await new Promise(() => {});
          },
        }),
      );
      return report({ what: 'subscribed' });
    }
    case 'stats':
      return report({ what: 'stats', stats: await bus.stats(command.stream, command.group) });
    case 'close':
      await bus.close();
      // With the bus's listener gone, this one is the last thing holding the channel open.
      process.off('message', onMessage);
      return report({ what: 'closed' });
  }
}

const onMessage = (message: unknown) => {
  const command = message as Partial<Command>;
  if (typeof command?.fixture !== 'string') return;
  run(command as Command).catch((error: unknown) =>
    report({ what: 'failed', error: error instanceof Error ? error.message : String(error) }),
  );
};
process.on('message', onMessage);
report({ what: 'ready', hasParentEventBus: hasParentEventBus() });
