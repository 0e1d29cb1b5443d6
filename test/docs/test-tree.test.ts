// The test tree mirrors the source tree (README.md, "Tests"): every folder under test/ is a source
// folder's twin, a helper subfolder (support, fixtures, scenarios) inside one, or a cross-cutting
// folder listed in the README's table; and every folder that table lists exists.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const HELPER_FOLDERS = ['support', 'fixtures', 'scenarios'];

function folders(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    out.push(rel, ...folders(dir, rel));
  }
  return out;
}

function isSourceFolder(rel: string): boolean {
  try {
    return statSync(join(root, 'src', rel)).isDirectory();
  } catch {
    return false;
  }
}

/** The README's "Tests" section: its text and the folders its table lists. */
function readmeTests(): { text: string; crossCutting: string[] } {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Tests\n');
  expect(start, 'README.md has a "## Tests" section').toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + 1);
  const text = readme.slice(start, end === -1 ? undefined : end);
  const crossCutting = [...text.matchAll(/^\| `test\/([^`/]+)\/` \|/gm)].map((m) => m[1]!);
  return { text, crossCutting };
}

/** Why `rel` (a folder under test/) is allowed, or undefined when it is not. */
function reason(rel: string, crossCutting: string[]): string | undefined {
  const parts = rel.split('/');
  if (crossCutting.includes(parts[0]!)) return 'cross-cutting';
  const helper = parts.findIndex((p) => HELPER_FOLDERS.includes(p));
  if (helper > 0 && isSourceFolder(parts.slice(0, helper).join('/'))) return 'helper';
  if (isSourceFolder(rel)) return 'mirror';
  return undefined;
}

describe('test/ mirrors src/', () => {
  const { text, crossCutting } = readmeTests();

  it('the README lists the cross-cutting folders and names the helper subfolders', () => {
    expect(crossCutting.length).toBeGreaterThan(0);
    for (const name of HELPER_FOLDERS) expect(text).toContain(`\`${name}\``);
  });

  it('every folder the README lists as cross-cutting exists and is not also a source folder', () => {
    for (const name of crossCutting) {
      expect(statSync(join(root, 'test', name)).isDirectory(), `test/${name}/`).toBe(true);
      expect(isSourceFolder(name), `test/${name}/ is listed as cross-cutting but src/${name}/ exists`).toBe(false);
    }
  });

  it('every folder under test/ is a source folder, a helper inside one, or a listed cross-cutting one', () => {
    const strays = folders(join(root, 'test')).filter((rel) => reason(rel, crossCutting) === undefined);
    expect(strays, 'move these to the folder of the source they test, or list them in README.md "Tests"').toEqual([]);
  });
});
