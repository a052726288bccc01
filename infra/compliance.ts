import { type App, AspectPriority, Aspects, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { OverflowPolicyAcknowledgements } from './constructs/reviewed-policy.ts';

/**
 * Runs the AWS Solutions and NIST 800-53 rev 5 packs on every synth. Any finding fails the synth unless the
 * construct that owns the resource acknowledges it with a written reason; acknowledgements follow statements
 * that CDK moves from a large inline policy into an overflow managed policy.
 */
export function addComplianceChecks(app: App): void {
  // After CDK's own (mutating) aspects, which is when roles split their policies.
  Aspects.of(app).add(new OverflowPolicyAcknowledgements(), { priority: AspectPriority.READONLY });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new NIST80053R5Checks(app));
}
