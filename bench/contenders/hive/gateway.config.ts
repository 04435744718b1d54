/** Hive Gateway as shipped: the JavaScript query planner (stitching runtime). */
import { defineConfig } from '@graphql-hive/gateway';
import { commonConfig } from './common.ts';

export const gatewayConfig = defineConfig(commonConfig);
