import { federation, type CorpusCase, type CorpusContext } from './case.ts';

/**
 * Root mutation fields run one after another, in the client's order, even
 * when they alternate between subgraphs; each answer reports the log of
 * everything that ran before it in this request, so a reordered or
 * parallelised sequence shows in the data.
 */
export const mutationOrder: CorpusCase = {
  name: 'mutation sequence whose order matters',
  subgraphs: [
    {
      name: 'cart',
      typeDefs: `${federation('@key')}
        type Query { noop: Boolean }
        type Step @key(fields: "id") { id: ID! seenBy: [String!]! }
        type Mutation { addToCart(item: String!): Step! clearCart: Step! }`,
      resolvers: {
        Mutation: {
          addToCart: (_: unknown, { item }: { item: string }, context: CorpusContext) => step(context, `add ${item}`),
          clearCart: (_: unknown, __: unknown, context: CorpusContext) => step(context, 'clear'),
        },
        // A Step another subgraph returned: what has run by the time the executor comes to ask.
        Step: {
          __resolveReference: ({ id }: { id: string }, context: CorpusContext) => ({ id, seenBy: [...context.log] }),
        },
      },
    },
    {
      name: 'checkout',
      typeDefs: `${federation('@key')}
        type Step @key(fields: "id") { id: ID! }
        type Mutation { checkout: Step! }`,
      resolvers: {
        Mutation: {
          checkout: (_: unknown, __: unknown, context: CorpusContext) => ({ id: record(context, 'checkout') }),
        },
      },
    },
  ],
  operations: [
    {
      name: 'AlternatingSubgraphs',
      query: `mutation AlternatingSubgraphs {
        first: addToCart(item: "kettle") { id seenBy }
        checkout { id seenBy }
        second: addToCart(item: "toaster") { id }
        clearCart { id seenBy }
      }`,
      expected: {
        data: {
          first: { id: '1:add kettle', seenBy: ['add kettle'] },
          checkout: { id: '2:checkout', seenBy: ['add kettle', 'checkout'] },
          second: { id: '3:add toaster' },
          clearCart: { id: '4:clear', seenBy: ['add kettle', 'checkout', 'add toaster', 'clear'] },
        },
      },
    },
  ],
};

function record(context: CorpusContext, what: string): string {
  context.log.push(what);
  return `${context.log.length}:${what}`;
}

function step(context: CorpusContext, what: string) {
  record(context, what);
  // A copy: what had run when this step ran, not what ran by the end of the request.
  return { id: `${context.log.length}:${what}`, seenBy: [...context.log] };
}
