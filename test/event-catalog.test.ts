import { describe, expect, it } from 'vitest';
import { purgedStreams } from '../router/src/plugins/response-cache/event-purge.ts';
import { subgraphs } from '../subgraphs/registry.ts';
import { eventCatalog, eventsRecordedOutsideTheCatalog, productionSites } from './support/event-catalog.ts';

/**
 * The event catalog holds together: every event is defined once, by the
 * subgraph that produces it, and nothing is consumed or purged on that no
 * subgraph produces.
 */
describe('the event catalog', () => {
  it('defines each event once, on the stream of the subgraph that publishes it', async () => {
    const { published } = await eventCatalog();
    expect(published.length).toBeGreaterThan(0);
    const types = published.map(({ definition }) => definition.type);
    expect(
      types.filter((type, index) => types.indexOf(type) !== index),
      'events defined twice',
    ).toEqual([]);
    const elsewhere = published
      .filter(({ subgraph, definition }) => definition.stream !== subgraph)
      .map(({ subgraph, definition }) => `${definition.type} (${subgraph}) on ${definition.stream}`);
    expect(elsewhere, 'events not on their subgraph’s stream').toEqual([]);
  });

  it('consumes only events some subgraph publishes, through the producer’s own definition', async () => {
    const { published, consumed } = await eventCatalog();
    expect(consumed.length).toBeGreaterThan(0);
    const definitions = new Set(published.map(({ definition }) => definition));
    const unpublished = consumed
      .filter(({ definition }) => !definitions.has(definition))
      .map(({ subgraph, definition }) => `${subgraph} consumes ${definition.type}`);
    expect(unpublished, 'consumed but never published (or a copy of the producer’s definition)').toEqual([]);
  });

  it('publishes only events its subgraph’s code produces', async () => {
    const { published } = await eventCatalog();
    const neverProduced: string[] = [];
    for (const { name } of subgraphs) {
      const sites = await productionSites(name);
      for (const { subgraph, definition } of published.filter((entry) => entry.subgraph === name)) {
        if (!sites.get(definition)?.length) neverProduced.push(`${subgraph}: ${definition.type}`);
      }
    }
    expect(neverProduced, 'listed as published, never produced').toEqual([]);
  });

  it('finds the events producers publish, including the stock a cancellation gives back', async () => {
    const inventory = await productionSites('inventory');
    const released = [...inventory].find(([definition]) => definition.type === 'StockReleased')?.[1];
    expect(released?.[0]).toMatch(/^subgraphs\/inventory\/src\//);
    const orders = new Map([...(await productionSites('orders'))].map(([definition, at]) => [definition.type, at]));
    expect(orders.get('OrderConfirmed')?.length).toBeGreaterThan(0);
    expect(orders.get('OrderRejected')?.length).toBeGreaterThan(0);
  });

  it('records no event except through its definition', () => {
    expect(subgraphs.flatMap(({ name }) => eventsRecordedOutsideTheCatalog(name))).toEqual([]);
  });

  it('purges on every stream an event is published on, and on no other', async () => {
    const { published } = await eventCatalog();
    const streams = new Set(published.map(({ definition }) => definition.stream));
    expect([...streams].filter((stream) => !purgedStreams.includes(stream))).toEqual([]);
    // The router purges from the tags events carry, so it purges on exactly what is produced.
    expect([...purgedStreams].sort()).toEqual(subgraphs.map(({ name }) => name).sort());
  });
});
