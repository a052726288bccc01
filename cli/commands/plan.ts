import { booleanFlag, stringFlag, type FlagValues } from '../args.ts';
import type { Command } from '../command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import type { LifeboatConfig } from '../../infra/config/config.ts';
import type { ApprovalConfig, PlanConfig, PlanStepConfig } from '../../infra/config/plans.ts';

const SUBCOMMANDS = ['show', 'list'] as const;

export const plan: Command = {
  name: 'plan',
  summary: "Show a DR plan from the config (steps, levels, approvals, timeouts; --asl its state machine), or list them.",
  synopsis: 'lifeboat plan show NAME --config FILE [--asl | --json]\n       lifeboat plan list --config FILE [--json]',
  description:
    'Reads the DR plans of a Lifeboat config, the ones it declares and the default plan of every source no plan\n' +
    'names, validated as `cdk synth` validates them.\n' +
    '`plan show NAME` prints the plan as it runs: its levels (the steps of a level run in parallel, once every\n' +
    'step they depend on is done), each step with what it does, whom its approval asks, when it escalates and\n' +
    'times out; --asl prints the Amazon States Language definition it compiles to (as deployed, with CDK\'s\n' +
    'placeholders). `plan list` prints every plan with its priority, steps, approvals and objectives.',
  positionals: [
    { name: 'show|list', description: 'What to do.' },
    { name: 'NAME', description: 'The plan, for show.' },
  ],
  flags: {
    config: { type: 'string', value: 'FILE', description: 'The Lifeboat config. Default: $LIFEBOAT_CONFIG.' },
    asl: { type: 'boolean', description: 'show: print the compiled state machine definition (JSON) instead.' },
    json: { type: 'boolean', description: 'Print JSON: the plan with its levels and state machine name (show), or every plan (list).' },
  },
  notes: 'Rehearse a plan on this machine with lifeboat drill NAME --local. Exit codes: 0 shown, 2 bad flags, config or plan name.',
  maxPositionals: 2,
  async run({ flags, positionals }, { output, env }) {
    const [subcommand, name] = positionals;
    if (subcommand === undefined) throw new UsageError('"lifeboat plan" needs show NAME or list');
    if (!(SUBCOMMANDS as readonly string[]).includes(subcommand)) throw new UsageError(`unknown "lifeboat plan ${subcommand}"; use show NAME or list`);
    if (subcommand === 'list' && name !== undefined) throw new UsageError(`unexpected argument "${name.slice(0, 60)}" for "lifeboat plan list"`);
    if (subcommand === 'show' && name === undefined) throw new UsageError('"lifeboat plan show" needs a plan name (see lifeboat plan list)');
    if (booleanFlag(flags, 'asl') && (subcommand === 'list' || booleanFlag(flags, 'json'))) throw new UsageError('--asl is for plan show, without --json');

    const config = await configOf(flags, env);
    const { plansWithDefaults, planStateMachineName } = await import('../../infra/config/plans.ts');
    const { compilePlan, planLevels } = await import('../../infra/plans/compile.ts');
    const plans = plansWithDefaults(config);
    const declared = new Set(config.plans.map((p) => p.name));

    if (subcommand === 'list') {
      const rows = plans.map((p) => ({
        name: p.name,
        priority: p.priority,
        steps: p.steps.length,
        approvals: p.steps.filter((s) => approvalOf(s) !== undefined).length,
        objectives: p.objectives,
        origin: declared.has(p.name) ? 'config' : `default plan of ${sourcesOf(p).join(', ')}`,
        stateMachine: planStateMachineName(config.name, p.name),
      }));
      if (booleanFlag(flags, 'json')) {
        output.out(JSON.stringify(rows, null, 2));
        return ExitCode.ok;
      }
      const { formatTable } = await import('../format.ts');
      output.out(
        formatTable(
          ['PLAN', 'PRIORITY', 'STEPS', 'APPROVALS', 'RTO', 'RPO', 'FROM'],
          rows.map((r) => [r.name, r.priority, String(r.steps), String(r.approvals), `${r.objectives.rtoMinutes} min`, `${r.objectives.rpoMinutes} min`, r.origin]),
          new Set([2, 3]),
        ),
      );
      return ExitCode.ok;
    }

    const shown = plans.find((p) => p.name === name);
    if (shown === undefined) throw new UsageError(`the config has no plan "${name!.slice(0, 60)}"; its plans: ${plans.map((p) => p.name).join(', ') || 'none'}`);
    if (booleanFlag(flags, 'asl')) {
      output.out(JSON.stringify(compilePlan(shown, { name: config.name }), null, 2));
      return ExitCode.ok;
    }
    const levels = planLevels(shown);
    const stateMachine = planStateMachineName(config.name, shown.name);
    if (booleanFlag(flags, 'json')) {
      output.out(JSON.stringify({ ...shown, stateMachine, levels: levels.map((level) => level.map((s) => s.id)) }, null, 2));
      return ExitCode.ok;
    }
    output.out(renderPlan(shown, levels, stateMachine, config, declared.has(shown.name)));
    return ExitCode.ok;
  },
};

async function configOf(flags: FlagValues, env: Readonly<Record<string, string | undefined>>): Promise<LifeboatConfig> {
  const path = stringFlag(flags, 'config') ?? (env['LIFEBOAT_CONFIG'] || undefined);
  if (path === undefined) throw new UsageError('--config FILE is required (or set LIFEBOAT_CONFIG): the plans are in the config');
  const { loadConfig } = await import('../../infra/config/load.ts');
  return loadConfig(path);
}

function approvalOf(planStep: PlanStepConfig): ApprovalConfig | undefined {
  return planStep.kind === 'approval' ? planStep.parameters : planStep.approval;
}

function sourcesOf(p: PlanConfig): string[] {
  return [...new Set(p.steps.flatMap((s) => ('source' in s.parameters ? [s.parameters.source] : [])))];
}

/** The plan level by level, each step with its dependencies, timeout, approval and what it does (in a drill too). */
export function renderPlan(p: PlanConfig, levels: PlanStepConfig[][], stateMachine: string, config: LifeboatConfig, declared: boolean): string {
  const contacts = p.contacts.map((c) => `${c.name} <${c.email}>`).join(', ');
  const idWidth = Math.max(...p.steps.map((s) => s.id.length));
  const kindWidth = Math.max(...p.steps.map((s) => s.kind.length));
  const indent = ' '.repeat(2 + idWidth + 2 + kindWidth + 2);
  const lines = [
    `Plan ${p.name} (${p.priority})${declared ? '' : ', a default plan'}: state machine ${stateMachine}`,
    ...(p.description ? [`  ${p.description}`] : []),
    `Objectives: RTO ${p.objectives.rtoMinutes} min, RPO ${p.objectives.rpoMinutes} min`,
    `Contacts:   ${contacts}`,
  ];
  levels.forEach((level, i) => {
    lines.push('', `Level ${i + 1}${level.length > 1 ? ` (${level.length} steps in parallel)` : ''}`);
    for (const planStep of level) {
      const after = planStep.dependsOn.length > 0 ? `after ${planStep.dependsOn.join(', ')}` : 'first';
      lines.push(`  ${planStep.id.padEnd(idWidth)}  ${planStep.kind.padEnd(kindWidth)}  ${after}; timeout ${planStep.timeoutMinutes} min`);
      const gate = planStep.kind === 'approval' ? undefined : planStep.approval;
      if (gate) lines.push(`${indent}approval first: ${approvalText(p, planStep, gate, contacts)}`);
      for (const line of stepText(planStep, p, config, contacts)) lines.push(`${indent}${line}`);
    }
  });
  return lines.join('\n');
}

function approvalText(p: PlanConfig, planStep: PlanStepConfig, approval: ApprovalConfig, contacts: string): string {
  const question = approval.question ?? `Approve step '${planStep.id}' (${planStep.kind}) of plan '${p.name}'?`;
  return `"${question}" asked of ${contacts}; escalated to them after ${approval.escalateAfterMinutes} min, the plan fails after ${approval.timeoutMinutes} min without a decision; a rejection fails it`;
}

function stepText(planStep: PlanStepConfig, p: PlanConfig, config: LifeboatConfig, contacts: string): string[] {
  const region = (choice: 'primary' | 'dr' | 'air-gap') =>
    choice === 'air-gap' ? `air-gapped (account ${config.vaultAccount?.accountId ?? '?'})` : `${choice} region ${config.regions[choice]}`;
  switch (planStep.kind) {
    case 'approval':
      return [approvalText(p, planStep, planStep.parameters, contacts)];
    case 'notify':
      return [`tells the contacts: "${planStep.parameters.message}"`];
    case 'wait':
      return [`waits ${planStep.parameters.minutes} min`];
    case 'backup-now':
      return [`backs up ${planStep.parameters.source} now with the backup state machine ${config.name}-backup (a local drill skips it)`];
    case 'restore-dump': {
      const q = planStep.parameters;
      const which = q.pointInTime ? `the latest verified dump at or before ${q.pointInTime}` : 'the latest verified dump';
      return [
        `restores ${which} of ${q.source} from the ${region(q.region)} vault into ${q.target.database} on ${q.target.host}:${q.target.port}`,
        `a drill restores into ${q.target.database}_drill_<suffix> on the verification server instead, dropped at clean-up`,
      ];
    }
    case 'restore-cache': {
      const q = planStep.parameters;
      const which = q.pointInTime ? `the latest verified backup at or before ${q.pointInTime}` : 'the latest verified backup';
      return [
        `restores ${which} of ${q.source} from the ${region(q.region)} vault into ${q.target.tls ? 'rediss' : 'redis'}://${q.target.host}:${q.target.port}, refusing if it holds any key of the backup`,
        'a drill restores into a scratch redis-server in the step\'s runner instead, stopped when the step ends',
      ];
    }
    case 'restore-files': {
      const q = planStep.parameters;
      const which = q.pointInTime ? `the latest verified snapshot at or before ${q.pointInTime}` : 'the latest verified snapshot';
      return [
        `restores ${q.path ? `${q.path} of ` : ''}${which} of ${q.source} from the ${region(q.region)} vault into s3://${q.target.bucket}/${q.target.prefix}, refusing if any object it would write is there`,
        'a drill reads and checks every file of the snapshot without writing it anywhere',
      ];
    }
    case 'restore-config': {
      const q = planStep.parameters;
      const which = q.pointInTime ? `the latest verified backup at or before ${q.pointInTime}` : 'the latest verified backup';
      return [
        `writes the SSM parameters and secrets of ${which} of ${q.source} from the ${region(q.region)} vault back into that region, ${q.overwrite ? 'overwriting' : 'keeping (and listing)'} items it holds with another value`,
        'a drill reads and checks every item and compares it with the region without writing anything',
      ];
    }
    case 'restore-snapshot': {
      const q = planStep.parameters;
      return [
        `restores the latest snapshot of ${q.source} in the ${region(q.region)} as ${q.targetIdentifier} (subnet group ${q.subnetGroupName}${q.instanceClass ? `, ${q.instanceClass}` : ''})`,
        `a drill restores ${q.targetIdentifier}-drill-<suffix>, deleted at clean-up (a local drill skips it)`,
      ];
    }
    case 'restore-point-in-time': {
      const q = planStep.parameters;
      return [
        `restores ${q.source} to ${q.restoreTime ?? 'its latest restorable time'} as ${q.targetIdentifier} (${q.instanceClass}, subnet group ${q.subnetGroupName})`,
        `a drill restores ${q.targetIdentifier}-drill-<suffix>, deleted at clean-up (a local drill skips it)`,
      ];
    }
    case 'promote-replica': {
      const q = planStep.parameters;
      const what = 'replicaIdentifier' in q ? `promotes read replica ${q.replicaIdentifier} to a standalone primary` : `fails global database ${q.globalClusterIdentifier} over to ${q.targetClusterArn}`;
      return [what, 'a drill skips it and records what it would have done'];
    }
    case 'validate': {
      const q = planStep.parameters;
      return [
        `checks what '${q.target}' restored: every table's row count against the backup's manifest`,
        ...q.sqlChecks.map((sql) => `and the SQL check: ${sql}`),
      ];
    }
  }
}
