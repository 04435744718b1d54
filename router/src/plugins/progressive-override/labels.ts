import { Kind, parse, visit } from 'graphql';

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

const percentLabel = /^percent\((\d+(?:\.\d+)?)\)$/;

/**
 * The labels of every `@join__field(overrideLabel: ...)` in a composed
 * supergraph. Composition has already refused malformed percentages, so a
 * `percent(...)` that does not read as one is treated as a custom label
 * rather than failing a supergraph the gateway accepted.
 */
export function supergraphLabels(supergraphSdl: string): SupergraphLabels {
  const all = new Set<string>();
  visit(parse(supergraphSdl, { noLocation: true }), {
    Directive(directive) {
      if (directive.name.value !== 'join__field') return;
      const label = directive.arguments?.find((argument) => argument.name.value === 'overrideLabel')?.value;
      if (label?.kind === Kind.STRING) all.add(label.value);
    },
  });
  const percent: PercentLabel[] = [];
  for (const label of all) {
    const match = percentLabel.exec(label);
    const value = match ? Number(match[1]) : NaN;
    if (value >= 0 && value <= 100) percent.push({ label, percent: value });
  }
  return { all, percent };
}

/** A list of labels as a header or a claim carries it: comma- or space-separated text, or a list of strings. */
export function labelsIn(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}
