import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';

/**
 * Runs the AWS Solutions and NIST 800-53 rev 5 packs on every synth. Any finding fails the synth unless the
 * construct that owns the resource acknowledges it with a written reason.
 */
export function addComplianceChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new NIST80053R5Checks(app));
}
