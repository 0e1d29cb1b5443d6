// The layer graph of src/, in one table. eslint.config.js turns it into the `colloquy/layers`
// rule (every import in src/ points down), scripts/check-folder-cycles.js builds the folder import
// graph from the sources and fails on a cycle, and README.md's "Layers" section prints the table
// (test/docs/layers.test.ts checks all three). Plain JavaScript: ESLint loads it without a build.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The folders of src/, lowest layer first. A file imports files of its own folder and of the
 * folders of lower layers, nothing else: folders in one layer do not import each other. The files
 * at the root of src/ (index.ts, browser.ts, errors.ts) are the package's entry points, above
 * every folder: they may import any folder and no folder imports them.
 * @type {readonly (readonly string[])[]}
 */
export const LAYERS = [
  ['util'],
  ['engine'],
  ['transport', 'store'],
  ['driver'],
  ['mux'],
  ['client', 'server'],
  ['iso', 'netbios', 'pptp', 'decnet', 'appletalk'],
  ['cluster', 'web'],
  ['apps'],
  ['serve'],
  ['cli'],
];

export const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

const LAYER_OF = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i])));

/** The layer number of a folder of src/ (0 is the lowest), or undefined when the table lacks it. */
export function layerOf(folder) {
  return LAYER_OF.get(folder);
}

/** The folder of src/ a file is in: its first path segment, '' for a file at the root of src/, null outside src/. */
export function folderOf(file, src = SRC) {
  const rel = path.relative(src, path.resolve(file));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0] : '';
}

const where = (folder) => (folder === '' ? 'the root of src/' : `src/${folder}/`);

/**
 * Why `specifier`, imported by `file`, breaks the layer graph, or null when it does not.
 * Only relative specifiers name files of src/; packages and node: modules are not layers.
 */
export function checkImport(file, specifier, src = SRC) {
  if (!specifier.startsWith('.')) return null;
  const from = folderOf(file, src);
  const to = folderOf(path.resolve(path.dirname(file), specifier), src);
  if (from === null || from === '' || to === null || to === from) return null;
  if (layerOf(from) === undefined)
    return `${where(from)} is in no layer: add it to LAYERS in scripts/layers.js and to README.md's "Layers" section`;
  if (to === '')
    return `${where(from)} imports '${specifier}' from the root of src/, whose files are the package's entry points above every layer: import the module it comes from instead`;
  if (layerOf(to) === undefined)
    return `${where(to)} is in no layer: add it to LAYERS in scripts/layers.js and to README.md's "Layers" section`;
  if (layerOf(to) < layerOf(from)) return null;
  const how = layerOf(to) === layerOf(from) ? 'a folder of the same layer' : 'a higher layer';
  return `${where(from)} (layer ${layerOf(from)}) imports '${specifier}' from ${where(to)}, ${how} (layer ${layerOf(to)}); imports point down the layers (README.md "Layers"): move what both need down to the lower folder, or let the upper one register itself in a table of the lower one`;
}

/** The ESLint rule: every import, export-from, dynamic import() and import('…') type of a file in src/ points down. */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Imports in src/ point down the layer table of scripts/layers.js' },
    schema: [],
    messages: { up: '{{message}}' },
  },
  create(context) {
    const check = (node) => {
      if (node?.type !== 'Literal' || typeof node.value !== 'string') return;
      const message = checkImport(context.filename, node.value);
      if (message) context.report({ node, messageId: 'up', data: { message } });
    };
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      TSImportType: (node) => check(node.source ?? node.argument?.literal),
      TSExternalModuleReference: (node) => check(node.expression),
    };
  },
};

export const layersPlugin = { meta: { name: 'colloquy-layers' }, rules: { layers: layersRule } };

function sourceFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|tsx|mts|cts|js|mjs)$/.test(e.name) ? [p] : [];
  });
}

/**
 * The folder import graph of src/, read with TypeScript's own import scanner (static, type-only,
 * export-from and dynamic imports): from folder -> to folder -> the files that make the edge.
 * Files at the root of src/ are the folder ''.
 * @returns {Map<string, Map<string, string[]>>}
 */
export function folderGraph(src = SRC) {
  const graph = new Map();
  for (const file of sourceFiles(src)) {
    const from = folderOf(file, src);
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const to = folderOf(path.resolve(path.dirname(file), fileName), src);
      if (to === null || to === from) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      const edges = graph.get(from);
      if (!edges.has(to)) edges.set(to, []);
      edges.get(to).push(`${path.relative(src, file)} -> ${fileName}`);
    }
  }
  return graph;
}

/**
 * The cycles of a folder graph: its strongly connected components of more than one folder
 * (Tarjan), each sorted, with the edges inside it. An empty list means no folder cycle.
 * @param {Map<string, Map<string, string[]>>} graph
 */
export function folderCycles(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  let next = 0;
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return components.map((folders) => ({
    folders,
    edges: folders.flatMap((a) => folders.flatMap((b) => (graph.get(a)?.get(b) ?? []).map((e) => `src/${e}`))),
  }));
}
