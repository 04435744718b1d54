import { overrideLabelsOf } from '../../executor/plans/override-labels.ts';

/** A `percent(N)` label: on for N percent of requests, drawn afresh for each. */
export interface PercentLabel {
  label: string;
  /** From 0 to 100; may be fractional. */
  percent: number;
}

/** The override labels a supergraph declares. */
export interface SupergraphLabels {
  /** Every label, percent or custom: only these can be turned on. */
  all: ReadonlySet<string>;
  percent: readonly PercentLabel[];
}

/**
 * The labels of every `@join__field(overrideLabel: ...)` in a composed
 * supergraph, as the plan cache reads them. Composition has already refused
 * malformed percentages, so one outside [0, 100] is treated as a custom
 * label rather than failing a supergraph the gateway accepted.
 */
export function supergraphLabels(supergraphSdl: string): SupergraphLabels {
  const { percent, custom } = overrideLabelsOf(supergraphSdl);
  return {
    all: new Set([...percent.map(({ label }) => label), ...custom]),
    percent: percent.filter(({ percent: value }) => value >= 0 && value <= 100),
  };
}

/** A list of labels as a header or a claim carries it: comma- or space-separated text, or a list of strings. */
export function labelsIn(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}
