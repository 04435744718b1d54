import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical.ts';
import type { CorpusCase, CorpusOperation, KnownStockBug } from './corpus/case.ts';
import { corpus } from './corpus/index.ts';
import {
  caseDataSources,
  composeCase,
  executors,
  startExecutor,
  type ExecutorName,
  type RunningExecutor,
} from './executors.ts';

/**
 * Every corpus case, every operation, through every executor: each gives
 * the hand-checked answer, so all give the same one (canonical JSON: data
 * in the client's order, errors by message, path and code). Where the
 * stock executor is known wrong, its wrong answer is pinned separately, so
 * this notices both a regression elsewhere and a gateway upgrade that fixes
 * (or changes) the bug.
 */

/** The whole case is refused by the stock gateway, if it is. */
const stockRefusal = (corpusCase: CorpusCase) => corpusCase.knownStockBugs?.find((bug) => bug.operation === '*');

const stockBugFor = (corpusCase: CorpusCase, operation: CorpusOperation): KnownStockBug | undefined =>
  corpusCase.knownStockBugs?.find((bug) => bug.operation === operation.name);

describe.each(corpus)('$name', (corpusCase) => {
  const supergraphSdl = composeCase(corpusCase);
  const refusal = stockRefusal(corpusCase);
  const runnable = executors.filter((name) => !(name === 'stock' && refusal));
  const running = new Map<ExecutorName, RunningExecutor>();

  beforeAll(async () => {
    for (const name of runnable) {
      running.set(name, await startExecutor(name, { supergraphSdl, dataSource: caseDataSources(corpusCase) }));
    }
  });

  afterAll(async () => {
    await Promise.all([...running.values()].map((executor) => executor.stop()));
  });

  const run = async (name: ExecutorName, operation: CorpusOperation) => {
    const executor = running.get(name);
    if (!executor) throw new Error(`${name} did not start`);
    return (await executor.execute(operation)).response;
  };

  it('names every known stock bug after one of its operations', () => {
    const names = new Set(['*', ...corpusCase.operations.map(({ name }) => name)]);
    for (const bug of corpusCase.knownStockBugs ?? []) expect(names).toContain(bug.operation);
  });

  if (refusal && 'refuses' in refusal.stock) {
    const { refuses } = refusal.stock;
    it('stock refuses the supergraph, as known', async () => {
      await expect(
        startExecutor('stock', { supergraphSdl, dataSource: caseDataSources(corpusCase) }).then((executor) =>
          executor.stop(),
        ),
      ).rejects.toThrow(refuses);
    });
  }

  describe.each(corpusCase.operations)('$name', (operation) => {
    const bug = stockBugFor(corpusCase, operation);

    const rightOnes = runnable.filter((name) => !(name === 'stock' && bug));
    it.each(rightOnes)('%s gives the right answer', async (name) => {
      expect(canonicalJson(await run(name, operation))).toBe(canonicalJson(operation.expected));
    });

    if (bug && runnable.includes('stock')) {
      it(`stock gives its known wrong answer (${bug.layer} bug)`, async () => {
        if (!('answer' in bug.stock)) throw new Error('a per-operation stock bug pins an answer, not a refusal');
        const stock = canonicalJson(await run('stock', operation));
        expect(stock).toBe(canonicalJson(bug.stock.answer));
        // The pinned answer is a wrong one: a bug entry for a right answer is stale.
        expect(stock).not.toBe(canonicalJson(operation.expected));
      });
    }

    if (runnable.length > 1 && !bug) {
      it('every executor gives the same response', async () => {
        const [first, ...others] = runnable;
        const reference = canonicalJson(await run(first!, operation));
        for (const name of others) expect(canonicalJson(await run(name, operation)), name).toBe(reference);
      });
    }
  });
});
