import { fileURLToPath } from 'node:url';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { Logger } from '../../../../platform/src/logger.ts';
import type { RouterPlugin } from '../plugin.ts';
import { ideBundle } from './bundle.ts';
import { readShippedOperations } from './operations.ts';
import { renderIdePage, type IdePageConfig } from './page.ts';

export interface IdePluginOptions {
  /**
   * Serve GraphiQL to a browser that opens the endpoint. When false, no
   * landing page at all: Apollo Server's default would load Apollo's from a
   * CDN. The router passes false in production.
   * @default true
   */
  enabled?: boolean;
  /**
   * Folder of the shipped operations the picker offers.
   * @default `operations/` at the repository root
   */
  operationsFolder?: string;
  /**
   * Where GraphiQL sends operations, relative to the page.
   * @default '/graphql'
   */
  endpoint?: string;
  /**
   * The page's title.
   * @default 'Shop graph · GraphiQL'
   */
  title?: string;
}

const repositoryOperations = fileURLToPath(new URL('../../../../operations/', import.meta.url));

/**
 * GraphiQL as Apollo Server's landing page: a GET of the endpoint that
 * prefers HTML gets the IDE, every other request is GraphQL as before.
 *
 * Why GraphiQL 5, bundled here: it is the maintained line (the UMD build
 * of older lines is deprecated and pins React 18), and its ESM modules,
 * Monaco included, bundle with esbuild in seconds on Node 20. The packages
 * are devDependencies, read from node_modules when the page is first asked
 * for, so the page works with no internet and a production install
 * carries none of it.
 */
export function idePlugin(options: IdePluginOptions = {}): RouterPlugin {
  let logger: Logger | null = null;
  return {
    name: 'ide',
    setup: (router) => {
      logger = router.logger;
    },
    apollo: landingPage(options, (error) => logger?.error({ err: error }, 'cannot build the GraphiQL page')),
  };
}

function landingPage(
  {
    enabled = true,
    operationsFolder = repositoryOperations,
    endpoint = '/graphql',
    title = 'Shop graph · GraphiQL',
  }: IdePluginOptions,
  reportFailure: (error: unknown) => void,
): ApolloServerPlugin {
  if (!enabled) return ApolloServerPluginLandingPageDisabled();
  return {
    async serverWillStart() {
      return {
        async renderLandingPage() {
          return {
            // Built on each visit from the bundle (made once) and the operations (read afresh, so edits show).
            html: async () => {
              try {
                const [bundle, operations] = await Promise.all([ideBundle(), readShippedOperations(operationsFolder)]);
                const config: IdePageConfig = { endpoint, operations, defaultQuery, defaultHeaders };
                return renderIdePage(bundle, config, title);
              } catch (error) {
                reportFailure(error);
                return unavailablePage;
              }
            },
          };
        },
      };
    },
  };
}

const defaultQuery = `# Pick a shipped operation from the list on the left, or write your own.
# Signed-in fields (viewer, orders, addReview…) need a token: run
#   npm run token -- --seed-user 0
# and put it in the Headers tab below: { "Authorization": "Bearer <token>" }
{
  products(first: 3) {
    edges {
      node {
        sku
        name
      }
    }
  }
}
`;

const defaultHeaders = `{
  // Signed in: run \`npm run token -- --seed-user 0\` and paste the token below.
  // "Authorization": "Bearer <token>"
}
`;

// A devDependency missing (an install with --omit=dev outside production) must not look like a broken graph.
const unavailablePage = `<!doctype html><meta charset="utf-8"><title>GraphiQL unavailable</title>
<p>GraphiQL could not be built; the router's log says why (are devDependencies installed?). GraphQL is served here over POST.</p>`;
