import { z } from 'zod';
import { ConfigError } from '../config.ts';
import type { Logger } from '../logger.ts';

/**
 * One feature's share of a service's environment: the variables it reads
 * and how their values become the feature's options. A service's config is
 * a merge of fragments (`parseFragments`), so a variable is declared once,
 * beside the feature that uses it, and a new feature adds a fragment
 * instead of editing a central schema.
 *
 * Defaults belong to the feature's options (the factory's signature and its
 * JSDoc `@default`), not to the variables: an unset variable reads as
 * `undefined`, and `fromEnv` leaves the option out so the feature's own
 * default applies.
 */
export interface EnvFragment<TShape extends z.ZodRawShape, TOptions> {
  /** Variables this fragment reads, by their exact names, each with its schema. */
  variables: TShape;
  /**
   * Name prefixes this fragment owns (`RATE_LIMIT_`): a variable that starts
   * with one but is not declared by any fragment is reported as a likely
   * misspelling (`RATE_LIMIT_POINT`). Keep them specific: a service's
   * environment holds other programs' variables too.
   */
  prefixes?: readonly string[];
  /**
   * Prefixes inside `prefixes` that belong to another program, whose
   * variables are never reported: beside the products subgraph's
   * `PRODUCTS_` variables, the router's `PRODUCTS_SUBGRAPH_URL`.
   */
  foreignPrefixes?: readonly string[];
  /** Checks that span several of this fragment's variables; each failure names the variable to fix. */
  check?: (vars: z.output<z.ZodObject<TShape>>) => FragmentIssue[];
  /** The feature's options from its parsed variables. */
  fromEnv: (vars: z.output<z.ZodObject<TShape>>, env: NodeJS.ProcessEnv) => TOptions;
}

export interface FragmentIssue {
  variable: string;
  message: string;
}

/** Identity function that lets TypeScript infer a fragment's variable and option types. */
export function defineEnvFragment<TShape extends z.ZodRawShape, TOptions>(
  fragment: EnvFragment<TShape, TOptions>,
): EnvFragment<TShape, TOptions> {
  return fragment;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a list of fragments of any shape
type AnyEnvFragment = EnvFragment<any, unknown>;

export type OptionsOf<TFragments extends Record<string, AnyEnvFragment>> = {
  [K in keyof TFragments]: ReturnType<TFragments[K]['fromEnv']>;
};

export interface ParsedFragments<TFragments extends Record<string, AnyEnvFragment>> {
  options: OptionsOf<TFragments>;
  /** Variables with a known prefix that no fragment declares, each with the closest known name if any. */
  unknownVariables: UnknownVariable[];
}

export interface UnknownVariable {
  variable: string;
  /** The declared variable it most likely misspells, if one is close. */
  suggestion: string | null;
}

/**
 * Parses every fragment against `env` at once and fails fast with one
 * message naming every offending variable, so a misconfigured deployment
 * stops at boot with the whole list instead of one problem per restart.
 */
export function parseFragments<TFragments extends Record<string, AnyEnvFragment>>(
  fragments: TFragments,
  env: NodeJS.ProcessEnv = process.env,
): ParsedFragments<TFragments> {
  const problems: string[] = [];
  const parsed: Record<string, unknown> = {};
  for (const [key, fragment] of Object.entries(fragments)) {
    const result = z.object(fragment.variables).safeParse(env);
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(`  ${issue.path.join('.')}: ${issue.message}`);
      continue;
    }
    const issues = fragment.check?.(result.data) ?? [];
    for (const issue of issues) problems.push(`  ${issue.variable}: ${issue.message}`);
    if (issues.length === 0) parsed[key] = result.data;
  }
  if (problems.length > 0) throw new ConfigError(`Invalid environment:\n${problems.join('\n')}`);
  const options: Record<string, unknown> = {};
  for (const [key, fragment] of Object.entries(fragments))
    options[key] = fragment.fromEnv(parsed[key] as Record<string, unknown>, env);
  return { options: options as OptionsOf<TFragments>, unknownVariables: unknownVariables(fragments, env) };
}

function unknownVariables(fragments: Record<string, AnyEnvFragment>, env: NodeJS.ProcessEnv): UnknownVariable[] {
  const declared = Object.values(fragments).flatMap((fragment) => Object.keys(fragment.variables));
  const known = new Set(declared);
  const prefixes = Object.values(fragments).flatMap((fragment) => fragment.prefixes ?? []);
  const foreign = Object.values(fragments).flatMap((fragment) => fragment.foreignPrefixes ?? []);
  const startsWithAny = (variable: string, list: string[]) => list.some((prefix) => variable.startsWith(prefix));
  return Object.keys(env)
    .filter(
      (variable) => !known.has(variable) && startsWithAny(variable, prefixes) && !startsWithAny(variable, foreign),
    )
    .sort()
    .map((variable) => ({ variable, suggestion: closest(variable, declared) }));
}

/** The declared name within a small edit distance of `variable`, as a typo would leave it. */
function closest(variable: string, declared: string[]): string | null {
  let best: { name: string; distance: number } | null = null;
  for (const name of declared) {
    const distance = editDistance(variable, name);
    if (distance <= Math.max(2, Math.floor(name.length / 5)) && (!best || distance < best.distance))
      best = { name, distance };
  }
  return best?.name ?? null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

/** One line per unknown variable, for the start-up log. */
export function describeUnknownVariable({ variable, suggestion }: UnknownVariable): string {
  return suggestion
    ? `${variable} is not a known variable; did you mean ${suggestion}?`
    : `${variable} is not a known variable`;
}

/** A warning per unknown variable, so a misspelling is seen at start rather than by its missing effect. */
export function warnOfUnknownVariables(logger: Logger, unknownVariables: readonly UnknownVariable[]): void {
  for (const unknown of unknownVariables)
    logger.warn({ variable: unknown.variable, suggestion: unknown.suggestion }, describeUnknownVariable(unknown));
}
