/**
 * The layout rules of the brief, checked on the source tree: nothing in functions/lib imports from a capability
 * folder, and no module imports itself back through others (type-only imports count: a circle of types is still
 * a circle a reader has to untangle).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TREES = ['functions', 'cli', 'infra', 'bench'];
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.{1,2}\/[^']+)'|(?:^|\n)\s*import\s+'(\.{1,2}\/[^']+)'/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Module (path relative to the repository) → the repository modules it imports. */
export function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(IMPORT)]
      .map((match) => match[1] ?? match[2]!)
      .filter((specifier) => specifier.endsWith('.ts'))
      .map((specifier) => relative(root, resolve(dirname(file), specifier)));
    graph.set(relative(root, file), targets);
  }
  return graph;
}

/** Every import circle, each as the modules along it (first repeated at the end). */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

const graph = importGraph(TREES.flatMap((tree) => sourceFiles(join(root, tree))));

describe('architecture', () => {
  it('finds the modules it checks (the walk itself works)', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('functions/dr-step/drStep.ts')).toContain('functions/dr-step/deps.ts');
  });

  it('no module imports itself back through others', () => {
    expect(findCycles(graph).map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  it('functions/lib imports nothing from a capability folder', () => {
    const offending = [...graph]
      .filter(([module]) => module.startsWith('functions/lib/'))
      .flatMap(([module, targets]) =>
        targets.filter((target) => target.startsWith('functions/') && !target.startsWith('functions/lib/')).map((target) => `${module} → ${target}`),
      );
    expect(offending).toEqual([]);
  });

  it('the cycle finder reports a circle it is given', () => {
    const cycles = findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]));
    expect(cycles).toEqual([['a', 'b', 'c', 'a']]);
  });
});
