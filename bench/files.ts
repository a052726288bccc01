/**
 * `npm run bench:files`: a file-set backup of a generated tree of 10,000 files, three times (first backup,
 * an unchanged re-run, 1 % of the files rewritten), each with Lifeboat's file-set engine (what
 * `lifeboat backup file:///…` runs, timed inside the process: a checkout's CLI spends seconds more starting
 * through tsx, which the bench reports separately as `lifeboat_cli_startup_s`) and with `restic backup` into
 * a local restic repository (timed as a whole process; Go starts in milliseconds). Stored bytes are what
 * each tool's repository holds on disk after each run. Progress goes to stderr; stdout has a table and, as its
 * last line, one JSON object.
 *
 * Options: --files N (default 10000), --seed N (default 1).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawAesKeyring } from '../functions/lib/crypto/keyring.ts';
import { runFileSetBackup } from '../functions/lib/fileset/backup.ts';
import { directorySource } from '../functions/lib/fileset/sources.ts';
import { LocalStore } from '../functions/lib/vault/localStore.ts';
import { round, table } from './report.ts';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const index = argv.indexOf(`--${name}`);
  return index >= 0 ? Number(argv[index + 1]) : fallback;
};
const FILES = option('files', 10_000);
let seed = option('seed', 1);
const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const RESTIC = process.env['RESTIC'] ?? 'restic';

/** A small deterministic PRNG (mulberry32), so every run generates the same tree shape. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const WORDS = 'invoice order customer upload avatar receipt report backup restore vault chunk pack index snapshot'.split(' ');
/** Half the files compress (text), half do not (random bytes, like images); sizes log-uniform 256 B – 64 KiB, plus a few large ones. */
function content(size: number, text: boolean): Buffer {
  if (!text) return randomBytes(size);
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const line = `${WORDS[Math.floor(random() * WORDS.length)]} ${Math.floor(random() * 1e9)} ${WORDS[Math.floor(random() * WORDS.length)]}\n`;
    parts.push(line);
    length += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

function fileSize(index: number): number {
  if (index % 1000 === 0) return 4 * 1024 * 1024 + Math.floor(random() * 1024 * 1024);
  return Math.floor(256 * Math.pow(256, random()));
}

async function generate(root: string): Promise<{ files: string[]; bytes: number }> {
  const files: string[] = [];
  let bytes = 0;
  for (let i = 0; i < FILES; i++) {
    const name = `d${String(i % 100).padStart(2, '0')}/s${String(Math.floor(i / 100) % 10)}/file-${String(i).padStart(5, '0')}.${i % 2 ? 'bin' : 'txt'}`;
    const size = fileSize(i);
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content(size, i % 2 === 0));
    files.push(name);
    bytes += size;
  }
  return { files, bytes };
}

async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name))).size;
  }
  return total;
}

function timed(label: string, command: string, args: string[], env: Record<string, string>): number {
  const started = performance.now();
  const result = spawnSync(command, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`${label} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  process.stderr.write(`  ${label}: ${round(seconds, 2)} s\n`);
  return seconds;
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-files-'));
  const cleanup = () => rm(work, { recursive: true, force: true });
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const tree = path.join(work, 'tree');
    const vault = path.join(work, 'vault');
    const repo = path.join(work, 'restic');
    const keyFile = path.join(work, 'key.json');
    process.stderr.write(`Generating ${FILES} files in ${tree}\n`);
    const { files, bytes } = await generate(tree);
    process.stderr.write(`  ${round(bytes / 1024 / 1024, 1)} MiB\n`);

    const node = process.execPath;
    const store = new LocalStore(vault);
    const keyring = rawAesKeyring({ keyNamespace: 'lifeboat', keyName: 'bench', key: randomBytes(32), createdAt: new Date().toISOString() });
    const lifeboat = async (label: string) => {
      const started = performance.now();
      await runFileSetBackup({ store, keyring, sourceId: 'bench-files', source: directorySource(tree) });
      const seconds = (performance.now() - started) / 1000;
      process.stderr.write(`  ${label}: ${round(seconds, 2)} s\n`);
      return seconds;
    };
    // The bench's own throwaway repository; the password never leaves this process tree.
    const resticEnv = { RESTIC_PASSWORD: randomBytes(16).toString('hex'), RESTIC_REPOSITORY: repo };
    const restic = (label: string) => timed(label, RESTIC, ['backup', '--quiet', '--no-cache', tree], resticEnv);
    const resticVersion = spawnSync(RESTIC, ['version'], { encoding: 'utf8' }).stdout.trim();

    // What a checkout's CLI adds to each run before any work: tsx loading the TypeScript sources.
    const startup = timed('lifeboat keygen (CLI start-up)', node, [BIN, 'keygen', '--key-file', keyFile, '--quiet'], {});
    timed('restic init', RESTIC, ['init', '--quiet'], resticEnv);

    const rows: Record<string, number>[] = [];
    const run = async (step: string) => {
      const lifeboatSeconds = await lifeboat(`lifeboat ${step}`);
      const lifeboatStored = await diskBytes(vault);
      const resticSeconds = restic(`restic ${step}`);
      const resticStored = await diskBytes(repo);
      rows.push({ lifeboatSeconds, lifeboatStored, resticSeconds, resticStored });
    };
    process.stderr.write('First backup\n');
    await run('first');
    process.stderr.write('Unchanged re-run\n');
    await run('unchanged');
    // 1 % of the files rewritten with new content of the same size (new mtime).
    const changed = files.filter((_, i) => i % 100 === 7);
    let changedBytes = 0;
    for (const name of changed) {
      const size = (await stat(path.join(tree, name))).size;
      await writeFile(path.join(tree, name), content(size, name.endsWith('.txt')));
      changedBytes += size;
    }
    process.stderr.write(`1 % changed (${changed.length} files, ${round(changedBytes / 1024 / 1024, 2)} MiB)\n`);
    await run('changed');

    const [first, unchanged, one] = rows as [Record<string, number>, Record<string, number>, Record<string, number>];
    const mib = (n: number) => round(n / 1024 / 1024, 2);
    process.stdout.write(
      `${table(
        ['run', 'lifeboat s', 'restic s', 'lifeboat stored MiB (+new)', 'restic stored MiB (+new)'],
        [
          ['first backup', String(round(first['lifeboatSeconds']!, 2)), String(round(first['resticSeconds']!, 2)), `${mib(first['lifeboatStored']!)}`, `${mib(first['resticStored']!)}`],
          ['unchanged', String(round(unchanged['lifeboatSeconds']!, 2)), String(round(unchanged['resticSeconds']!, 2)), `+${mib(unchanged['lifeboatStored']! - first['lifeboatStored']!)}`, `+${mib(unchanged['resticStored']! - first['resticStored']!)}`],
          ['1 % changed', String(round(one['lifeboatSeconds']!, 2)), String(round(one['resticSeconds']!, 2)), `+${mib(one['lifeboatStored']! - unchanged['lifeboatStored']!)}`, `+${mib(one['resticStored']! - unchanged['resticStored']!)}`],
        ],
      )}\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        files: FILES,
        bytes,
        changed_files: changed.length,
        changed_bytes: changedBytes,
        restic: resticVersion,
        lifeboat_cli_startup_s: round(startup, 2),
        // Peak RSS of this process (the bench and Lifeboat's engine; restic runs as a child and is not counted).
        lifeboat_max_rss_mb: round(process.resourceUsage().maxRSS / 1024, 1),
        lifeboat_first_s: round(first['lifeboatSeconds']!, 2),
        lifeboat_unchanged_s: round(unchanged['lifeboatSeconds']!, 2),
        lifeboat_changed_s: round(one['lifeboatSeconds']!, 2),
        lifeboat_stored_bytes: first['lifeboatStored'],
        lifeboat_unchanged_new_bytes: unchanged['lifeboatStored']! - first['lifeboatStored']!,
        lifeboat_changed_new_bytes: one['lifeboatStored']! - unchanged['lifeboatStored']!,
        restic_first_s: round(first['resticSeconds']!, 2),
        restic_unchanged_s: round(unchanged['resticSeconds']!, 2),
        restic_changed_s: round(one['resticSeconds']!, 2),
        restic_stored_bytes: first['resticStored'],
        restic_unchanged_new_bytes: unchanged['resticStored']! - first['resticStored']!,
        restic_changed_new_bytes: one['resticStored']! - unchanged['resticStored']!,
      })}\n`,
    );
  } finally {
    await cleanup();
  }
}

await main();
