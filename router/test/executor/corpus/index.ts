import type { CorpusCase } from './case.ts';
import { aliases } from './aliases.ts';
import { context } from './context.ts';
import { deepNesting } from './deep-nesting.ts';
import { entityCompoundKey } from './entity-compound-key.ts';
import { entityListDuplicates } from './entity-list-duplicates.ts';
import { entityMultipleKeys } from './entity-multiple-keys.ts';
import { entitySingleKey } from './entity-single-key.ts';
import { fragments } from './fragments.ts';
import { inaccessible } from './inaccessible.ts';
import { interfaceObject } from './interface-object.ts';
import { interfacesAcross } from './interfaces-across.ts';
import { mutationOrder } from './mutation-order.ts';
import { nullEntities } from './null-entities.ts';
import { override } from './override.ts';
import { partialFailures } from './partial-failures.ts';
import { providesAbstract } from './provides-abstract.ts';
import { requiresArguments } from './requires-arguments.ts';
import { requiresFragments } from './requires-fragments.ts';
import { shareableRoot } from './shareable-root.ts';
import { skipInclude } from './skip-include.ts';
import { unionsAcross } from './unions-across.ts';

/** Every case of the differential corpus, one file each. */
export const corpus: readonly CorpusCase[] = [
  entitySingleKey,
  entityCompoundKey,
  entityMultipleKeys,
  requiresArguments,
  requiresFragments,
  providesAbstract,
  shareableRoot,
  interfacesAcross,
  unionsAcross,
  interfaceObject,
  override,
  inaccessible,
  nullEntities,
  partialFailures,
  mutationOrder,
  skipInclude,
  aliases,
  fragments,
  entityListDuplicates,
  deepNesting,
  context,
];
