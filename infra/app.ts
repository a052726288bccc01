#!/usr/bin/env node
// The CDK app: `npx cdk synth -c lifeboat:config=path/to/config.json` (default: the example config).
import { App } from 'aws-cdk-lib';
import { type LifeboatConfig, loadConfig } from './config/index.ts';

const app = new App();
const configPath = process.env.LIFEBOAT_CONFIG ?? app.node.tryGetContext('lifeboat:config') ?? 'config/example.lifeboat.json';
const config = configOrExit(String(configPath));
// The constructs are loaded once the config is known good: a bad config is reported at once.
const { buildLifeboat } = await import('./lifeboat.ts');
const { addComplianceChecks } = await import('./compliance.ts');
buildLifeboat(app, config);
addComplianceChecks(app);
app.synth();

/**
 * The validated config; a bad one ends the synth with its own message alone (the file, then one problem a
 * line) and exit code 1: no stack trace, no schema dump. Any other error is a bug and keeps its stack.
 */
function configOrExit(path: string): LifeboatConfig {
  try {
    return loadConfig(path);
  } catch (error) {
    if (!(error instanceof Error) || error.name !== 'ConfigError') throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
