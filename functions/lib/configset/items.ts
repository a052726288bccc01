/**
 * What a configuration backup holds: one record per item, written as one JSON line of the payload.
 * Values (parameter values, secret strings and bytes, templates) exist only inside the encrypted payload;
 * the manifest lists each item's name, versions, stages and a salted hash of its line (see {@link itemHash}).
 */
import { createHash, randomBytes } from 'node:crypto';
import { CONFIG_PAYLOAD_FORMAT } from '../vault/configManifest.ts';

export { CONFIG_PAYLOAD_FORMAT };

/** First line of every payload; the salt keys the item hashes recorded in the (unencrypted) manifest. */
export interface PayloadHeader {
  readonly record: 'header';
  readonly format: typeof CONFIG_PAYLOAD_FORMAT;
  readonly version: 1;
  /** 32 random bytes, hex: without them a manifest hash cannot be checked against a guessed value. */
  readonly salt: string;
}

export type ParameterType = 'String' | 'StringList' | 'SecureString';

/** One SSM parameter as GetParametersByPath returned it (SecureString values decrypted, then encrypted with the payload). */
export interface ParameterItem {
  readonly record: 'ssm-parameter';
  readonly name: string;
  readonly type: ParameterType;
  readonly value: string;
  readonly version: number;
  /** `text`, `aws:ec2:image` or `aws:ssm:integration`. */
  readonly dataType?: string;
  readonly lastModified?: string;
}

/** One version of a secret that carries at least one staging label. */
export interface SecretVersion {
  readonly versionId: string;
  readonly stages: readonly string[];
  readonly secretString?: string;
  /** Base64 of SecretBinary. */
  readonly secretBinary?: string;
  readonly createdDate?: string;
}

/** One Secrets Manager secret with every labelled version (AWSCURRENT, AWSPREVIOUS, AWSPENDING, custom labels). */
export interface SecretItem {
  readonly record: 'secret';
  readonly name: string;
  readonly description?: string;
  readonly tags?: readonly { readonly key: string; readonly value: string }[];
  readonly versions: readonly SecretVersion[];
}

/**
 * One stack parameter. A NoEcho parameter's value is not readable (DescribeStacks returns `****`): it is
 * recorded as `noEcho: true` without a value, and a restore names it as one the operator must supply.
 */
export interface StackParameter {
  readonly key: string;
  readonly value?: string;
  readonly noEcho?: true;
}

/** One CloudFormation stack: its original template (GetTemplate, TemplateStage Original) and parameters. */
export interface StackItem {
  readonly record: 'stack';
  readonly name: string;
  readonly stackId: string;
  readonly templateBody: string;
  readonly parameters: readonly StackParameter[];
  readonly capabilities: readonly string[];
  readonly tags: readonly { readonly key: string; readonly value: string }[];
  readonly lastUpdated?: string;
}

export type ConfigItem = ParameterItem | SecretItem | StackItem;
export type ConfigItemType = ConfigItem['record'];

export function newPayloadHeader(): PayloadHeader {
  return { record: 'header', format: CONFIG_PAYLOAD_FORMAT, version: 1, salt: randomBytes(32).toString('hex') };
}

/** The payload line of an item (no trailing newline): JSON with a fixed key order, so the same item hashes the same. */
export function itemLine(item: ConfigItem): string {
  return JSON.stringify(item);
}

/**
 * SHA-256 over the salt's bytes then the line's UTF-8 bytes, lowercase hex. Salted because the manifest is
 * not encrypted: a bare hash of a short value ("true", a port) would give the value away to a guess.
 */
export function itemHash(salt: string, line: string): string {
  return createHash('sha256').update(Buffer.from(salt, 'hex')).update(line, 'utf8').digest('hex');
}

/** How an item is named in diffs, manifests and messages: `ssm-parameter /app/db-host`. */
export function itemLabel(item: { readonly record: ConfigItemType; readonly name: string }): string {
  return `${item.record} ${item.name}`;
}
