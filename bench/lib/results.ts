/** What a run collected, and the per-cell figures combined across rounds. */
import { baselineName, type ContenderName } from '../contenders/index.ts';
import type { WorkloadName } from '../workloads/index.ts';
import type { CellMeasurement, FetchedResponse } from './cell.ts';
import type { Machine } from './machine.ts';
import type { BenchOptions } from './options.ts';

export interface RunFacts {
  command: string;
  machine: Machine;
  placement: string;
  options: BenchOptions;
  shopSeedSeconds: number | null;
  /** How many seeded users the signed-in workloads' requests come from; null when none ran. */
  signedInUsers: number | null;
  wallSeconds: number;
}

export type Check =
  | { status: 'reference'; bytes: number }
  | { status: 'ok'; bytes: number }
  | { status: 'mismatch'; bytes: number; differences: string[] };

interface Cell {
  measurements: CellMeasurement[];
  check: Check | null;
  failures: string[];
}

/** One row of a table: a contender's figures on one workload. */
export interface CellFigures {
  contender: ContenderName;
  rounds: number;
  /** Median over rounds. */
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Total CPU over total requests, across rounds. */
  cpuMsPerRequest: number;
  peakRssMB: number;
  subgraphRequestsPerOperation: number;
  failedRequests: { non2xx: number; errors: number; graphqlErrors: number };
  /** Relative to the baseline on the same workload; null without a baseline row. */
  requestsPerSecondRatio: number | null;
  requestsPerCpuSecondRatio: number | null;
  requestBodyBytes: number;
  requestCarriesQueryText: boolean;
  forked: boolean;
  reusedTokens: number;
  check: Check | null;
  failures: string[];
}

export class Results {
  private readonly cells = new Map<string, Cell>();
  private readonly references = new Map<WorkloadName, { contender: ContenderName } & FetchedResponse>();

  add(workload: WorkloadName, contender: ContenderName, measurement: CellMeasurement): void {
    this.cell(workload, contender).measurements.push(measurement);
  }

  fail(workload: WorkloadName, contender: ContenderName, round: number, reason: string): void {
    this.cell(workload, contender).failures.push(`round ${round + 1}: ${reason.split('\n')[0]}`);
  }

  reference(workload: WorkloadName) {
    return this.references.get(workload) ?? null;
  }

  setReference(workload: WorkloadName, contender: ContenderName, answer: FetchedResponse): void {
    this.references.set(workload, { contender, ...answer });
    this.cell(workload, contender).check = { status: 'reference', bytes: answer.bytes };
  }

  setCheck(workload: WorkloadName, contender: ContenderName, differences: string[], bytes: number): void {
    this.cell(workload, contender).check =
      differences.length === 0 ? { status: 'ok', bytes } : { status: 'mismatch', bytes, differences };
  }

  /** One line per cell that failed or answered wrongly; empty when every figure can be trusted. */
  problems(): string[] {
    return [...this.cells.entries()].flatMap(([cellKey, cell]) => {
      const where = cellKey.replace('\u0000', ' / ');
      return [
        ...cell.failures.map((failure) => `${where} failed in ${failure}`),
        ...(cell.check?.status === 'mismatch' ? [`${where}: answer differs from the reference`] : []),
      ];
    });
  }

  /** Rows for one workload, in the order contenders were given. */
  figures(workload: WorkloadName, order: readonly ContenderName[]): CellFigures[] {
    const rows = order.flatMap((contender) => {
      const cell = this.cells.get(key(workload, contender));
      return cell ? [combine(contender, cell)] : [];
    });
    const baseline = rows.find((row) => row.contender === baselineName && row.rounds > 0);
    for (const row of rows) {
      if (!baseline || row.rounds === 0) continue;
      row.requestsPerSecondRatio = row.requestsPerSecond / baseline.requestsPerSecond;
      row.requestsPerCpuSecondRatio = baseline.cpuMsPerRequest / row.cpuMsPerRequest;
    }
    return rows;
  }

  private cell(workload: WorkloadName, contender: ContenderName): Cell {
    let cell = this.cells.get(key(workload, contender));
    if (!cell) {
      cell = { measurements: [], check: null, failures: [] };
      this.cells.set(key(workload, contender), cell);
    }
    return cell;
  }
}

const key = (workload: string, contender: string) => `${workload}\u0000${contender}`;

function combine(contender: ContenderName, { measurements, check, failures }: Cell): CellFigures {
  const sum = (pick: (m: CellMeasurement) => number) => measurements.reduce((total, m) => total + pick(m), 0);
  const completed = sum((m) => m.completed);
  return {
    contender,
    rounds: measurements.length,
    requestsPerSecond: median(measurements.map((m) => m.requestsPerSecond)),
    p50Ms: median(measurements.map((m) => m.p50Ms)),
    p99Ms: median(measurements.map((m) => m.p99Ms)),
    cpuMsPerRequest: completed > 0 ? sum((m) => m.cpuMs) / completed : NaN,
    peakRssMB: Math.max(0, ...measurements.map((m) => m.peakRssBytes)) / 2 ** 20,
    subgraphRequestsPerOperation: completed > 0 ? sum((m) => m.subgraphRequests) / completed : NaN,
    failedRequests: {
      non2xx: sum((m) => m.non2xx),
      errors: sum((m) => m.errors),
      graphqlErrors: sum((m) => m.graphqlErrors),
    },
    requestsPerSecondRatio: null,
    requestsPerCpuSecondRatio: null,
    requestBodyBytes: measurements[0]?.requestBodyBytes ?? 0,
    requestCarriesQueryText: measurements.some((m) => m.requestCarriesQueryText),
    forked: measurements.some((m) => m.processes > 1),
    reusedTokens: sum((m) => m.reusedTokens),
    check,
    failures,
  };
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
