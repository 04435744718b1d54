import type { IdeBundle } from './bundle.ts';
import type { ShippedOperation } from './operations.ts';

/** What the page hands its script (client/main.js reads it from `#ide-config`). */
export interface IdePageConfig {
  /** Where operations are sent, relative to the page. */
  endpoint: string;
  operations: ShippedOperation[];
  /** The first tab's query when the browser has no saved tabs. */
  defaultQuery: string;
  /** Headers of every new tab: how to send a token, commented out. */
  defaultHeaders: string;
}

/**
 * One self-contained document: style, configuration and script inline. The
 * HTTP layer routes only `/graphql` to the graph, and Apollo Server's landing
 * page hook answers with one HTML string, so nothing else is fetched: no
 * CDN, no second request, and it works offline.
 */
export function renderIdePage(bundle: IdeBundle, config: IdePageConfig, title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${bundle.style}</style>
<style>
  html, body, #graphiql { height: 100%; margin: 0; }
  .ide-operations ul { list-style: none; padding: 0; }
  .ide-operation { display: flex; flex-direction: column; align-items: flex-start; width: 100%; padding: 6px 4px; text-align: left; cursor: pointer; }
  .ide-operation:hover { background: hsla(var(--color-neutral), var(--alpha-background-light)); }
  .ide-operation-file { font-size: 0.8em; opacity: 0.6; }
</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script type="application/json" id="ide-config">${inlineJson(config)}</script>
<script type="module">${inlineScript(bundle.script)}</script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** JSON that cannot end its script element: `<` is escaped wherever it appears, and JSON.parse reads it back. */
function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/**
 * esbuild already writes `</script` as `<\/script`. `<!--` can still switch
 * the HTML parser into a state where the closing tag does not close, so it
 * is written `\x3C!--`: it only occurs inside strings and regular
 * expressions, where the escape means the same character.
 */
function inlineScript(code: string): string {
  return code.replace(/<\/script/gi, '<\\/script').replace(/<!--/g, '\\x3C!--');
}
