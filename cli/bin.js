#!/usr/bin/env node
// The `lifeboat` executable: loads tsx's ESM hooks so the TypeScript sources run as they are, then the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
await main();
