/**
 * What is missing when a command that calls AWS has no Region or no credentials, in one line: the SDK's
 * own errors ("Region is missing", "Could not load credentials from any providers") name neither the
 * command's flag nor the variables that would fix them.
 */
import { AwsSetupError } from './errors.ts';

const CREDENTIALS_HELP =
  'set AWS_PROFILE (a profile from `aws configure` or `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ' +
  'or run where a role provides them (EC2, ECS, Lambda)';

/** `AwsSetupError` for a missing Region or missing credentials while reaching `what`; `undefined` for any other error. */
export function awsSetupProblem(error: unknown, what: string): AwsSetupError | undefined {
  if (!(error instanceof Error)) return undefined;
  if (/^Region is missing/.test(error.message)) {
    return new AwsSetupError(`no AWS Region to reach ${what}: give --region, set AWS_REGION, or give --config (its primary Region)`, { cause: error });
  }
  if (error.name === 'CredentialsProviderError' || /Could not load credentials from any providers/.test(error.message)) {
    return new AwsSetupError(`no AWS credentials to reach ${what}: ${CREDENTIALS_HELP}`, { cause: error });
  }
  if (error.name === 'InvalidAccessKeyId' || error.name === 'SignatureDoesNotMatch' || error.name === 'UnrecognizedClientException') {
    return new AwsSetupError(`${what} refused the AWS credentials (${error.name}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile`, {
      cause: error,
    });
  }
  return undefined;
}
