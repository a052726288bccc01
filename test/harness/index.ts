// One import for every test that needs real local services.
export * from './databases.ts';
export * from './s3.ts';
export * from './stateMachine.ts';
