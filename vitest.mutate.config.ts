import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// Stryker (npm run mutate) runs only the unit tests of the modules it mutates: vault, approval, the signed DR evidence, the air-gapped copy's proof
// a cache's DR restore (its AUTH secret and what a drill may touch), the air-gapped account's snapshot copier, and the zstd processes
// beside pg_dump and pg_restore (what a restore tool may receive before the checks pass, and what a backup records).
// The whole suite (CDK synths, databases) would take hours per mutated file on two cores.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/functions/vault/**/*.test.ts', 'test/functions/approval/**/*.test.ts', 'test/functions/plans/**/*.test.ts', 'test/functions/copy/airGapCopy.test.ts', 'test/functions/dr-step/redis.test.ts', 'test/functions/config-backup/**/*.test.ts', 'test/functions/dr-step/restoreConfig.test.ts', 'test/functions/air-gap-snapshots/**/*.test.ts', 'test/functions/copy/fileSetAirGapCopy.test.ts', 'test/functions/fileset/keyrings.test.ts', 'test/functions/copy/shareCopy.test.ts', 'test/functions/engine/zstdTool.test.ts', 'test/functions/engine/pipelineEnds.test.ts', 'test/functions/engine/parallel.test.ts'],
    // Stryker runs vitest in worker threads, which refuse node flags: `npm run mutate` sets NODE_OPTIONS instead.
    execArgv: [],
  },
});
