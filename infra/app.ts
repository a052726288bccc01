#!/usr/bin/env node
// The CDK app: `npx cdk synth -c lifeboat:config=path/to/config.json` (default: the example config).
import { App } from 'aws-cdk-lib';
import { loadConfig } from './config/index.ts';
import { buildLifeboat } from './lifeboat.ts';
import { addComplianceChecks } from './compliance.ts';

const app = new App();
const configPath = process.env.LIFEBOAT_CONFIG ?? app.node.tryGetContext('lifeboat:config') ?? 'config/example.lifeboat.json';
const config = loadConfig(String(configPath));
buildLifeboat(app, config);
addComplianceChecks(app);
app.synth();
