/**
 * DR plans in the config (docs/dr-plans.md): the schema and its defaults, every cross-field problem by
 * path and message as `cdk synth` prints it, and the default plan of a source.
 */
import { describe, expect, it } from 'vitest';
import {
  defaultPlanFor,
  parseConfig,
  planProblems,
  plansWithDefaults,
  PlanSchema,
  planStructureProblems,
  restoreSubnetGroupName,
  type LifeboatConfig,
  type PlanConfig,
} from '../../../infra/config/index.ts';
import { ordersRestorePlan } from '../../fixtures/plans.ts';
import { problemsOf } from './support.ts';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-AbCdEf';
const SERVER_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeboat-verify-pg-XyZ123';
const NETWORK = { vpcId: 'vpc-0a1b2c3d', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] };

function source(fields: Record<string, unknown>) {
  return {
    credentialsSecretArn: SECRET,
    network: NETWORK,
    schedule: { cron: '0 1 * * ? *' },
    objectives: { rpoMinutes: 1500, rtoMinutes: 90 },
    ...fields,
  };
}

/** Three sources: a PostgreSQL instance (dump + snapshot), an Aurora MySQL cluster (dump), a snapshot-only MySQL instance. */
function config(plans?: unknown[]): any {
  return {
    version: 1,
    regions: { primary: 'eu-west-1', dr: 'eu-central-1' },
    sources: [
      source({
        kind: 'rds-postgres',
        id: 'orders-db',
        instanceIdentifier: 'orders-prod',
        database: 'orders',
        backup: { method: 'both' },
        sqlChecks: ['SELECT count(*) > 0 FROM orders'],
      }),
      source({ kind: 'aurora-mysql', id: 'billing-db', clusterIdentifier: 'billing-prod', database: 'billing' }),
      source({ kind: 'rds-mysql', id: 'shop-db', instanceIdentifier: 'shop-prod', backup: { method: 'snapshot' } }),
    ],
    verification: { network: NETWORK, servers: { postgresql: { host: 'verify-pg.internal', port: 5432, credentialsSecretArn: SERVER_SECRET } } },
    alerts: { emails: [{ address: 'oncall@example.com' }, { address: 'dba@example.com', minSeverity: 'ERROR' }] },
    ...(plans ? { plans } : {}),
  };
}

/** The plan of docs/dr-plans.md, as a user writes it (`any`: tests break it on purpose). */
const ordersRestore = (): any => ordersRestorePlan(SECRET);

const SNAPSHOT_RESTORE = { source: 'orders-db', targetIdentifier: 'orders-new', subnetGroupName: 'orders-private', securityGroupIds: ['sg-0a1b2c3d'] };

/** The doc's plan with its steps replaced. */
function withSteps(steps: unknown[]): any {
  return { ...ordersRestore(), steps };
}

describe('plans in the config', () => {
  it('are optional: a config without plans parses with none', () => {
    const parsed = parseConfig(config());

    expect(parsed.plans).toEqual([]);
  });

  it('parse the plan of docs/dr-plans.md and fill in every default', () => {
    const [plan] = parseConfig(config([ordersRestore()])).plans;

    expect(plan!.steps.map((step) => [step.id, step.dependsOn, step.timeoutMinutes])).toEqual([
      ['backup', [], 2880], // the backup state machine's own 48 h bound
      ['go', ['backup'], 60],
      ['restore', ['go'], 120],
      ['check', ['restore'], 30],
      ['tell', ['check'], 5],
    ]);
    expect(plan!.steps[1]!.parameters).toEqual({ question: 'Restore orders now?', timeoutMinutes: 60, escalateAfterMinutes: 30 });
    expect(plan!.steps[2]!.parameters).toMatchObject({ source: 'orders-db', region: 'primary' });
    expect(plan!.steps[2]!.parameters).not.toHaveProperty('pointInTime');
  });

  it('default a wait step to its minutes + 1, a gate to 60/30 minutes, and sqlChecks to none', () => {
    const [plan] = parseConfig(
      config([
        withSteps([
          { id: 'pause', kind: 'wait', parameters: { minutes: 10 } },
          { id: 'restore', kind: 'restore-snapshot', dependsOn: ['pause'], approval: {}, parameters: SNAPSHOT_RESTORE },
          { id: 'check', kind: 'validate', dependsOn: ['restore'], timeoutMinutes: 45, parameters: { target: 'restore' } },
        ]),
      ]),
    ).plans;

    expect(plan!.steps.map((step) => step.timeoutMinutes)).toEqual([11, 180, 45]);
    expect(plan!.steps[1]).toMatchObject({ approval: { timeoutMinutes: 60, escalateAfterMinutes: 30 }, parameters: { region: 'primary' } });
    expect(plan!.steps[2]!.parameters).toEqual({ target: 'restore', sqlChecks: [] });
  });
});

describe('an invalid plan fails with one problem per line, by path', () => {
  it('names a dependency on an unknown step', () => {
    const plan = ordersRestore();
    plan.steps[2].dependsOn = ['restor'];
    plan.steps[3].dependsOn = ['go'];
    plan.steps[3].parameters.target = 'go';

    expect(problemsOf(config([plan]))).toEqual([
      "plans[0].steps[2].dependsOn[0]: unknown step 'restor'",
      "plans[0].steps[3].parameters.target: 'go' is not a restore step this step depends on",
    ]);
  });

  it('refuses two restores into one target name, which a drill would turn into one drill target', () => {
    const plan = ordersRestore();
    const restore = plan.steps[2];
    plan.steps.push({ ...restore, id: 'restore-again', dependsOn: ['go'], parameters: { ...restore.parameters, target: { ...restore.parameters.target, host: 'elsewhere.internal' } } });

    expect(problemsOf(config([plan]))).toEqual([
      "plans[0].steps[5].parameters.target.database: also the target database of step 'restore': a drill would restore both into one drill target; give each restore its own name",
    ]);
  });

  it('names a duplicate step id at its second use', () => {
    const plan = ordersRestore();
    plan.steps[4].id = 'check';

    expect(problemsOf(config([plan]))).toEqual(["plans[0].steps[4].id: duplicate step id 'check' (already used by steps[3])"]);
  });

  it('writes a cycle in run order from its first step', () => {
    const plan = withSteps([
      { id: 'a', kind: 'notify', dependsOn: ['b'], parameters: { message: 'a' } },
      { id: 'b', kind: 'notify', dependsOn: ['a'], parameters: { message: 'b' } },
      { id: 'c', kind: 'notify', dependsOn: ['e'], parameters: { message: 'c' } },
      { id: 'd', kind: 'notify', dependsOn: ['c'], parameters: { message: 'd' } },
      { id: 'e', kind: 'notify', dependsOn: ['d'], parameters: { message: 'e' } },
      { id: 'f', kind: 'notify', dependsOn: ['f'], parameters: { message: 'f' } },
    ]);

    expect(problemsOf(config([plan]))).toEqual([
      'plans[0].steps: the steps form a cycle: a → b → a',
      'plans[0].steps: the steps form a cycle: c → d → e → c',
      'plans[0].steps: the steps form a cycle: f → f',
    ]);
  });

  it('rejects a validate target that is not a restore step, or a restore step it does not depend on', () => {
    const plan = withSteps([
      { id: 'backup', kind: 'backup-now', parameters: { source: 'orders-db' } },
      { id: 'restore', kind: 'restore-snapshot', dependsOn: ['backup'], parameters: SNAPSHOT_RESTORE },
      { id: 'other', kind: 'restore-snapshot', parameters: { ...SNAPSHOT_RESTORE, targetIdentifier: 'orders-other' } },
      { id: 'check-backup', kind: 'validate', dependsOn: ['backup'], parameters: { target: 'backup' } },
      { id: 'check-other', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'other' } },
      { id: 'check-nothing', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'nothing' } },
      { id: 'tell', kind: 'notify', dependsOn: ['restore'], parameters: { message: 'restored' } },
      { id: 'check-far', kind: 'validate', dependsOn: ['tell'], parameters: { target: 'restore' } },
    ]);

    expect(problemsOf(config([plan]))).toEqual([
      "plans[0].steps[3].parameters.target: 'backup' is not a restore step this step depends on",
      "plans[0].steps[4].parameters.target: 'other' is not a restore step this step depends on",
      "plans[0].steps[5].parameters.target: unknown step 'nothing'",
    ]);
  });

  it('names a source that is not configured, in backup and restore steps', () => {
    const plan = ordersRestore();
    plan.steps[0].parameters.source = 'billing';
    plan.steps[2].parameters.source = 'orders';

    expect(problemsOf(config([plan]))).toEqual([
      "plans[0].steps[0].parameters.source: 'billing' is not a configured source",
      "plans[0].steps[2].parameters.source: 'orders' is not a configured source",
    ]);
  });

  it('takes a point-in-time restore of an Aurora cluster source (RestoreDBClusterToPointInTime, then its instance)', () => {
    const plan = withSteps([
      {
        id: 'restore',
        kind: 'restore-point-in-time',
        parameters: { ...SNAPSHOT_RESTORE, source: 'billing-db', instanceClass: 'db.r6g.large' },
      },
    ]);

    expect(() => parseConfig(config([plan]))).not.toThrow();
  });

  it('rejects a dump restore of a snapshot-only source', () => {
    const plan = ordersRestore();
    plan.steps[2].parameters.source = 'shop-db';

    expect(problemsOf(config([plan]))).toEqual([
      "plans[0].steps[2].parameters.source: 'shop-db' is backed up by snapshot only, so it has no dump to restore; use restore-snapshot",
    ]);
  });

  it('rejects an escalation that does not come strictly before the approval times out', () => {
    const plan = ordersRestore();
    plan.steps[1].parameters = { question: 'Restore?', timeoutMinutes: 30 };
    plan.steps[2].approval = { timeoutMinutes: 20, escalateAfterMinutes: 25 };

    expect(problemsOf(config([plan]))).toEqual([
      'plans[0].steps[1].parameters.escalateAfterMinutes: 30 must be less than timeoutMinutes (30): the escalation comes before the timeout',
      'plans[0].steps[2].approval.escalateAfterMinutes: 25 must be less than timeoutMinutes (20): the escalation comes before the timeout',
    ]);
  });

  it('rejects a duplicate plan name, and a plan named like a default plan', () => {
    const notify = [{ id: 'tell', kind: 'notify', parameters: { message: 'hello' } }];

    expect(problemsOf(config([ordersRestore(), ordersRestore(), { ...withSteps(notify), name: 'shop-db-default' }]))).toEqual([
      "plans[1].name: duplicate plan name 'orders-restore' (already used by plans[0])",
      "plans[2].name: 'shop-db-default' is the name of the default plan of source 'shop-db'; rename this plan, or name the source in one of its steps",
    ]);
  });

  it('reports problems in every plan, by index', () => {
    const first = ordersRestore();
    first.steps[4].dependsOn = ['chek'];
    const second = { ...ordersRestore(), name: 'orders-again' };
    second.steps[0].parameters.source = 'nope';

    expect(problemsOf(config([first, second]))).toEqual([
      "plans[0].steps[4].dependsOn[0]: unknown step 'chek'",
      "plans[1].steps[0].parameters.source: 'nope' is not a configured source",
    ]);
  });

  it('rejects an unknown kind, unknown parameters, a missing parameter and a bad promote-replica', () => {
    const plan = withSteps([
      { id: 'a', kind: 'reboot', parameters: {} },
      { id: 'b', kind: 'notify', parameters: { message: 'x', severity: 'high' } },
      { id: 'c', kind: 'restore-snapshot', parameters: { ...SNAPSHOT_RESTORE, subnetGroupName: undefined } },
      { id: 'd', kind: 'promote-replica', parameters: { globalClusterIdentifier: 'orders-global' } },
      { id: 'e', kind: 'approval', parameters: { question: 'go?' }, approval: {} },
      { id: 'F', kind: 'wait', parameters: { minutes: 0 } },
    ]);

    expect(problemsOf(config([plan]))).toEqual([
      'plans[0].steps[0].kind: unknown step kind "reboot"; expected one of approval, notify, backup-now, restore-dump, restore-cache, restore-files, restore-config, restore-snapshot, restore-point-in-time, promote-replica, validate, wait',
      'plans[0].steps[1].parameters.severity: unknown key',
      'plans[0].steps[2].parameters.subnetGroupName: required',
      'plans[0].steps[3].parameters: give either replicaIdentifier (an RDS read replica), or globalClusterIdentifier and targetClusterArn (Aurora global failover)',
      'plans[0].steps[4].approval: unknown key',
      'plans[0].steps[5].id: must be 1-40 characters: a lowercase letter, then lowercase letters, digits or hyphens',
      'plans[0].steps[5].parameters.minutes: must be a whole number of minutes >= 1',
    ]);
  });

  it('names the stray key when promote-replica mixes its two forms', () => {
    const plan = withSteps([
      { id: 'promote', kind: 'promote-replica', parameters: { replicaIdentifier: 'orders-replica', targetClusterArn: 'x' } },
    ]);

    expect(problemsOf(config([plan]))).toEqual(['plans[0].steps[0].parameters.targetClusterArn: unknown key']);
  });

  it('keeps restore targets short enough for a drill to extend them', () => {
    const plan = ordersRestore();
    plan.steps[2].parameters.target.database = 'd'.repeat(49);
    plan.steps.push({ id: 'snap', kind: 'restore-snapshot', parameters: { ...SNAPSHOT_RESTORE, targetIdentifier: `o${'-x'.repeat(24)}` } });

    expect(problemsOf(config([plan]))).toEqual([
      'plans[0].steps[2].parameters.target.database: must be at most 48 characters: a drill restores into <database>_drill_<suffix>',
      'plans[0].steps[5].parameters.targetIdentifier: must be at most 48 characters: a drill appends -drill-<suffix>',
    ]);
  });

  it('checks plans against the sources only once the schema problems are fixed', () => {
    const plan = ordersRestore();
    plan.steps[0].parameters.source = 'billing';
    plan.contacts = [];

    expect(problemsOf(config([plan]))).toEqual(['plans[0].contacts: must list at least one contact']);
  });
});

describe('planProblems', () => {
  it('returns paths from the config root and nothing for a valid plan', () => {
    const parsed = parseConfig(config([ordersRestore()]));
    const broken: PlanConfig = { ...parsed.plans[0]!, steps: parsed.plans[0]!.steps.map((step) => ({ ...step, dependsOn: step.id === 'tell' ? ['x'] : step.dependsOn })) };

    expect(planProblems(parsed.plans, parsed)).toEqual([]);
    expect(planProblems([broken], parsed)).toEqual([{ path: ['plans', 0, 'steps', 4, 'dependsOn', 0], message: "unknown step 'x'" }]);
  });
});

describe('default plans', () => {
  const parsed = (plans?: unknown[]): LifeboatConfig => parseConfig(config(plans));

  it('restore a dump source from its latest verified dump into <database>_recovered on the verification server', () => {
    const cfg = parsed();

    const plan = defaultPlanFor(cfg.sources[0]!, cfg);

    expect(plan).toEqual({
      name: 'orders-db-default',
      description:
        'Default recovery of orders-db: back up now, then the latest verified dump restored into orders_recovered on the postgresql verification server, validate, notify',
      priority: 'high',
      objectives: { rtoMinutes: 90, rpoMinutes: 1500 },
      contacts: [
        { name: 'oncall@example.com', email: 'oncall@example.com' },
        { name: 'dba@example.com', email: 'dba@example.com' },
      ],
      steps: [
        { id: 'backup', kind: 'backup-now', dependsOn: [], timeoutMinutes: 2880, parameters: { source: 'orders-db' } },
        {
          id: 'restore',
          kind: 'restore-dump',
          dependsOn: ['backup'],
          timeoutMinutes: 120,
          parameters: {
            source: 'orders-db',
            region: 'primary',
            target: { host: 'verify-pg.internal', port: 5432, database: 'orders_recovered', credentialsSecretArn: SERVER_SECRET },
          },
        },
        {
          id: 'check',
          kind: 'validate',
          dependsOn: ['restore'],
          timeoutMinutes: 30,
          parameters: { target: 'restore', sqlChecks: ['SELECT count(*) > 0 FROM orders'] },
        },
        {
          id: 'tell',
          kind: 'notify',
          dependsOn: ['check'],
          timeoutMinutes: 5,
          parameters: {
            message: 'orders-db: the latest verified dump restored into orders_recovered on the postgresql verification server, and validated',
          },
        },
      ],
    });
  });

  it('restore a snapshot-only source from its latest snapshot as <source>-recovered', () => {
    const cfg = parsed();

    const plan = defaultPlanFor(cfg.sources[2]!, cfg);

    expect(plan?.name).toBe('shop-db-default');
    expect(plan?.steps.map((step) => [step.id, step.kind, step.dependsOn])).toEqual([
      ['backup', 'backup-now', []],
      ['restore', 'restore-snapshot', ['backup']],
      ['check', 'validate', ['restore']],
      ['tell', 'notify', ['check']],
    ]);
    expect(plan?.steps[1]).toMatchObject({
      timeoutMinutes: 180,
      parameters: {
        source: 'shop-db',
        region: 'primary',
        targetIdentifier: 'shop-db-recovered',
        subnetGroupName: restoreSubnetGroupName('lifeboat', 'shop-db'),
        securityGroupIds: ['sg-0a1b2c3d'],
      },
    });
    expect(restoreSubnetGroupName('lifeboat', 'shop-db')).toBe('lifeboat-shop-db-restore');
  });

  it('are valid plans themselves', () => {
    const cfg = parsed();

    for (const plan of plansWithDefaults(cfg)) {
      expect(PlanSchema.parse(plan)).toEqual(plan);
      expect(planStructureProblems(plan)).toEqual([]);
    }
  });

  it('are not made for a dump source without a verification server for its engine, or without alert emails', () => {
    const cfg = parsed();

    expect(defaultPlanFor(cfg.sources[1]!, cfg)).toBeUndefined();
    expect(defaultPlanFor(cfg.sources[0]!, { ...cfg, alerts: { ...cfg.alerts, emails: [] } })).toBeUndefined();
  });

  it('follow the configured plans, for the sources no plan backs up or restores', () => {
    const shopOnly = withSteps([{ id: 'restore', kind: 'restore-snapshot', parameters: { ...SNAPSHOT_RESTORE, source: 'shop-db' } }]);
    shopOnly.name = 'shop-restore';

    expect(plansWithDefaults(parsed()).map((plan) => plan.name)).toEqual(['orders-db-default', 'shop-db-default']);
    expect(plansWithDefaults(parsed([ordersRestore()])).map((plan) => plan.name)).toEqual(['orders-restore', 'shop-db-default']);
    expect(plansWithDefaults(parsed([shopOnly])).map((plan) => plan.name)).toEqual(['shop-restore', 'orders-db-default']);
  });
});
