import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Bundles a handler exactly as functions/dump/Dockerfile does for `HANDLER`, so the image's build step is proven here. */
export async function bundleHandler(outdir: string, handler = 'dump'): Promise<string> {
  const dockerfile = await import('node:fs/promises').then((fs) => fs.readFile(join(repoRoot, 'functions/dump/Dockerfile'), 'utf8'));
  const command = /RUN (npx esbuild [\s\S]*?--outfile=\S+)/.exec(dockerfile)?.[1];
  if (!command) throw new Error('functions/dump/Dockerfile has no esbuild step');
  const args = command
    .replace(/\\\n\s*/g, ' ')
    .replace('${HANDLER}', handler)
    .replace(/--outfile=\S+/, `--outfile=${join(outdir, 'index.mjs')}`)
    .split(/\s+(?=--)|\s+(?=functions\/)/)
    .flatMap((part) => (part.startsWith('npx esbuild') ? ['esbuild'] : [part.replace(/^--banner:js="(.*)"$/, '--banner:js=$1')]));
  await run('npx', args, { cwd: repoRoot });
  return join(outdir, 'index.mjs');
}

async function loadBundle(bundle: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `import(${JSON.stringify(bundle)}).then((m) => console.log('handler:' + typeof m.handler))`;
  try {
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the dump function bundle', () => {
  let outdir: string;
  let bundle: string;
  beforeAll(async () => {
    // Inside the repository, so the one external module left out of the bundle (zstd-napi, unused on Node 22) resolves.
    outdir = await mkdtemp(join(repoRoot, '.vitest-tmp-dump-'));
    bundle = await bundleHandler(outdir);
  }, 120_000);
  afterAll(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  it('loads and exports a handler when its environment is complete', async () => {
    const sources = [
      {
        id: 'orders-db',
        engine: 'postgresql',
        database: 'orders',
        credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-Ab12Cd',
        rds: { type: 'instance', identifier: 'orders-prod' },
      },
    ];
    const result = await loadBundle(bundle, {
      AWS_REGION: 'eu-west-1',
      VAULT_BUCKET: 'vault-bucket',
      VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
      LIFEBOAT_SOURCES: JSON.stringify(sources),
    });
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.stdout.trim()).toBe('handler:function');
  });

  it('fails at start-up naming every missing variable', async () => {
    const result = await loadBundle(bundle, { AWS_REGION: 'eu-west-1', VAULT_BUCKET: 'vault-bucket' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/ConfigError: Missing environment variables: VAULT_KEY_ARN, LIFEBOAT_SOURCES/);
  });

  it('fails at start-up on a malformed source list, naming the field', async () => {
    const result = await loadBundle(bundle, {
      AWS_REGION: 'eu-west-1',
      VAULT_BUCKET: 'vault-bucket',
      VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
      LIFEBOAT_SOURCES: JSON.stringify([{ id: 'orders-db', engine: 'oracle' }]),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/LIFEBOAT_SOURCES: 0\.engine/);
  });
});

/** The other handlers of the tools image: each bundle loads with its environment and refuses a malformed variable by name. */
describe.each<{ handler: string; env: Record<string, string>; malformed: Record<string, string> }>([
  {
    handler: 'verify',
    env: {
      AWS_REGION: 'eu-west-1',
      VAULT_BUCKET: 'vault-bucket',
      VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
      ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:alerts',
      LIFEBOAT_SOURCES: JSON.stringify([
        {
          id: 'orders-db',
          engine: 'postgresql',
          database: 'orders',
          credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-Ab12Cd',
          rds: { type: 'instance', identifier: 'orders-prod' },
          sqlChecks: ['SELECT count(*) > 0 FROM orders'],
        },
      ]),
      VERIFY_SERVERS: JSON.stringify({ postgresql: { host: 'scratch.internal', port: 5432, secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:scratch-Ab12Cd' } }),
      VERIFICATION_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666',
    },
    malformed: { VERIFY_SERVERS: JSON.stringify({ oracle: {} }) },
  },
  {
    handler: 'dr-step',
    env: {
      AWS_REGION: 'eu-west-1',
      PRIMARY_VAULT_BUCKET: 'vault-bucket',
      PRIMARY_VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
      DR_REGION: 'eu-central-1',
      DR_VAULT_BUCKET: 'dr-vault-bucket',
      DR_VAULT_KEY_ARN: 'arn:aws:kms:eu-central-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
      LIFEBOAT_SOURCES: JSON.stringify([
        { id: 'orders-db', engine: 'postgresql', database: 'orders', credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-Ab12Cd', rds: { type: 'instance', identifier: 'orders-prod' } },
      ]),
      VERIFY_SERVERS: JSON.stringify({ postgresql: { host: 'scratch.internal', port: 5432, secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:scratch-Ab12Cd' } }),
      PLAN_TOPICS: JSON.stringify({ 'orders-restore': 'arn:aws:sns:eu-west-1:123456789012:lifeboat-plan-orders-restore-contacts' }),
      VERIFICATION_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666',
    },
    malformed: { PLAN_TOPICS: JSON.stringify({ 'Orders Restore': 'nope' }) },
  },
])('the $handler function bundle (same image, HANDLER=$handler)', ({ handler, env, malformed }) => {
  let outdir: string;
  let bundle: string;
  beforeAll(async () => {
    outdir = await mkdtemp(join(repoRoot, `.vitest-tmp-${handler}-`));
    bundle = await bundleHandler(outdir, handler);
  }, 120_000);
  afterAll(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  it('loads and exports a handler when its environment is complete', async () => {
    const result = await loadBundle(bundle, env);
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.stdout.trim()).toBe('handler:function');
  });

  it('fails at start-up on a malformed variable, naming it', async () => {
    const result = await loadBundle(bundle, { ...env, ...malformed });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(new RegExp(`ConfigError: ${Object.keys(malformed)[0]}: `));
  });
});
