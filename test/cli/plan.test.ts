// `lifeboat plan show|list`: the example config's plans as the CLI prints them, in-process.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { loadConfig } from '../../infra/config/load.ts';
import { plansWithDefaults } from '../../infra/config/plans.ts';
import { compilePlan } from '../../infra/plans/compile.ts';
import { errorLine, lifeboat, tempDir } from './support.ts';

const EXAMPLE_CONFIG = fileURLToPath(new URL('../../config/example.lifeboat.json', import.meta.url));
const plan = (argv: readonly string[], env: Record<string, string> = {}) => lifeboat(['plan', ...argv], { env });

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir('plan');
});
afterAll(() => dir?.remove());

describe('lifeboat plan list', () => {
  it('lists the declared plans and the default plans, with priority, steps, approvals and objectives', async () => {
    const result = await plan(['list', '--config', EXAMPLE_CONFIG]);
    expect(result).toEqual({
      code: ExitCode.ok,
      stderr: '',
      stdout: [
        'PLAN                   PRIORITY  STEPS  APPROVALS  RTO      RPO       FROM',
        'orders-failover        critical      5          1  60 min   240 min   config',
        'sessions-recovery      high          3          0  30 min   180 min   config',
        'uploads-recovery       medium        3          0  240 min  420 min   config',
        'config-recovery        high          3          0  60 min   90 min    config',
        'billing-db-default     high          4          0  120 min  1500 min  default plan of billing-db',
        'catalog-docdb-default  high          3          0  120 min  1500 min  default plan of catalog-docdb',
        '',
      ].join('\n'),
    });
  });

  it('--json gives each plan with its state machine; LIFEBOAT_CONFIG stands for --config', async () => {
    const result = await plan(['list', '--json'], { LIFEBOAT_CONFIG: EXAMPLE_CONFIG });
    expect(result.code).toBe(ExitCode.ok);
    expect(JSON.parse(result.stdout)).toEqual([
      { name: 'orders-failover', priority: 'critical', steps: 5, approvals: 1, objectives: { rtoMinutes: 60, rpoMinutes: 240 }, origin: 'config', stateMachine: 'lifeboat-plan-orders-failover' },
      { name: 'sessions-recovery', priority: 'high', steps: 3, approvals: 0, objectives: { rtoMinutes: 30, rpoMinutes: 180 }, origin: 'config', stateMachine: 'lifeboat-plan-sessions-recovery' },
      { name: 'uploads-recovery', priority: 'medium', steps: 3, approvals: 0, objectives: { rtoMinutes: 240, rpoMinutes: 420 }, origin: 'config', stateMachine: 'lifeboat-plan-uploads-recovery' },
      { name: 'config-recovery', priority: 'high', steps: 3, approvals: 0, objectives: { rtoMinutes: 60, rpoMinutes: 90 }, origin: 'config', stateMachine: 'lifeboat-plan-config-recovery' },
      { name: 'billing-db-default', priority: 'high', steps: 4, approvals: 0, objectives: { rtoMinutes: 120, rpoMinutes: 1500 }, origin: 'default plan of billing-db', stateMachine: 'lifeboat-plan-billing-db-default' },
      // DocumentDB: back up, restore the snapshot, notify (no validate).
      { name: 'catalog-docdb-default', priority: 'high', steps: 3, approvals: 0, objectives: { rtoMinutes: 120, rpoMinutes: 1500 }, origin: 'default plan of catalog-docdb', stateMachine: 'lifeboat-plan-catalog-docdb-default' },
    ]);
  });
});

describe('lifeboat plan show', () => {
  it('prints the plan level by level: each step, what it waits for, its timeout, and the approval gate with who is asked, escalation and timeout', async () => {
    const result = await plan(['show', 'orders-failover', '--config', EXAMPLE_CONFIG]);
    expect(result.code).toBe(ExitCode.ok);
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      'Plan orders-failover (critical): state machine lifeboat-plan-orders-failover',
      '  Fail orders-db over to its DR-region replica after an on-call approval, once its latest verified dump has been restored and validated',
      'Objectives: RTO 60 min, RPO 240 min',
      'Contacts:   Platform on-call <platform-oncall@example.com>',
    ]);
    expect(lines.filter((line) => line.startsWith('Level '))).toEqual(['Level 1', 'Level 2', 'Level 3', 'Level 4', 'Level 5']);
    expect(lines).toContain('  promote   promote-replica  after check; timeout 60 min');
    expect(lines).toContain(
      '                             approval first: "Promote orders-prod-replica in eu-central-1 to primary? This ends replication from orders-prod: a failover." ' +
        'asked of Platform on-call <platform-oncall@example.com>; escalated to them after 15 min, the plan fails after 60 min without a decision; a rejection fails it',
    );
    expect(lines).toContain('                             and the SQL check: SELECT count(*) > 0 FROM orders');
    expect(lines).toContain('                             a drill restores into orders_check_drill_<suffix> on the verification server instead, dropped at clean-up');
  });

  it('shows steps of one level side by side', async () => {
    const config = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(EXAMPLE_CONFIG, 'utf8'))) as { plans: { steps: { id: string; dependsOn?: string[] }[] }[] };
    config.plans[0]!.steps.find((step) => step.id === 'restore')!.dependsOn = [];
    const path = join(dir.path, 'parallel.json');
    await writeFile(path, JSON.stringify(config));

    const lines = (await plan(['show', 'orders-failover', '--config', path])).stdout.split('\n');
    expect(lines).toContain('Level 1 (2 steps in parallel)');
    expect(lines).toContain('  restore   restore-dump     first; timeout 120 min');
  });

  it('--asl prints exactly the definition the plan compiles to; --json the plan with its levels', async () => {
    const config = loadConfig(EXAMPLE_CONFIG);
    const failover = plansWithDefaults(config).find((p) => p.name === 'orders-failover')!;

    const asl = await plan(['show', 'orders-failover', '--config', EXAMPLE_CONFIG, '--asl']);
    expect(asl.code).toBe(ExitCode.ok);
    expect(JSON.parse(asl.stdout)).toEqual(compilePlan(failover, { name: 'lifeboat' }));

    const json = await plan(['show', 'billing-db-default', '--config', EXAMPLE_CONFIG, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'billing-db-default', stateMachine: 'lifeboat-plan-billing-db-default', levels: [['backup'], ['restore'], ['check'], ['tell']] });
  });

  it.each([
    [['show', 'nosuch', '--config', EXAMPLE_CONFIG], 'the config has no plan "nosuch"; its plans: orders-failover, sessions-recovery, uploads-recovery, config-recovery, billing-db-default, catalog-docdb-default (see lifeboat plan --help)'],
    [['show', '--config', EXAMPLE_CONFIG], '"lifeboat plan show" needs a plan name (see lifeboat plan list) (see lifeboat plan --help)'],
    [['run', 'orders-failover', '--config', EXAMPLE_CONFIG], 'unknown "lifeboat plan run"; use show NAME or list (see lifeboat plan --help)'],
    [['list'], '--config FILE is required (or set LIFEBOAT_CONFIG): the plans are in the config (see lifeboat plan --help)'],
    [['list', '--asl', '--config', EXAMPLE_CONFIG], '--asl is for plan show, without --json (see lifeboat plan --help)'],
  ])('%j is a usage error', async (argv, message) => {
    const result = await plan(argv);
    expect(result.code).toBe(ExitCode.usage);
    expect(errorLine(result.stderr)).toEqual({ name: 'UsageError', message });
  });

  it('a bad config is one line per problem, exit 2', async () => {
    const path = join(dir.path, 'bad.json');
    await writeFile(path, JSON.stringify({ ...JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(EXAMPLE_CONFIG, 'utf8'))), plans: [{ name: 'x' }] }));
    const result = await plan(['list', '--config', path]);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stderr).toBe(
      `lifeboat: ConfigError: Invalid Lifeboat config ${path} (4 problems): | plans[0].priority: Invalid option: expected one of "critical"|"high"|"medium"|"low" | plans[0].objectives: required | plans[0].contacts: required | plans[0].steps: required\n`,
    );
  });
});
