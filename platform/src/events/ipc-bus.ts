import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../logger.ts';
import { errorMessage } from './consumer.ts';
import type {
  DomainEvent,
  EventBus,
  EventBusStats,
  EventHandlerContext,
  SubscribeOptions,
  Subscription,
} from './types.ts';

/**
 * One event bus shared by processes on one machine, over the IPC channel
 * Node opens between a parent and a child spawned with `'ipc'` in its stdio.
 * This is how `npm start`, which runs every subgraph as its own process,
 * carries events between them with nothing installed: the parent holds one
 * `MemoryBus` and serves it to each child (`serveEventBusOverIpc`), and each
 * child uses it through an `IpcEventBus`. The parent's bus does the work
 * (consumer groups, redelivery, dead letters); the channel only relays.
 *
 * The limit is the MemoryBus's: its entries live in the parent's memory, so
 * an event a subgraph relayed (and marked published in its outbox) but no
 * consumer has finished is lost if `npm start` itself stops. That is fine
 * for development; with `REDIS_URL` set, subgraphs use Redis Streams instead.
 */

/**
 * Every message of this protocol carries `bus: 'shop-events'`. Others share
 * the channel (tsx's loader reports dependencies on it), so each side
 * ignores messages without the tag, and other listeners can ignore ours.
 */
const tag = 'shop-events';

/** What the parent puts in a child's environment when it serves it a bus. */
export const parentEventBusEnv = { EVENT_BUS: 'parent' } as const;

/** Whether this process was started by a parent that serves it an event bus over IPC. */
export function hasParentEventBus(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.EVENT_BUS === parentEventBusEnv.EVENT_BUS && typeof process.send === 'function';
}

type SubscriptionSettings = Omit<SubscribeOptions, 'handle'>;

/** What a child asks of its parent; each gets a `reply` with the same id. */
type Request =
  | { kind: 'publish'; stream: string; events: DomainEvent[] }
  | { kind: 'subscribe'; subscription: number; options: SubscriptionSettings }
  | { kind: 'unsubscribe'; subscription: number }
  | { kind: 'stats'; stream: string; group: string };

/** Child → parent. */
type ChildMessage = { bus: typeof tag } & (
  (Request & { id: number }) | { kind: 'ack'; delivery: number } | { kind: 'nack'; delivery: number; error: string }
);

/** Parent → child. */
type ParentMessage = { bus: typeof tag } & (
  | { kind: 'reply'; id: number; ok: true; value?: unknown }
  | { kind: 'reply'; id: number; ok: false; error: string }
  | { kind: 'deliver'; subscription: number; delivery: number; event: DomainEvent; context: EventHandlerContext }
);

function isOurs<T extends { bus: typeof tag; kind: string }>(message: unknown): message is T {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { bus?: unknown }).bus === tag &&
    typeof (message as { kind?: unknown }).kind === 'string'
  );
}

export interface ServeEventBusOptions {
  /**
   * How long a delivery waits for the child's ack or nack. Past it the
   * delivery counts as failed and the bus redelivers it, so a hung handler
   * does not hold an event forever. Default: 30,000 ms.
   */
  deliveryTimeoutMs?: number;
}

export interface EventBusService {
  /**
   * Stops answering the child and stops its subscriptions; deliveries it has
   * not answered are failed, so the bus redelivers them. Runs by itself
   * when the child exits or closes the channel.
   */
  detach(): Promise<void>;
}

/**
 * The parent's side: answers `child`'s requests on `bus` and delivers the
 * events of its subscriptions to it. The bus stays the caller's; serve it
 * to as many children as share it, one call each.
 */
export function serveEventBusOverIpc(
  bus: EventBus,
  child: ChildProcess,
  logger: Logger,
  { deliveryTimeoutMs = 30_000 }: ServeEventBusOptions = {},
): EventBusService {
  const log = logger.child({ component: 'events', bus: 'ipc', childPid: child.pid });
  const subscriptions = new Map<number, Subscription>();
  /** Deliveries sent and not answered, by delivery id: settling one resolves (ack) or rejects (nack) its handler. */
  const unanswered = new Map<number, (failure?: Error) => void>();
  let nextDelivery = 1;
  let detached: Promise<void> | null = null;

  const send = (message: ParentMessage) =>
    new Promise<void>((resolve, reject) => {
      if (!child.connected) return reject(new Error('the channel to the consumer process is closed'));
      child.send(message, (error) => (error ? reject(error) : resolve()));
    });

  const reply = (id: number, work: () => Promise<unknown>) => {
    work()
      .then(
        (value) => send({ bus: tag, kind: 'reply', id, ok: true, value }),
        (error: unknown) => send({ bus: tag, kind: 'reply', id, ok: false, error: errorMessage(error) }),
      )
      .catch((error: unknown) => log.debug({ err: error }, 'event bus: could not reply; the child is gone'));
  };

  // The bus runs this as the subscription's handler: resolving acknowledges the event, rejecting redelivers it.
  const deliverTo =
    (subscription: number): SubscribeOptions['handle'] =>
    (event, context) =>
      new Promise<void>((resolve, reject) => {
        const delivery = nextDelivery++;
        const settle = (failure?: Error) => {
          clearTimeout(timer);
          unanswered.delete(delivery);
          if (failure) reject(failure);
          else resolve();
        };
        const timer = setTimeout(
          () => settle(new Error(`the consumer process did not answer within ${deliveryTimeoutMs} ms`)),
          deliveryTimeoutMs,
        );
        unanswered.set(delivery, settle);
        send({ bus: tag, kind: 'deliver', subscription, delivery, event, context }).catch((error: unknown) =>
          settle(new Error(`could not deliver to the consumer process: ${errorMessage(error)}`)),
        );
      });

  const onMessage = (message: unknown) => {
    if (!isOurs<ChildMessage>(message)) return;
    switch (message.kind) {
      case 'publish':
        return reply(message.id, () => bus.publish(message.stream, message.events));
      case 'subscribe':
        return reply(message.id, async () => {
          const previous = subscriptions.get(message.subscription);
          subscriptions.set(
            message.subscription,
            bus.subscribe({ ...message.options, handle: deliverTo(message.subscription) }),
          );
          await previous?.stop();
        });
      case 'unsubscribe':
        return reply(message.id, async () => {
          const subscription = subscriptions.get(message.subscription);
          subscriptions.delete(message.subscription);
          await subscription?.stop();
        });
      case 'stats':
        return reply(message.id, () => bus.stats(message.stream, message.group));
      case 'ack':
        return unanswered.get(message.delivery)?.();
      case 'nack':
        return unanswered.get(message.delivery)?.(new Error(message.error));
      default: {
        const unknown: never = message;
        log.warn({ kind: (unknown as { kind: string }).kind }, 'event bus: ignored a message of an unknown kind');
      }
    }
  };

  const detach = () =>
    (detached ??= (async () => {
      child.off('message', onMessage);
      child.off('exit', onGone);
      child.off('disconnect', onGone);
      if (unanswered.size > 0) {
        log.info({ deliveries: unanswered.size }, 'event bus: consumer process gone mid-delivery; the bus redelivers');
      }
      // Failed, not acknowledged: the group hands them to its next consumer, and the attempt counts.
      for (const settle of [...unanswered.values()]) settle(new Error('the consumer process exited before answering'));
      const stopping = [...subscriptions.values()];
      subscriptions.clear();
      await Promise.all(stopping.map((subscription) => subscription.stop()));
    })());
  const onGone = () => {
    void detach().catch((error: unknown) => log.error({ err: error }, 'event bus: detaching failed'));
  };

  child.on('message', onMessage);
  child.once('exit', onGone);
  child.once('disconnect', onGone);
  return { detach };
}

export interface IpcEventBusOptions {
  logger: Logger;
  /** How long a publish, subscribe or stats request waits for the parent's answer before it rejects. Default: 30,000 ms. */
  requestTimeoutMs?: number;
}

interface LocalSubscription {
  handle: SubscribeOptions['handle'];
  /** Handlers running now, so that stopping can wait for them. */
  running: Set<Promise<unknown>>;
  /** Settles once the parent has the subscription (or refused it). */
  subscribed: Promise<unknown>;
}

/**
 * The child's side: an `EventBus` whose work is done by the parent's bus,
 * over this process's IPC channel. Events reach a handler here as they
 * would in the parent: one at a time per subscription, at least once.
 */
export class IpcEventBus implements EventBus {
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private readonly requests = new Map<number, (answer: { value: unknown } | { error: Error }) => void>();
  private readonly subscriptions = new Map<number, LocalSubscription>();
  private nextId = 1;
  private closed = false;

  constructor({ logger, requestTimeoutMs = 30_000 }: IpcEventBusOptions) {
    if (typeof process.send !== 'function') {
      throw new Error("IpcEventBus needs an IPC channel to its parent (spawned with 'ipc' in its stdio)");
    }
    this.logger = logger.child({ component: 'events', bus: 'ipc' });
    this.requestTimeoutMs = requestTimeoutMs;
    process.on('message', this.onMessage);
    process.on('disconnect', this.onDisconnect);
  }

  async publish(stream: string, events: readonly DomainEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.request({ kind: 'publish', stream, events: [...events] });
  }

  subscribe(options: SubscribeOptions): Subscription {
    const id = this.nextId++;
    const { handle, ...settings } = options;
    const subscribed = this.request({ kind: 'subscribe', subscription: id, options: settings }).catch(
      (error: unknown) => {
        this.logger.error({ err: error, stream: options.stream, group: options.group }, 'event bus: subscribe failed');
      },
    );
    const local: LocalSubscription = { handle, running: new Set(), subscribed };
    this.subscriptions.set(id, local);
    return { stop: () => this.unsubscribe(id) };
  }

  async stats(stream: string, group: string): Promise<EventBusStats> {
    return (await this.request({ kind: 'stats', stream, group })) as EventBusStats;
  }

  /** Stops every subscription and lets go of the channel; the parent's bus, and the channel, stay open. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.subscriptions.keys()].map((id) => this.unsubscribe(id)));
    this.closed = true;
    process.off('message', this.onMessage);
    process.off('disconnect', this.onDisconnect);
    this.failRequests(new Error('the event bus is closed'));
  }

  private async unsubscribe(id: number): Promise<void> {
    const local = this.subscriptions.get(id);
    if (!local) return;
    await local.subscribed;
    // The parent stops its subscription only once the delivery in flight is answered, so handlers keep running until it replies.
    await this.request({ kind: 'unsubscribe', subscription: id }).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'event bus: unsubscribe failed; the parent stops it when this process exits');
    });
    this.subscriptions.delete(id);
    await Promise.all(local.running);
  }

  private request(request: Request): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the event bus is closed'));
    if (!process.connected) return Promise.reject(new Error('the channel to the parent process is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => settle({ error: new Error(`the parent process did not answer within ${this.requestTimeoutMs} ms`) }),
        this.requestTimeoutMs,
      );
      const settle = (answer: { value: unknown } | { error: Error }) => {
        clearTimeout(timer);
        this.requests.delete(id);
        if ('error' in answer) reject(answer.error);
        else resolve(answer.value);
      };
      this.requests.set(id, settle);
      this.post({ bus: tag, id, ...request }, (error) => settle({ error }));
    });
  }

  private post(message: ChildMessage, onError: (error: Error) => void): void {
    try {
      process.send!(message, undefined, {}, (error: Error | null) => {
        if (error) onError(error);
      });
    } catch (error) {
      // Serializing failed (a payload JSON cannot carry), or the channel is gone.
      onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private readonly onMessage = (message: unknown): void => {
    if (!isOurs<ParentMessage>(message)) return;
    switch (message.kind) {
      case 'reply':
        return this.requests.get(message.id)?.(
          message.ok ? { value: message.value } : { error: new Error(message.error) },
        );
      case 'deliver':
        return void this.deliver(message.subscription, message.delivery, message.event, message.context);
    }
  };

  private async deliver(id: number, delivery: number, event: DomainEvent, context: EventHandlerContext) {
    const local = this.subscriptions.get(id);
    let failure: string | null = 'not subscribed in this process';
    if (local) {
      // Through a `then`, so that a handler that throws rather than rejects is a failure too.
      const running = Promise.resolve()
        .then(() => local.handle(event, context))
        .then(
          () => null,
          (error: unknown) => {
            this.logger.warn(
              { err: error, eventId: event.id, type: event.type, attempt: context.attempt },
              'event handler failed; the bus redelivers it',
            );
            return errorMessage(error);
          },
        );
      local.running.add(running);
      failure = await running;
      local.running.delete(running);
    }
    const answer: ChildMessage =
      failure === null ? { bus: tag, kind: 'ack', delivery } : { bus: tag, kind: 'nack', delivery, error: failure };
    // Unanswered, the parent redelivers once it times out or sees this process exit.
    this.post(answer, (error) => this.logger.warn({ err: error, eventId: event.id }, 'event bus: could not answer'));
  }

  private readonly onDisconnect = (): void => {
    this.logger.warn('event bus: the parent process closed the channel; events can no longer be published or consumed');
    this.failRequests(new Error('the channel to the parent process is closed'));
  };

  private failRequests(error: Error): void {
    for (const settle of [...this.requests.values()]) settle({ error });
  }
}
