/**
 * What every Lifeboat state machine has (backup pipeline, restore test, DR plans): its own role that only
 * Step Functions on behalf of this account may assume, and a Standard workflow that logs to an encrypted,
 * retained log group (every event with its execution data, unless the machine asks for less) and is traced with X-Ray. The caller adds the
 * role's statements between `stateMachineRole` and `standardStateMachine`.
 *
 * @example
 * const logGroup = stateMachineLogGroup(this, 'StateMachineLogs', 'lifeboat-backup', { encryptionKey, retention });
 * const role = stateMachineRole(this, 'StateMachineRole', 'Lifeboat backup state machine');
 * new ReviewedPolicy(role, '…').add(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
 * const machine = standardStateMachine(this, 'StateMachine', { stateMachineName: 'lifeboat-backup', definitionBody, role, logGroup });
 */
import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';

/** The role of a state machine: Step Functions may assume it only for this account's executions. */
export function stateMachineRole(scope: Construct, id: string, description: string): iam.Role {
  return new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('states.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
    description,
  });
}

/** `/aws/vendedlogs/states/<stateMachineName>`, encrypted and kept when the stack goes. */
export function stateMachineLogGroup(
  scope: Construct,
  id: string,
  stateMachineName: string,
  options: { readonly encryptionKey: kms.IKey; readonly retention: logs.RetentionDays },
): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    // The vended-logs prefix keeps CloudWatch Logs' resource policy small however many state machines log.
    logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
    retention: options.retention,
    encryptionKey: options.encryptionKey,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

export interface StandardStateMachineProps {
  readonly stateMachineName: string;
  readonly definitionBody: sfn.DefinitionBody;
  readonly definitionSubstitutions: Record<string, string>;
  readonly role: iam.IRole;
  readonly logGroup: logs.ILogGroup;
  /**
   * What the state machine logs. A machine whose states carry a secret (the DR plans: an approval's task
   * token is in the task's input) logs ERROR events without execution data.
   * @default { level: sfn.LogLevel.ALL, includeExecutionData: true }
   */
  readonly logging?: { readonly level: sfn.LogLevel; readonly includeExecutionData: boolean };
}

/** A Standard state machine logging to `logGroup` (ALL events with execution data unless `logging` says less), traced with X-Ray. No timeout. */
export function standardStateMachine(scope: Construct, id: string, props: StandardStateMachineProps): sfn.StateMachine {
  return new sfn.StateMachine(scope, id, {
    stateMachineName: props.stateMachineName,
    stateMachineType: sfn.StateMachineType.STANDARD,
    definitionBody: props.definitionBody,
    definitionSubstitutions: props.definitionSubstitutions,
    role: props.role,
    logs: { destination: props.logGroup, ...(props.logging ?? { level: sfn.LogLevel.ALL, includeExecutionData: true }) },
    tracingEnabled: true,
  });
}
