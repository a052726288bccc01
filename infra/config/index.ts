// The typed Lifeboat configuration: the schema and its types, and the loader the CDK app calls.
export * from './schema.ts';
export { formatPath, loadConfig, parseConfig } from './load.ts';
