/** The vault: format v1 (layout + manifest + verification results), the catalog read from it, and the stores that hold it. */
export type { VaultStore } from './store.ts';
export * from './layout.ts';
export * from './manifest.ts';
export * from './catalog.ts';
export * from './verification.ts';
export { LocalStore } from './localStore.ts';
export { S3Store, type S3StoreOptions } from './s3Store.ts';
export { openStore, parseS3Location, type OpenStoreDeps } from './openStore.ts';
