// Types of scripts/layers.js (plain JavaScript, so that eslint.config.js loads it without a build),
// for the TypeScript that imports it (test/docs/layers.test.ts).
import type { Rule } from 'eslint';

export declare const LAYERS: readonly (readonly string[])[];
export declare const SRC: string;
export declare function layerOf(folder: string): number | undefined;
export declare function folderOf(file: string, src?: string): string | null;
export declare function checkImport(file: string, specifier: string, src?: string): string | null;
export declare const layersRule: Rule.RuleModule;
export declare const layersPlugin: { meta: { name: string }; rules: { layers: Rule.RuleModule } };
export declare function folderGraph(src?: string): Map<string, Map<string, string[]>>;
export declare function folderCycles(
  graph: Map<string, Map<string, string[]>>,
): { folders: string[]; edges: string[] }[];
