import { Kind, parse, visit } from 'graphql';

/** The labels a supergraph's progressive `@override`s are switched by. */
export interface OverrideLabels {
  /** `percent(n)` labels: the router turns each on for n percent of requests. */
  percent: { label: string; percent: number }[];
  /** Any other label: on only when something (a plugin, a header) says so. */
  custom: string[];
}

/** `percent(5)`, `percent(0.5)`: composition accepts up to eight decimals, so this stays as loose. */
const percentLabel = /^percent\((\d+(?:\.\d+)?)\)$/;

/**
 * The override labels in `@join__field(overrideLabel: "…")` applications,
 * each once, sorted, so other code knows which labels a supergraph has
 * before it rolls or sets any. Composition writes `join__field` under that
 * name whatever the subgraphs imported, and so the query planner reads it.
 */
export function overrideLabelsOf(supergraphSdl: string): OverrideLabels {
  const labels = new Set<string>();
  visit(parse(supergraphSdl, { noLocation: true }), {
    Directive(node) {
      if (node.name.value !== 'join__field') return;
      const argument = node.arguments?.find((arg) => arg.name.value === 'overrideLabel');
      if (argument?.value.kind === Kind.STRING) labels.add(argument.value.value);
    },
  });
  const percent: OverrideLabels['percent'] = [];
  const custom: string[] = [];
  for (const label of [...labels].sort()) {
    const match = percentLabel.exec(label);
    if (match) percent.push({ label, percent: Number(match[1]) });
    else custom.push(label);
  }
  return { percent, custom };
}

/** More label sets than this and only the extremes are warmed; see `warmLabelSets`. */
const maxWarmLabelSets = 8;

/**
 * The label sets a request can carry by chance alone, which warm-up plans
 * each operation under. A `percent(N)` label with 0 < N < 100 may be on or
 * off for any request, so every combination of those can be drawn; one at
 * 100 is always on; one at 0 and custom labels are on only when a header or
 * claim asks, which is a tester's request, planned when it comes. Past
 * eight combinations (four ramping labels) the count doubles with each
 * label, so then only all-off and all-on are warmed.
 */
export function warmLabelSets({ percent }: OverrideLabels): ReadonlySet<string>[] {
  const always = percent.filter(({ percent: share }) => share >= 100).map(({ label }) => label);
  const ramping = percent.filter(({ percent: share }) => share > 0 && share < 100).map(({ label }) => label);
  const combinations = 2 ** ramping.length;
  if (combinations > maxWarmLabelSets) return [new Set(always), new Set([...always, ...ramping])];
  const sets: ReadonlySet<string>[] = [];
  for (let mask = 0; mask < combinations; mask++) {
    sets.push(new Set([...always, ...ramping.filter((_, index) => mask & (1 << index))]));
  }
  return sets;
}
