import { describe } from 'vitest';
import { MemoryBus } from '../src/events/index.ts';
import { createLogger } from '../src/logger.ts';
import { tailContract } from './event-tail-contract.ts';

/** `tail` on the in-process bus of the embedded default: the contract both buses keep (event-tail-contract.ts). */

const logger = createLogger({ service: 'event-tail-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('memory bus', () => {
  tailContract(async (options) => {
    const bus = new MemoryBus({ logger, ...options });
    return { bus, close: () => bus.close() };
  });
});
