// The tools image's ECS entrypoint (see runner.ts): `node runner.mjs ['<event JSON>']`.
import { EXIT, runTask } from './runner.ts';

// ECS sends SIGTERM before SIGKILL (stopTimeout): say so in the log; the partial payload stays an incomplete
// backup folder (no manifest, never listed), which retention removes and which routes the next run to Fargate.
process.once('SIGTERM', () => {
  console.error(JSON.stringify({ level: 'ERROR', message: 'task stopped by SIGTERM before it finished; no manifest was written', timestamp: new Date().toISOString() }));
  process.exit(EXIT.stopped);
});

process.exitCode = await runTask({ env: process.env, argv: process.argv.slice(2) });
