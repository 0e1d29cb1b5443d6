// The code examples of README.md and docs/*.md, extracted so that a test can run each one
// against the packed package (test/docs/examples.test.ts). A doc cannot drift from the code:
// an example that no longer runs fails the suite.
//
// The convention (also in README.md, "Examples in the docs"):
//   - A fence tagged ts, typescript, js, javascript or mjs is a runnable example: a complete ES
//     module that imports `colloquy` (or a subpath) as a user would, runs to the end by itself
//     and exits 0 within the time limit. Ports are 0 (any free port), files go under the working
//     directory (a fresh empty one per example), servers are closed at the end.
//   - A complete program that cannot end by itself (a server on a fixed port) has the marker
//     `<!-- type-check-only: why -->` on the line just before it: it is type-checked, not run.
//   - A fence that is deliberately neither (a fragment of a larger program, a list of
//     constructor shapes) has the marker `<!-- not-run: why -->` on the line just before it.
//     Both markers need a reason.
//   - Shell commands are fenced as sh (or bash, console); text, diagrams and outputs as text,
//     json, mermaid or an untagged fence. None of those runs. An untagged fence whose first line
//     is an `import` is an error: tag it ts.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const RUNNABLE = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs']);
const MARKER = /^<!--\s*(not-run|type-check-only):\s*(.*?)\s*-->$/;

export interface DocExample {
  /** The document, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** Set when the example carries the not-run marker: the reason given. */
  notRun?: string;
  /** Set when the example carries the type-check-only marker: the reason given. */
  typeOnly?: string;
  /** A convention breach found while extracting (a marker without a reason, an untagged import). */
  problem?: string;
}

/** README.md and every docs/*.md, in order. */
export function documentsWithExamples(root: string): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

/** The fenced code blocks of one markdown text that are examples (runnable or marked not-run). */
export function extractExamples(file: string, text: string): DocExample[] {
  const lines = text.split('\n');
  const out: DocExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i] as string);
    if (!open) continue;
    const [, indent, fence, lang] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j] as string;
      const t = l.trim();
      if (t.length >= fence.length && t.startsWith(fence) && [...t].every((c) => c === fence[0])) break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l);
    }
    const code = body.join('\n');
    const previous = previousLine(lines, i);
    const marker = previous === undefined ? null : MARKER.exec(previous.trim());
    const tag = lang.toLowerCase();
    if (RUNNABLE.has(tag)) {
      const example: DocExample = { file, line: i + 1, lang: tag, code };
      if (marker) {
        const [, kind, reason] = marker as unknown as [string, string, string];
        if (kind === 'not-run') example.notRun = reason;
        else example.typeOnly = reason;
        if (!reason) example.problem = `the ${kind} marker needs a reason: <!-- ${kind}: why -->`;
      }
      out.push(example);
    } else if (tag === '' && /^\s*import\s/.test(code)) {
      out.push({
        file,
        line: i + 1,
        lang: tag,
        code,
        problem: 'an untagged fence that imports: tag it ts (or mark it not-run)',
      });
    } else if (marker) {
      out.push({
        file,
        line: i + 1,
        lang: tag,
        code,
        notRun: marker[2] ?? '',
        problem: `a ${marker[1] ?? ''} marker on a ${tag || 'untagged'} fence, which never runs anyway: remove the marker`,
      });
    }
    i = j;
  }
  return out;
}

/** The nearest non-blank line before index i, if any. */
function previousLine(lines: string[], i: number): string | undefined {
  for (let k = i - 1; k >= 0; k--) {
    const l = lines[k] as string;
    if (l.trim()) return l;
  }
  return undefined;
}

/** Every example of the repository's documents. */
export function allExamples(root: string): DocExample[] {
  return documentsWithExamples(root).flatMap((f) => extractExamples(f, readFileSync(join(root, f), 'utf8')));
}

/** Bare package names an example imports (other than colloquy and node: builtins). */
export function importedPackages(code: string): string[] {
  const names = new Set<string>();
  for (const m of code.matchAll(
    /(?:^|\n)\s*import\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
  )) {
    const spec = (m[1] ?? m[2]) as string;
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) continue;
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
    if (name !== 'colloquy') names.add(name);
  }
  return [...names].sort();
}
