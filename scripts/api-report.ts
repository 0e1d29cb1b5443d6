// The API report: every name each entry point of the package exports, with its kind, and the
// public members of each exported class, read from the built declaration files (dist/**/*.d.ts,
// where `@internal` declarations are already stripped). It is checked in as api/report.json, so
// the public surface changes only on purpose: a change shows up in that file's diff.
//
//   npm run api            (after npm run build) rewrites api/report.json
//   npm run api -- --check fails (exit 1) when the built surface differs from api/report.json
//   test/package/api-report.test.ts runs the same comparison on the packed package
//
// Output is deterministic (sorted, no paths, no dates) so it can be compared byte for byte.

import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export type ExportKind = 'class' | 'function' | 'const' | 'enum' | 'namespace' | 'interface' | 'type';

export interface EntryReport {
  /** Exported names and their kinds, sorted by name. */
  exports: Record<string, ExportKind>;
  /** For each exported class: its public instance and static members, sorted. */
  classes: Record<string, string[]>;
}

export interface ApiReport {
  /** Per entry: how many names, and how many of them are values (not only types). */
  summary: Record<string, { names: number; values: number }>;
  /** Names exported by more than one entry point, with the entries. */
  shared: Record<string, string[]>;
  entries: Record<string, EntryReport>;
}

export const REPORT_PATH = 'api/report.json';

interface PackageJson {
  name: string;
  exports: Record<string, string | { types?: string }>;
}

function kindOf(symbol: ts.Symbol): ExportKind {
  const f = symbol.flags;
  if (f & ts.SymbolFlags.Class) return 'class';
  if (f & ts.SymbolFlags.Function) return 'function';
  if (f & ts.SymbolFlags.Enum) return 'enum';
  if (f & ts.SymbolFlags.Variable) return 'const';
  if (f & ts.SymbolFlags.ValueModule) return 'namespace';
  if (f & ts.SymbolFlags.Interface) return 'interface';
  return 'type';
}

function isPublicMember(symbol: ts.Symbol): boolean {
  if (symbol.name.startsWith('#') || symbol.name === 'prototype') return false;
  return !(symbol.declarations ?? []).some(
    (d) => ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected),
  );
}

/** A member's name as written: `[Symbol.asyncIterator]` for a well-known symbol (the checker says `__@asyncIterator@47`). */
const memberName = (symbol: ts.Symbol): string => symbol.name.replace(/^__@(\w+)@\d+$/, '[Symbol.$1]');

function classMembers(checker: ts.TypeChecker, symbol: ts.Symbol, at: ts.Node): string[] {
  const instance = checker.getDeclaredTypeOfSymbol(symbol);
  const statics = checker.getTypeOfSymbolAtLocation(symbol, at);
  const names = [
    ...checker.getPropertiesOfType(instance).filter(isPublicMember).map(memberName),
    ...checker
      .getPropertiesOfType(statics)
      .filter(isPublicMember)
      .map((p) => `static ${memberName(p)}`),
  ];
  return [...new Set(names)].sort();
}

/** The report of the package in `packageDir` (its package.json `exports`, its built .d.ts). */
export function apiReport(packageDir: string): ApiReport {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as PackageJson;
  const entryFiles = new Map<string, string>();
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const types = typeof target === 'string' ? undefined : target.types;
    if (types === undefined) continue;
    entryFiles.set(subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`, join(packageDir, types));
  }
  const program = ts.createProgram([...entryFiles.values()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const entries: Record<string, EntryReport> = {};
  for (const [entry, file] of [...entryFiles].sort(([a], [b]) => a.localeCompare(b))) {
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`${entry}: ${file} not found (run npm run build first)`);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`${entry}: ${file} is not a module`);
    const report: EntryReport = { exports: {}, classes: {} };
    for (const exported of [...checker.getExportsOfModule(moduleSymbol)].sort((a, b) => a.name.localeCompare(b.name))) {
      const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const kind = kindOf(target);
      report.exports[exported.name] = kind;
      if (kind === 'class') report.classes[exported.name] = classMembers(checker, target, source);
    }
    entries[entry] = report;
  }
  const summary: ApiReport['summary'] = {};
  const owners = new Map<string, string[]>();
  for (const [entry, report] of Object.entries(entries)) {
    const kinds = Object.values(report.exports);
    summary[entry] = { names: kinds.length, values: kinds.filter((k) => k !== 'interface' && k !== 'type').length };
    for (const name of Object.keys(report.exports)) owners.set(name, [...(owners.get(name) ?? []), entry]);
  }
  const shared: ApiReport['shared'] = {};
  for (const [name, list] of [...owners].sort(([a], [b]) => a.localeCompare(b)))
    if (list.length > 1) shared[name] = list;
  return { summary, shared, entries };
}

export const formatReport = (report: ApiReport): string => `${JSON.stringify(report, null, 2)}\n`;

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

function main(): void {
  const text = formatReport(apiReport(REPO_ROOT));
  const path = join(REPO_ROOT, REPORT_PATH);
  if (process.argv.includes('--check')) {
    if (readFileSync(path, 'utf8') !== text) {
      console.error(
        `${REPORT_PATH} differs from the built public surface: if the change is meant, run \`npm run build && npm run api\` and commit ${REPORT_PATH}`,
      );
      process.exit(1);
    }
    console.log(`${REPORT_PATH} matches the built surface`);
    return;
  }
  writeFileSync(path, text);
  console.log(`wrote ${REPORT_PATH}`);
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) main();
