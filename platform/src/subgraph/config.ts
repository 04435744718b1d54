import { z } from 'zod';
import { booleanFromEnv, envPrefix, portFromEnv } from '../config.ts';
import { defineEnvFragment, parseFragments, type UnknownVariable } from '../config/fragment.ts';
import { serviceEnv, type ServiceOptions } from '../config/service.ts';
import type { DatabaseTarget } from '../db/database.ts';
import { databaseEnv } from '../db/env.ts';
import { tracingEnv, type TracingConfig } from '../tracing.ts';
import type { SeedSize } from './definition.ts';

export interface SubgraphConfig extends ServiceOptions {
  port: number;
  database: DatabaseTarget;
  /** Apply pending migrations at start. */
  migrateOnStart: boolean;
  /** Seed an empty database with this much data at start; `null` never seeds. */
  seedIfEmpty: SeedSize | null;
  tracing: TracingConfig;
}

/** What a subgraph does at start: its port, and whether it migrates and seeds its own database. */
export function subgraphStartEnv(name: string, defaultPort: number) {
  const prefix = envPrefix(name);
  const portVariable = `${prefix}_PORT`;
  return defineEnvFragment({
    // Typed as the fixed variables alone: a computed key would widen every variable's type to the port's.
    variables: {
      [portVariable]: portFromEnv.optional(),
      MIGRATE_ON_START: booleanFromEnv.optional(),
      SEED_IF_EMPTY: z.enum(['small', 'scale', 'none']).optional(),
    } as { MIGRATE_ON_START: z.ZodOptional<typeof booleanFromEnv>; SEED_IF_EMPTY: z.ZodOptional<z.ZodEnum> },
    prefixes: [`${prefix}_`, 'MIGRATE_', 'SEED_'],
    // The router reads these, about this subgraph, from the same environment under `npm start` and compose.
    foreignPrefixes: [`${prefix}_SUBGRAPH_`],
    fromEnv: (vars, env) => {
      // NODE_ENV is the service fragment's, checked there; unset is development.
      const production = env.NODE_ENV === 'production';
      // Development migrates itself; production runs `npm run db:migrate` as a release step.
      const seed = vars.SEED_IF_EMPTY ?? (production ? 'none' : 'small');
      return {
        port: ((vars as Record<string, unknown>)[portVariable] as number | undefined) ?? defaultPort,
        migrateOnStart: vars.MIGRATE_ON_START ?? !production,
        seedIfEmpty: seed === 'none' ? null : (seed as SeedSize),
      };
    },
  });
}

/**
 * One subgraph's fragments: what every service reads, its database, its
 * tracing, and its start. Variables are prefixed with the subgraph's name
 * where they differ between subgraphs (`PRODUCTS_PORT`,
 * `PRODUCTS_DATABASE_URL`, `PRODUCTS_METRICS_PORT`) so that one environment
 * can describe the whole graph, as `npm start` and docker-compose do.
 */
export function subgraphEnv(name: string, defaultPort: number) {
  return {
    service: serviceEnv({
      metricsPortVariable: `${envPrefix(name)}_METRICS_PORT`,
      // Several subgraphs run on one machine: each has its own port, beside the router's.
      metricsPortOffset: defaultPort - 4000,
    }),
    database: databaseEnv(name),
    tracing: tracingEnv(name),
    start: subgraphStartEnv(name, defaultPort),
  };
}

export interface ParsedSubgraphConfig {
  config: SubgraphConfig;
  /** Variables with a prefix the subgraph owns that it does not read: likely misspellings, for the start-up log. */
  unknownVariables: UnknownVariable[];
}

/** Reads one subgraph's configuration, failing fast with every offending variable named. */
export function parseSubgraphConfig(
  name: string,
  defaultPort: number,
  env: NodeJS.ProcessEnv = process.env,
): ParsedSubgraphConfig {
  const { options, unknownVariables } = parseFragments(subgraphEnv(name, defaultPort), env);
  return {
    config: { ...options.service, ...options.start, database: options.database, tracing: options.tracing },
    unknownVariables,
  };
}

/** `parseSubgraphConfig`'s config alone, for tools that do not log. */
export function subgraphConfigFromEnv(
  name: string,
  defaultPort: number,
  env: NodeJS.ProcessEnv = process.env,
): SubgraphConfig {
  return parseSubgraphConfig(name, defaultPort, env).config;
}
