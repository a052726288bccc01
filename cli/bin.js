#!/usr/bin/env node
// The `lifeboat` executable. An installed package (npm install -g, npx from the registry) runs the bundle
// that `npm pack` built, dist/cli.mjs, with plain Node; a checkout of the repository has no dist/ and runs
// the TypeScript sources through tsx's ESM hooks.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli.mjs', import.meta.url);
let main;
if (existsSync(bundle)) {
  ({ main } = await import(bundle.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}
await main();
