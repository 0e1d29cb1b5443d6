// The layer graph of README.md "Layers": the table there is the one of scripts/layers.js, every
// folder of src/ is in it, the project's ESLint config reports an import that runs up or across
// the layers, and the folder graph of src/ has no cycle (while a made-up cycle is found).

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { folderCycles, folderGraph, LAYERS, SRC } from '../../scripts/layers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the layer table', () => {
  it('is the one README.md prints, row by row', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Layers'), readme.indexOf('\n## ', readme.indexOf('## Layers') + 1));
    const rows = [...section.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)].map((m) => [
      Number(m[1]),
      [...m[2]!.matchAll(/`([a-z]+)`/g)].map((f) => f[1]),
    ]);
    expect(rows).toEqual(LAYERS.map((folders, i) => [i, [...folders]]));
  });

  it('holds every folder of src/, once', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(LAYERS.flat().sort()).toEqual(folders);
  });
});

describe('the ESLint layer rule, as the project configures it', () => {
  // The project's eslint.config.js, without type information (a made-up file is in no tsconfig).
  const eslint = new ESLint({
    cwd: root,
    overrideConfig: [
      tseslint.configs.disableTypeChecked,
      { languageOptions: { parserOptions: { projectService: false } } },
    ],
  });
  const lint = async (file: string, code: string): Promise<string[]> => {
    const [result] = await eslint.lintText(code, { filePath: join(SRC, file) });
    return result!.messages.filter((m) => m.ruleId === 'colloquy/layers').map((m) => m.message);
  };

  it('reports an import from a higher layer, in every form an import takes', async () => {
    const up = [
      "import { Emitter } from '../cli/args.js';\nexport { Emitter };",
      "import type { Command } from '../cli/commands.js';\nexport type { Command };",
      "export { ExitCode } from '../cli/args.js';",
      "export * from '../serve/app.js';",
      "export const later = () => import('../apps/index.js');",
      "export type Late = import('../cluster/index.js').RedisBus;",
    ];
    for (const code of up)
      expect(await lint('store/fixture.ts', code), code).toEqual([
        expect.stringMatching(
          /^src\/store\/ \(layer 2\) imports '\.\.\/[a-z]+\/[a-z-]+\.js' from src\/[a-z]+\/, a higher layer/,
        ),
      ]);
  });

  it('reports an import across one layer, from a folder deeper down, and from the root entries', async () => {
    expect(
      await lint('client/fixture.ts', "import { listen } from '../server/server.js';\nexport { listen };"),
    ).toEqual([expect.stringContaining('a folder of the same layer')]);
    expect(
      await lint(
        'engine/machine/fixture.ts',
        "import { Session } from '../../driver/session.js';\nexport { Session };",
      ),
    ).toEqual([expect.stringContaining('src/engine/ (layer 1)')]);
    expect(
      await lint('apps/fixture.ts', "import { ERROR_TABLES } from '../errors.js';\nexport { ERROR_TABLES };"),
    ).toEqual([expect.stringContaining('from the root of src/')]);
  });

  it('lets imports point down, stay in their folder, and the root entries import anything', async () => {
    expect(
      await lint(
        'cli/fixture.ts',
        "import { Emitter } from '../util/emitter.js';\nimport { connect } from '../client/connect.js';\nimport { UsageError } from './args.js';\nexport { Emitter, connect, UsageError };",
      ),
    ).toEqual([]);
    expect(await lint('fixture.ts', "import { main } from './cli/cli.js';\nexport { main };")).toEqual([]);
  });
});

describe('the folder graph', () => {
  it('of src/ has no cycle', () => {
    expect(folderCycles(folderGraph())).toEqual([]);
  });

  it("finds a cycle between folders, with the files that close it, read with TypeScript's import scanner", () => {
    const dir = mkdtempSync(join(tmpdir(), 'colloquy-layers-'));
    try {
      for (const folder of ['a', 'b', 'c']) mkdirSync(join(dir, folder));
      writeFileSync(join(dir, 'a', 'x.ts'), "import type { Y } from '../b/y.js';\nexport type X = Y;\n");
      writeFileSync(join(dir, 'b', 'y.ts'), "export type Y = number;\nexport const z = () => import('../c/z.js');\n");
      writeFileSync(join(dir, 'c', 'z.ts'), "export * from '../a/x.js';\n");
      expect(folderCycles(folderGraph(dir))).toEqual([
        {
          folders: ['a', 'b', 'c'],
          edges: ['src/a/x.ts -> ../b/y.js', 'src/b/y.ts -> ../c/z.js', 'src/c/z.ts -> ../a/x.js'],
        },
      ]);
      rmSync(join(dir, 'c', 'z.ts'));
      expect(folderCycles(folderGraph(dir))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
