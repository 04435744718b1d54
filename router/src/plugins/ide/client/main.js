// The IDE's browser entry, bundled by ../bundle.ts with esbuild. Plain
// JavaScript on purpose: it runs in a browser, and the project's TypeScript
// setup (Node types, no DOM library, no JSX) is for the server.
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL, HISTORY_PLUGIN } from 'graphiql';
import { useGraphiQL, useGraphiQLActions } from '@graphiql/react';
import 'graphiql/style.css';
// Built by ../bundle.ts into strings: Monaco's workers start from blob URLs,
// so the page needs no second request and no origin but its own.
import editorWorker from 'ide-worker:editor';
import jsonWorker from 'ide-worker:json';
import graphqlWorker from 'ide-worker:graphql';

const workerUrls = new Map();
function workerUrl(label, code) {
  if (!workerUrls.has(label)) workerUrls.set(label, URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
  return workerUrls.get(label);
}

globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    if (label === 'json') return new Worker(workerUrl('json', jsonWorker));
    if (label === 'graphql') return new Worker(workerUrl('graphql', graphqlWorker));
    return new Worker(workerUrl('editor', editorWorker));
  },
};

/** What the server put in the page: see ../page.ts (IdePageConfig). */
const config = JSON.parse(document.getElementById('ide-config').textContent);
const endpoint = new URL(config.endpoint, location.href).toString();

/**
 * Plain JSON over POST, the headers editor's headers included. Apollo
 * Server's CSRF prevention accepts it because of the JSON content type.
 */
async function fetcher(params, options) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      accept: 'application/graphql-response+json, application/json',
      'content-type': 'application/json',
      ...options?.headers,
    },
    body: JSON.stringify(params),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { errors: [{ message: `HTTP ${response.status}: ${text.slice(0, 500)}` }] };
  }
}

/** Opens a shipped operation in a new tab, so the current one is not lost. */
function OperationsPicker() {
  const queryEditor = useGraphiQL((state) => state.queryEditor);
  const variableEditor = useGraphiQL((state) => state.variableEditor);
  const { addTab, setOperationName } = useGraphiQLActions();
  return h(
    'div',
    { className: 'ide-operations' },
    h('div', { className: 'graphiql-doc-explorer-title' }, 'Shipped operations'),
    h(
      'p',
      null,
      'The operations in ',
      h('code', null, 'operations/'),
      ', which the trusted-documents manifest is built from. Click one to open it in a new tab.',
    ),
    h(
      'ul',
      null,
      config.operations.map((operation) =>
        h(
          'li',
          { key: operation.file },
          h(
            'button',
            {
              type: 'button',
              className: 'graphiql-un-styled ide-operation',
              'data-operation': operation.name,
              // addTab makes the new tab active and loads it into the editors at once.
              onClick: () => {
                addTab();
                queryEditor?.setValue(operation.document);
                variableEditor?.setValue(operation.variables);
                // GraphiQL reads the operation name from the editor 100 ms after an edit; a run within
                // that window would send the previous tab's name with this document.
                setOperationName(operation.name);
              },
            },
            h('span', { className: 'ide-operation-name' }, operation.name),
            h('span', { className: 'ide-operation-file' }, operation.file),
          ),
        ),
      ),
    ),
    h(
      'p',
      null,
      'Signed-in operations need a token: run ',
      h('code', null, 'npm run token -- --seed-user 0'),
      ' and put it in the Headers tab below the editor as ',
      h('code', null, '"Authorization": "Bearer <token>"'),
      '.',
    ),
  );
}

function OperationsIcon() {
  return h(
    'svg',
    { viewBox: '0 0 24 24', width: 24, height: 24, fill: 'none', stroke: 'currentColor', strokeWidth: 1.5 },
    h('path', { d: 'M4 6h16M4 12h16M4 18h10' }),
  );
}

const operationsPlugin = { title: 'Shipped operations', icon: OperationsIcon, content: OperationsPicker };

createRoot(document.getElementById('graphiql')).render(
  h(GraphiQL, {
    fetcher,
    plugins: [operationsPlugin, HISTORY_PLUGIN],
    visiblePlugin: operationsPlugin,
    defaultQuery: config.defaultQuery,
    defaultHeaders: config.defaultHeaders,
    defaultEditorToolsVisibility: 'headers',
  }),
);
