/**
 * `lifeboat drill PLAN --local`: the flags, the config and servers they name, and the outcome printed. The
 * drill itself is cli/localPlan.ts; it and the config's schema are loaded on first use, so --help stays fast.
 */
import { cliAuditTrail } from '../audit.ts';
import { EVIDENCE_KEY_FLAGS } from '../evidence.ts';
import { DR_EVIDENCE_KEY_FLAGS, drEvidenceKeyFrom } from '../drEvidenceKey.ts';
import { VERIFICATION_KEY_FLAGS, verificationKeyFrom } from '../verificationKey.ts';
import type { FlagSpecs, FlagValues } from '../args.ts';
import { booleanFlag, stringFlag } from '../args.ts';
import type { CommandContext } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { assertVaultExists, connectionFromFlag, openVault } from '../options.ts';
import type { LocalServer } from '../localPlan.ts';
import type { Engine } from '../../functions/lib/engine/connection.ts';
import type { LifeboatConfig } from '../../infra/config/config.ts';
import type { PlanConfig } from '../../infra/config/plans.ts';
import type { Evidence } from '../../functions/dr-step/evidence.ts';

/** The flags only a local drill takes. */
export const LOCAL_DRILL_FLAGS: FlagSpecs = {
  local: { type: 'boolean', description: 'Rehearse the plan on this machine (no AWS): see above.' },
  config: { type: 'string', value: 'FILE', description: 'The deployment\'s Lifeboat config, which holds the plan. Default: $LIFEBOAT_CONFIG.' },
  vault: { type: 'string', value: 'DIR', description: 'The vault the restores read and the evidence is written to. Default: $LIFEBOAT_VAULT.' },
  'dr-vault': { type: 'string', value: 'DIR', description: 'A copy of the DR region\'s vault, for restore-dump steps with region "dr".' },
  'key-file': { type: 'string', value: 'FILE', description: 'The vault\'s local key file. Default: $LIFEBOAT_KEY_FILE.' },
  'pg-server': {
    type: 'string',
    value: 'URL',
    description: 'The PostgreSQL server drills restore into, postgres://USER:PASSWORD@HOST:PORT (password also from PGPASSWORD). Default: the config\'s verification server as postgres.',
  },
  'mysql-server': {
    type: 'string',
    value: 'URL',
    description: 'The MySQL/MariaDB server drills restore into, mysql://USER:PASSWORD@HOST:PORT (password also from MYSQL_PWD). Default: the config\'s verification server as root.',
  },
  'approve-as': { type: 'string', value: 'NAME', description: 'Approve every approval step as NAME instead of asking on the terminal.' },
  ...EVIDENCE_KEY_FLAGS,
  ...VERIFICATION_KEY_FLAGS,
  ...DR_EVIDENCE_KEY_FLAGS,
};

const ENGINES: readonly Engine[] = ['postgresql', 'mysql'];
const SERVER_FLAG: Record<Engine, string> = { postgresql: 'pg-server', mysql: 'mysql-server' };
const DEFAULT_USER: Record<Engine, string> = { postgresql: 'postgres', mysql: 'root' };
const PASSWORD_VARIABLE: Record<Engine, string> = { postgresql: 'PGPASSWORD', mysql: 'MYSQL_PWD' };
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/;
const MAX_APPROVER_LENGTH = 100;

/**
 * Runs the local drill and prints its outcome: the steps and messages on stderr, one line (or the evidence
 * with --json) on stdout. Returns 0 when the plan passed; a failed plan is `failed(message)` (exit 1).
 */
export async function runLocalDrillCommand(
  planName: string,
  flags: FlagValues,
  { output, env, deps, settings }: CommandContext,
  failed: (message: string) => Error,
): Promise<number> {
  // --config / LIFEBOAT_CONFIG, --vault / LIFEBOAT_VAULT and --key-file / LIFEBOAT_KEY_FILE as every command
  // reads them (cli/settings.ts); the vault is never the config's deployed bucket here.
  const configPath = settings.configPath;
  if (configPath === undefined) throw new UsageError('a local drill needs the config that holds the plan: give --config FILE (or set LIFEBOAT_CONFIG)');
  const vaultLocation = stringFlag(flags, 'vault');
  if (vaultLocation === undefined) throw new UsageError('--vault is required (or set LIFEBOAT_VAULT)');
  const keyFile = stringFlag(flags, 'key-file');
  if (keyFile === undefined) throw new UsageError('--key-file is required (or set LIFEBOAT_KEY_FILE): a local drill decrypts with a local key');
  const approveAsName = approverFlag(stringFlag(flags, 'approve-as'));

  const { plansWithDefaults } = await import('../../infra/config/plans.ts');
  const config = (await settings.config())!;
  const plans = plansWithDefaults(config);
  const plan = plans.find((candidate) => candidate.name === planName);
  if (plan === undefined) {
    throw new UsageError(`the config has no plan "${planName}"; its plans: ${plans.map((p) => p.name).join(', ') || 'none'} (see lifeboat plan list)`);
  }
  const servers = serversFor(plan, config, flags, output, env);

  const store = await openVault(vaultLocation, env);
  await assertVaultExists(store);
  const drVaultLocation = stringFlag(flags, 'dr-vault');
  const drStore = drVaultLocation === undefined ? undefined : await openVault(drVaultLocation, env);
  if (drStore) await assertVaultExists(drStore);
  const { keyringFromKeyFile } = await import('../../functions/lib/crypto/keyring.ts');
  const keyring = await keyringFromKeyFile(keyFile);

  const { approveAs, runLocalDrill, terminalApprover } = await import('../localPlan.ts');
  const quiet = booleanFlag(flags, 'quiet');
  const say = (text: string) => {
    if (!quiet) output.error(text);
  };
  const approver = approveAsName !== undefined ? approveAs(approveAsName, say) : terminalApprover(deps.stdin ?? process.stdin, (text) => output.progress(text));

  // Ctrl-C or a TERM stops the run, then clean-up drops what it restored.
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const trail = await cliAuditTrail(store, flags, env, output);
  const verificationKey = await verificationKeyFrom(flags, env);
  const drEvidenceKey = await drEvidenceKeyFrom(flags, env);
  let result: Awaited<ReturnType<typeof runLocalDrill>>;
  try {
    result = await runLocalDrill({
      config,
      plan,
      store,
      keyring,
      ...(drStore ? { drStore } : {}),
      servers,
      tls: Object.values(servers).every((server) => LOOPBACK.test(server.host)) ? 'disable' : 'require',
      approver,
      say,
      signal: controller.signal,
      ...(trail ? { audit: trail } : {}),
      ...(verificationKey ? { verificationKey } : {}),
      ...(drEvidenceKey ? { drEvidenceKey } : {}),
    });
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }

  const { evidence } = result;
  const location = `${store.location}/${result.evidenceKey}`;
  if (booleanFlag(flags, 'json')) {
    output.out(JSON.stringify({ executionName: result.executionName, evidenceKey: result.evidenceKey, evidence }, null, 2));
  } else {
    output.out(outcomeLine(evidence, location));
  }
  if (evidence.outcome === 'passed') return ExitCode.ok;
  throw failed(`the drill of plan ${plan.name} failed: ${evidence.failure?.error ?? 'unknown'}: ${evidence.failure?.cause ?? ''} (evidence: ${location})`);
}

/**
 * The servers of the engines the plan restores dumps of: `--pg-server` / `--mysql-server`, else the config's
 * verification server as the engine's default user. Each logs in with a password, as the step executor does in AWS.
 */
function serversFor(
  plan: PlanConfig,
  config: LifeboatConfig,
  flags: FlagValues,
  output: CommandContext['output'],
  env: CommandContext['env'],
): Partial<Record<Engine, LocalServer>> {
  const needed = new Map<Engine, string>();
  for (const planStep of plan.steps) {
    if (planStep.kind !== 'restore-dump') continue;
    const source = config.sources.find((candidate) => candidate.id === planStep.parameters.source);
    if (source === undefined) continue;
    const engine: Engine = source.kind.endsWith('postgres') ? 'postgresql' : 'mysql';
    if (!needed.has(engine)) needed.set(engine, planStep.id);
  }
  const servers: Partial<Record<Engine, LocalServer>> = {};
  for (const engine of ENGINES) {
    const flag = SERVER_FLAG[engine];
    const url = stringFlag(flags, flag);
    if (url === undefined && !needed.has(engine)) continue;
    let server: LocalServer;
    if (url !== undefined) {
      const connection = connectionFromFlag(`--${flag}`, withMaintenanceDatabase(url), output, env);
      if (connection.engine !== engine) throw new UsageError(`--${flag} must be a ${engine} URL`);
      server = { host: connection.host, port: connection.port, user: connection.user, password: connection.password ?? '' };
    } else {
      const configured = config.verification?.servers[engine];
      if (configured === undefined) {
        throw new UsageError(`plan ${plan.name} restores a ${engine} dump (step ${needed.get(engine)}) and the config has no ${engine} verification server: give --${flag} URL`);
      }
      const password = env[PASSWORD_VARIABLE[engine]] ?? '';
      output.addSecret(password);
      server = { host: configured.host, port: configured.port, user: DEFAULT_USER[engine], password };
    }
    if (server.password === '') {
      throw new UsageError(
        `--${flag}: give the password of ${server.user} on ${server.host}:${server.port} (in the URL or ${PASSWORD_VARIABLE[engine]}): ` +
          'the DR step executor logs in to a verification server with a password, as it does in AWS',
      );
    }
    servers[engine] = server;
  }
  return servers;
}

/** A server URL names no database: the tools connect to the engine's maintenance database to create and drop drill databases. */
function withMaintenanceDatabase(url: string): string {
  const match = /^([a-z]+):\/\/([^/?#]*)\/?(\?.*)?$/i.exec(url);
  if (!match) return url;
  return `${match[1]}://${match[2]}/${/^postgres(ql)?$/i.test(match[1]!) ? 'postgres' : 'mysql'}${match[3] ?? ''}`;
}

function approverFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const name = value.trim();
  // eslint-disable-next-line no-control-regex
  if (name === '' || [...name].length > MAX_APPROVER_LENGTH || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new UsageError(`--approve-as must be one line of 1 to ${MAX_APPROVER_LENGTH} characters`);
  }
  return name;
}

/** `Drill of plan P passed: RTO …, RPO …; approved by …; evidence: …` */
function outcomeLine(evidence: Evidence, location: string): string {
  const measure = (name: string, value: number | null, objective: number, met: boolean) =>
    value === null ? `${name} not measured` : `${name} ${value.toFixed(1)} min (objective ${objective} min${met ? '' : ', NOT met'})`;
  const approvals = evidence.steps
    .flatMap((step) => {
      const decision = (step.approval ?? (step.kind === 'approval' ? step.result : undefined)) as { approved?: boolean; approver?: string } | undefined;
      return decision?.approver === undefined ? [] : [`${step.stepId} ${decision.approved ? 'approved' : 'rejected'} by ${decision.approver}`];
    })
    .join(', ');
  const skipped = evidence.steps.filter((step) => step.status === 'skipped').map((step) => step.stepId);
  return (
    `Drill of plan ${evidence.plan} ${evidence.outcome}: ` +
    `${measure('RTO', evidence.measured.rtoMinutes, evidence.objectives.rtoMinutes, evidence.met.rto)}, ` +
    `${measure('RPO', evidence.measured.rpoMinutes, evidence.objectives.rpoMinutes, evidence.met.rpo)}` +
    (approvals ? `; ${approvals}` : '') +
    (skipped.length > 0 ? `; skipped (AWS only): ${skipped.join(', ')}` : '') +
    `; evidence: ${location}`
  );
}
