/** Named errors of configuration backups (Step Functions match on `name`; messages never carry values). */
import { LifeboatError } from '../errors.ts';

/** Reading the configuration failed (access denied, throttled past retries, a stack that does not exist). */
export class ConfigReadFailedError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigReadFailedError';
  }
}

/** Writing an item back failed; the items written before it stay written and are listed in the message. */
export class ConfigRestoreFailedError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigRestoreFailedError';
  }
}

/** The payload does not match its manifest: an item's hash, the item count, or the payload's structure. */
export class ConfigPayloadMismatchError extends LifeboatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigPayloadMismatchError';
  }
}

/**
 * An SDK error's name and message, never its request (which may hold a value being written). AWS
 * validation messages quote the offending input (`Value 'hunter2' at 'value' failed to satisfy
 * constraint`), so a quoted value is replaced before the message goes anywhere.
 */
export function describeAwsError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/Value '[\s\S]*?' at '/g, "Value (not shown) at '").replace(/Value \[[\s\S]*?\] at '/g, "Value (not shown) at '");
}
