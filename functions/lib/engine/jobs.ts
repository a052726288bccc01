/** How many streams a parallel dump or restore runs: `--jobs`, or the runner's vCPUs. */
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.ts';

/** Most streams one run opens (each is a database connection and a pipeline). */
export const MAX_JOBS = 64;

/** `--jobs`: a whole number from 1 to {@link MAX_JOBS}; the runner's vCPUs (`os.availableParallelism()`) when not given. */
export function resolveJobs(jobs: number | undefined): number {
  if (jobs === undefined) return Math.min(availableParallelism(), MAX_JOBS);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS) {
    throw new ConfigError(`jobs must be a whole number from 1 to ${MAX_JOBS}, got ${jobs}`);
  }
  return jobs;
}

/** A Fargate task's streams: one per vCPU (1024 CPU units), as LIFEBOAT_JOBS tells its core. */
export function jobsForTaskCpu(cpuUnits: number): number {
  return Math.min(Math.max(1, Math.floor(cpuUnits / 1024)), MAX_JOBS);
}

/**
 * UV_THREADPOOL_SIZE for `jobs` streams: zstd (`node:zlib`) and file I/O run on libuv's pool, 4 threads by
 * default, which would hold back more than 4 parallel streams.
 */
export function threadPoolSizeFor(jobs: number): number {
  return Math.max(4, jobs);
}
