// DocumentDB sources (issue 14), as the example config's catalog-docdb: backed up by cluster snapshot through the same path as Aurora, copied to the DR
// region, retained, and restored by a default DR plan; never dumped, and refused where only SQL engines fit.
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, type SynthesizedLifeboat } from './support.ts';
import { ConfigError } from '../../functions/lib/errors.ts';

/** The example config, whose DocumentDB cluster `catalog-docdb` is changed by `change`. */
function withDocdb(change: (source: Record<string, any>, raw: Record<string, any>) => void = () => {}) {
  return exampleConfig((raw) => {
    const source = raw.sources.find((s: { id: string }) => s.id === 'catalog-docdb');
    change(source, raw);
  });
}

type Fn = { Properties: { Description?: string; Environment?: { Variables?: Record<string, string> } } };
const functionsIn = (template: Template) => Object.values(template.findResources('AWS::Lambda::Function')) as Fn[];
const sourcesOf = (template: Template, description: RegExp) =>
  functionsIn(template)
    .filter((fn) => description.test(fn.Properties.Description ?? ''))
    .map((fn) => JSON.parse(fn.Properties.Environment!.Variables!['LIFEBOAT_SOURCES']!) as { id: string; engine?: string; rds?: unknown }[]);

describe('a DocumentDB source in the deployment', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    // Compliance checks on (synthLifeboat): cdk-nag passes with the DocumentDB source.
    lifeboat = synthLifeboat(withDocdb());
  }, 120_000);

  it('is snapshotted as a cluster by the snapshot function, which may snapshot exactly its cluster', () => {
    const [sources] = sourcesOf(lifeboat.primary, /^Lifeboat: creates and describes RDS snapshots/);
    expect(sources!.find((s) => s.id === 'catalog-docdb')).toMatchObject({ engine: 'docdb', rds: { type: 'cluster', identifier: 'catalog-prod' } });
    const statements = Object.values(lifeboat.primary.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as { Sid?: string; Resource: unknown }[]);
    const own = statements.find((s) => s.Sid === 'SnapshotOwnClusters');
    expect(JSON.stringify(own!.Resource)).toContain(':rds:eu-west-1:123456789012:cluster:catalog-prod');
    expect(JSON.stringify(own!.Resource)).toContain(':rds:eu-west-1:123456789012:cluster-snapshot:lifeboat-catalog-docdb-*');
  });

  it('is never given to a dump function or the dump verifier, and is given to the snapshot restore test', () => {
    const served = sourcesOf(lifeboat.primary, /^Lifeboat: (streamed, encrypted logical backups|verifies a dump)/);
    expect(served.length).toBeGreaterThanOrEqual(2);
    for (const sources of served) expect(sources.map((s) => s.id)).not.toContain('catalog-docdb');
    const [restoreTest] = sourcesOf(lifeboat.primary, /^Lifeboat: validates a temporary database/);
    expect(restoreTest!.map((s) => s.id)).toContain('catalog-docdb');
    // The temporary cluster's port is opened to the validation function, and nothing else new.
    const ingress = Object.values(lifeboat.primary.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties.FromPort as number);
    expect(ingress).toContain(27017);
  });

  it('gets a default plan that restores its latest snapshot and notifies, without a validate step', () => {
    const machines = Object.values(lifeboat.primary.findResources('AWS::StepFunctions::StateMachine')).map((m) => String(m.Properties.StateMachineName));
    expect(machines).toContain('lifeboat-plan-catalog-docdb-default');
    const [drStep] = sourcesOf(lifeboat.primary, /^Lifeboat: runs DR plan steps/);
    expect(drStep!.find((s) => s.id === 'catalog-docdb')).toMatchObject({ engine: 'docdb', rds: { type: 'cluster', identifier: 'catalog-prod' } });
  });
});

describe('a DocumentDB source in the config', () => {
  const refused = (change: (source: Record<string, any>, raw: Record<string, any>) => void) => {
    try {
      withDocdb(change);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('the config was accepted');
  };

  it('is backed up by snapshot, by default and only', () => {
    const config = withDocdb();
    expect(config.sources.find((s) => s.kind === 'docdb')!.backup).toEqual({ method: 'snapshot' });
    expect(refused((source) => (source.backup = { method: 'dump' }))).toMatch(/backup\.method.*DocumentDB is backed up by cluster snapshot only/);
  });

  it('takes no database or SQL checks', () => {
    expect(refused((source) => (source.database = 'catalog'))).toMatch(/database.*not used by a DocumentDB source/);
    expect(refused((source) => (source.sqlChecks = ['SELECT 1']))).toMatch(/sqlChecks.*not used by a DocumentDB source/);
  });

  it('is refused in plan steps that only fit SQL engines, and restored to a point in time as a cluster', () => {
    const plan = (steps: unknown[]) => (_source: Record<string, any>, raw: Record<string, any>) => {
      raw.plans = [{ name: 'catalog-restore', priority: 'high', objectives: { rtoMinutes: 120, rpoMinutes: 1500 }, contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }], steps }];
    };
    const restore = { id: 'restore', kind: 'restore-snapshot', parameters: { source: 'catalog-docdb', region: 'dr', targetIdentifier: 'catalog-standby', subnetGroupName: 'dr-private', securityGroupIds: ['sg-0a1b2c3d4e5f60009'] } };
    expect(refused(plan([restore, { id: 'check', kind: 'validate', dependsOn: ['restore'], parameters: { target: 'restore' } }]))).toMatch(
      /steps\[1\]\.parameters\.target.*restores the DocumentDB source 'catalog-docdb': validate checks PostgreSQL and MySQL/,
    );
    // A point in time is restored as for Aurora: RestoreDBClusterToPointInTime, then the instance.
    expect(() => withDocdb(plan([{ id: 'pitr', kind: 'restore-point-in-time', parameters: { source: 'catalog-docdb', targetIdentifier: 'catalog-pitr', instanceClass: 'db.r6g.large', subnetGroupName: 'private', securityGroupIds: ['sg-0a1b2c3d4e5f60009'] } }]))).not.toThrow();
    // A restore-snapshot alone is a plan.
    expect(() => withDocdb(plan([restore]))).not.toThrow();
  });
});

describe('a point-in-time restore of the DocumentDB cluster in a plan', () => {
  it('lets the DR step role restore exactly that cluster to a point in time, into the named target only', () => {
    const lifeboat = synthLifeboat(
      withDocdb((_source, raw) => {
        raw.plans = [
          {
            name: 'catalog-pitr',
            priority: 'high',
            objectives: { rtoMinutes: 120, rpoMinutes: 1500 },
            contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }],
            steps: [{ id: 'pitr', kind: 'restore-point-in-time', parameters: { source: 'catalog-docdb', targetIdentifier: 'catalog-pitr', instanceClass: 'db.r6g.large', subnetGroupName: 'private', securityGroupIds: ['sg-0a1b2c3d4e5f60009'] } }],
          },
        ];
      }),
    );
    const roles = lifeboat.primary.findResources('AWS::IAM::Role');
    const roleId = Object.keys(roles).find((id) => roles[id]!.Properties.Description === 'Lifeboat DR step function')!;
    const statements = [...Object.values(lifeboat.primary.findResources('AWS::IAM::Policy')), ...Object.values(lifeboat.primary.findResources('AWS::IAM::ManagedPolicy'))]
      .filter((p) => ((p.Properties.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Sid?: string; Action: string[]; Resource: unknown }[]);
    const restore = statements.find((s) => s.Sid === 'RestoreNamedDatabases')!;
    expect(restore.Action).toContain('rds:RestoreDBClusterToPointInTime');
    const named = new Set(JSON.stringify(restore.Resource).match(/:(db|cluster):[^"]*/g));
    // The source cluster it restores from, and the target it creates (and a drill's): nothing else by name.
    expect(named).toEqual(new Set([':cluster:catalog-prod', ':cluster:catalog-pitr', ':cluster:catalog-pitr-drill-*', ':db:catalog-pitr', ':db:catalog-pitr-drill-*']));
  }, 120_000);
});
