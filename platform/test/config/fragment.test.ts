import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/config.ts';
import { defineEnvFragment, describeUnknownVariable, parseFragments } from '../../src/config/fragment.ts';

const port = defineEnvFragment({
  variables: { ROUTER_PORT: z.coerce.number().int().optional() },
  prefixes: ['ROUTER_'],
  fromEnv: (vars) => ({ port: vars.ROUTER_PORT ?? 4000 }),
});
const limits = defineEnvFragment({
  variables: {
    RATE_LIMIT_POINTS: z.coerce.number().int().min(1).optional(),
    RATE_LIMIT: z.enum(['on', 'off']).optional(),
  },
  prefixes: ['RATE_LIMIT_'],
  check: (vars) =>
    vars.RATE_LIMIT === 'off' && vars.RATE_LIMIT_POINTS !== undefined
      ? [{ variable: 'RATE_LIMIT_POINTS', message: 'has no effect while RATE_LIMIT=off' }]
      : [],
  fromEnv: (vars) => (vars.RATE_LIMIT === 'off' ? null : { points: vars.RATE_LIMIT_POINTS ?? 600 }),
});

describe('parseFragments', () => {
  it('builds each fragment’s options, leaving defaults to the feature', () => {
    const { options, unknownVariables } = parseFragments({ port, limits }, { ROUTER_PORT: '4100' });
    expect(options).toEqual({ port: { port: 4100 }, limits: { points: 600 } });
    expect(unknownVariables).toEqual([]);
  });

  it('names every offending variable at once, from the schemas and the checks', () => {
    expect(() =>
      parseFragments({ port, limits }, { ROUTER_PORT: 'x', RATE_LIMIT: 'off', RATE_LIMIT_POINTS: '5' }),
    ).toThrow(ConfigError);
    try {
      parseFragments({ port, limits }, { ROUTER_PORT: 'x', RATE_LIMIT: 'off', RATE_LIMIT_POINTS: '5' });
    } catch (error) {
      expect((error as Error).message).toMatch(/ROUTER_PORT: .*\n {2}RATE_LIMIT_POINTS: has no effect/);
    }
  });

  it('reports a misspelled variable with a known prefix, with the name it most likely means', () => {
    const { unknownVariables } = parseFragments(
      { port, limits },
      { ROUTER_PROT: '4100', RATE_LIMIT_WINDOW: '60', REDIS_PASSWORD: 'not ours' },
    );
    expect(unknownVariables).toEqual([
      { variable: 'RATE_LIMIT_WINDOW', suggestion: null },
      { variable: 'ROUTER_PROT', suggestion: 'ROUTER_PORT' },
    ]);
    expect(describeUnknownVariable(unknownVariables[1]!)).toBe(
      'ROUTER_PROT is not a known variable; did you mean ROUTER_PORT?',
    );
  });
});
