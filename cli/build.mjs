#!/usr/bin/env node
// Builds dist/cli.mjs, the `lifeboat` an installed package runs (npm pack runs this as `prepack`): the CLI
// and the engine bundled into one ES module for Node 20, its npm dependencies left as imports, so neither
// tsx nor TypeScript is needed where the package is installed. In the repository bin.js runs the sources.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  absWorkingDir: root,
  entryPoints: ['cli/main.ts'],
  outfile: 'dist/cli.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
});
