import type { SubgraphContext } from '../../../platform/src/subgraph/definition.ts';
import type * as tables from './db/schema.ts';
import type { Loaders } from './loaders.ts';

export type Context = SubgraphContext<typeof tables, Loaders>;
