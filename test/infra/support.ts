import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, type LifeboatConfig } from '../../infra/config/index.ts';
import { buildLifeboat, type LifeboatStacks } from '../../infra/lifeboat.ts';
import { addComplianceChecks } from '../../infra/compliance.ts';
import { ordersRestorePlan } from '../fixtures/plans.ts';

const repoFile = (relative: string) => fileURLToPath(new URL(`../../${relative}`, import.meta.url));

/** The feature flags from cdk.json, so tests synthesize exactly what `cdk synth` does. */
export const cdkContext: Record<string, unknown> = JSON.parse(readFileSync(repoFile('cdk.json'), 'utf8')).context;

/** The example config as raw JSON, for tests that change a field and parse it again. */
export function exampleConfigJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(repoFile('config/example.lifeboat.json'), 'utf8'));
}

export function exampleConfig(change: (raw: Record<string, any>) => void = () => {}): LifeboatConfig {
  const raw = exampleConfigJson();
  change(raw);
  return parseConfig(raw, 'test config');
}

/** The example config whose one declared plan restores orders-db's dump (test/fixtures/plans.ts), with a contact. */
export function ordersRestoreConfig(): LifeboatConfig {
  return exampleConfig((raw) => {
    raw.plans = [{ ...ordersRestorePlan('arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-new-Ab12Cd'), contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }] }];
  });
}

/**
 * The example config with one plan restoring orders-db's snapshot into the DR region: enough statements on
 * the DR step role for CDK to move some into an overflow managed policy.
 */
export function snapshotPlanConfig(): LifeboatConfig {
  return exampleConfig((raw) => {
    raw.plans = [
      {
        name: 'orders-standby',
        priority: 'high',
        objectives: { rtoMinutes: 120, rpoMinutes: 1440 },
        contacts: [{ name: 'Ana Lima', email: 'ana@example.com' }],
        steps: [
          {
            id: 'restore',
            kind: 'restore-snapshot',
            parameters: { source: 'orders-db', region: 'dr', targetIdentifier: 'orders-standby', subnetGroupName: 'dr-private', securityGroupIds: ['sg-0a1b2c3d4e5f60009'] },
          },
        ],
      },
    ];
  });
}

/**
 * A unit-test app: CloudFormation schema validation and esbuild bundling off for speed (one full synth,
 * bundles included, runs in CI on its own; the bundles themselves are load-tested in test/functions).
 */
export function testApp(options: { compliance?: boolean } = {}): App {
  const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  if (options.compliance) addComplianceChecks(app);
  return app;
}

/** For a hook that synthesizes the whole app with cdk-nag: well under a minute alone, longer on a busy machine. */
export const SYNTH_TIMEOUT_MS = 180_000;

export interface SynthesizedLifeboat {
  readonly app: App;
  readonly stacks: LifeboatStacks;
  readonly primary: Template;
  readonly dr: Template;
}

/**
 * The app built from `config` in a {@link testApp} WITH the compliance checks: its first template synthesizes it,
 * and any cdk-nag finding nobody acknowledged fails that synth, so every config a test builds is checked.
 */
export function synthLifeboat(config: LifeboatConfig = exampleConfig()): SynthesizedLifeboat {
  const app = testApp({ compliance: true });
  const stacks = buildLifeboat(app, config);
  return { app, stacks, primary: Template.fromStack(stacks.primary), dr: Template.fromStack(stacks.dr) };
}

/** cdk-nag's validation report (`validation-report.json` in the cloud assembly), as far as the tests read it. */
export interface NagReport {
  pluginReports: {
    pluginName: string;
    conclusion: string;
    violations: unknown[];
    suppressedViolations: { ruleName: string; reason: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
}

/** Synthesizes an app made by `testApp({ compliance: true })` (a finding nobody acknowledged throws) and reads cdk-nag's report. */
export function synthNagReport(app: App): NagReport {
  const assembly = app.synth();
  return JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as NagReport;
}

/** Every finding the report acknowledges, as `<rule> @ <construct path>`, one per construct, the path's stack prefix replaced. */
export function acknowledgedFindings(report: NagReport, stackPrefix: RegExp, replacement = ''): string[] {
  return report.pluginReports
    .flatMap((p) => p.suppressedViolations)
    .flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} @ ${c.constructPath.replace(stackPrefix, replacement)}`));
}

/**
 * Every role of `template` that may use the key with logical id `keyId` (a statement of an inline or managed policy
 * naming its ARN), as `<role description> → <Effect:action …>`, sorted.
 */
export function usesOfKey(template: Template, keyId: string): string[] {
  type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
  const roles = template.findResources('AWS::IAM::Role');
  const uses = new Map<string, string[]>();
  const policies = [...Object.values(template.findResources('AWS::IAM::Policy')), ...Object.values(template.findResources('AWS::IAM::ManagedPolicy'))];
  for (const policy of policies) {
    for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
      if (!JSON.stringify(statement.Resource).includes(`"${keyId}"`)) continue;
      for (const role of (policy.Properties.Roles ?? []) as { Ref: string }[]) {
        const description = String(roles[role.Ref]?.Properties?.Description ?? role.Ref);
        const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
        uses.set(description, [...(uses.get(description) ?? []), ...actions.map((a) => `${statement.Effect}:${a}`)]);
      }
    }
  }
  return [...uses].map(([description, actions]) => `${description} → ${[...new Set(actions)].sort().join(' ')}`).sort();
}
