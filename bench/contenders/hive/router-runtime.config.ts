/**
 * Hive Gateway on `@graphql-hive/router-runtime`: Hive Router's Rust query
 * planner and executor as a native addon. Imported here rather than enabled
 * with `--hive-router-runtime`, because the flag falls back to the default
 * runtime with only a log line when the package cannot load, and a
 * benchmark must not measure the wrong thing quietly.
 */
import { defineConfig } from '@graphql-hive/gateway';
import { unifiedGraphHandler } from '@graphql-hive/router-runtime';
import { commonConfig } from './common.ts';

export const gatewayConfig = defineConfig({ ...commonConfig, unifiedGraphHandler });
