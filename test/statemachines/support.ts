/** Shared pieces of the tests that run statemachines/backup.asl.json: the account and regions, and what CDK substitutes into it. */

export const REGION = 'eu-west-1';
export const DR_REGION = 'eu-central-1';
export const ACCOUNT = '111122223333';

/** A Lifeboat function's ARN in the primary region: `lambdaArn('snapshot')` is `…:function:lifeboat-snapshot`. */
export const lambdaArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:lifeboat-${name}`;

/** What CDK substitutes for the backup state machine's placeholders. */
export const SUBSTITUTIONS = {
  ResolveSourceFunctionArn: lambdaArn('resolve-source'),
  SnapshotFunctionArn: lambdaArn('snapshot'),
  VerifyFunctionArn: lambdaArn('verify'),
  CopyFunctionArn: lambdaArn('copy'),
  PruneFunctionArn: lambdaArn('prune'),
  AlertTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:lifeboat-alerts`,
  Region: REGION,
};
