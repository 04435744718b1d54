import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import type { Database, DrizzleSchema } from '../../src/db/database.ts';
import { createLogger } from '../../src/logger.ts';
import { newEvent, type DomainEvent, type EventHandlerContext } from '../../src/events/index.ts';

export const logger = createLogger({ service: 'events-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A stream name no other test (or earlier run against the same Redis) uses. */
export function uniqueStream(label: string): string {
  return `test.${label}.${randomUUID().slice(0, 8)}`;
}

export function domainEvent(
  type: string,
  payload: Record<string, unknown> = {},
  aggregateId = randomUUID(),
): DomainEvent {
  return newEvent(type, aggregateId, payload);
}

export function events(count: number, type = 'Tested'): DomainEvent[] {
  return Array.from({ length: count }, (_, index) => domainEvent(type, { index }));
}

export interface Handled {
  event: DomainEvent;
  context: EventHandlerContext;
  consumer: string;
}

/**
 * Creates `tables` the way a subgraph's migration would: drizzle-kit's own
 * generator, from the table definitions, so the DDL under test is the DDL
 * `npm run db:generate` writes.
 */
export async function createTables(db: Database<DrizzleSchema>, tables: Record<string, unknown>): Promise<string[]> {
  const statements = await generateMigration(generateDrizzleJson({}), generateDrizzleJson(tables));
  for (const statement of statements) await db.execute(sql.raw(statement));
  return statements;
}
