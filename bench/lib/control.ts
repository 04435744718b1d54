/**
 * The IPC protocol between the bench runner and the subgraph processes it
 * starts. Counting over IPC rather than an HTTP endpoint keeps the counter
 * out of the traffic it counts, and works for the shop's own subgraphs,
 * which know nothing of the bench.
 */
import type { ChildProcess } from 'node:child_process';

/** Requests per subgraph name since the process started. */
export type RequestCounts = Record<string, number>;

export type ControlRequest = { id: number; type: 'counts' } | { id: number; type: 'delay'; ms: number };

export type ControlReply = { id: number; counts?: RequestCounts };

/** Sent once by a child when it listens; `ports` is there when it chose its own. */
export interface ReadyMessage {
  type: 'ready';
  ports?: Record<string, number>;
}

export interface ControlHandlers {
  counts(): RequestCounts;
  /** Absent where the process cannot add a delay. */
  delay?(ms: number): void;
}

/** Child side: answer the runner's requests. */
export function answerControlRequests(handlers: ControlHandlers): void {
  if (!process.send) return;
  process.on('message', (message: ControlRequest) => {
    switch (message.type) {
      case 'counts':
        process.send!({ id: message.id, counts: handlers.counts() } satisfies ControlReply);
        return;
      case 'delay':
        handlers.delay?.(message.ms);
        process.send!({ id: message.id } satisfies ControlReply);
        return;
    }
  });
  // The IPC channel must not keep a stopping process alive.
  process.channel?.unref();
}

/** Runner side: one request at a time per child is all the bench needs, but ids keep replies matched anyway. */
export class ControlChannel {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: ControlReply) => void>();

  constructor(private readonly child: ChildProcess) {
    child.on('message', (message: ControlReply | ReadyMessage) => {
      if ('id' in message) {
        this.pending.get(message.id)?.(message);
        this.pending.delete(message.id);
      }
    });
  }

  async counts(): Promise<RequestCounts> {
    return (await this.request({ type: 'counts' })).counts ?? {};
  }

  async delay(ms: number): Promise<void> {
    await this.request({ type: 'delay', ms });
  }

  private request(body: { type: 'counts' } | { type: 'delay'; ms: number }): Promise<ControlReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no IPC reply to ${body.type} within 5 s`));
      }, 5_000);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.child.send({ id, ...body } as ControlRequest);
    });
  }
}

/** Resolves with the child's ready message, or rejects if it exits first or takes too long. */
export function waitForReady(child: ChildProcess, what: string, timeoutMs: number): Promise<ReadyMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${what} not ready after ${timeoutMs / 1000} s`)), timeoutMs);
    const onMessage = (message: ReadyMessage) => {
      if (message?.type === 'ready') done(null, message);
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`${what} exited before it was ready (${signal ?? `code ${code}`})`));
    const done = (error: Error | null, message?: ReadyMessage) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message!);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
