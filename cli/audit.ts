/**
 * The audit trail of the CLI's own work (docs/audit-trail.md): with an evidence key (`--evidence-key-file` off
 * AWS, `--evidence-key` for a deployment's vault, or their environment variables), `backup`, `verify` and
 * `restore` record what they did in the vault's trail as the deployed functions do, the actor being
 * `{ kind: "cli", name: "user@host" }`. Without a key nothing is recorded (a local vault need not have one).
 * An event that cannot be written is a warning on stderr and never fails the command.
 */
import { hostname, userInfo } from 'node:os';
import type { AuditTrail } from '../functions/lib/audit/index.ts';
import type { VaultStore } from '../functions/lib/vault/store.ts';
import type { FlagValues } from './args.ts';
import { stringFlag } from './args.ts';
import { evidenceSigner } from './evidence.ts';
import type { Output } from './io.ts';

/** Whether the command was given an evidence key, by flag or environment. */
export function hasEvidenceKey(flags: FlagValues, env: Readonly<Record<string, string | undefined>>): boolean {
  return [stringFlag(flags, 'evidence-key-file'), stringFlag(flags, 'evidence-key'), env['LIFEBOAT_EVIDENCE_KEY_FILE'], env['LIFEBOAT_EVIDENCE_KEY']].some((v) => v !== undefined && v !== '');
}

/** The trail the command writes to, or `undefined` without an evidence key. */
export async function cliAuditTrail(store: VaultStore, flags: FlagValues, env: Readonly<Record<string, string | undefined>>, output: Output): Promise<AuditTrail | undefined> {
  if (!hasEvidenceKey(flags, env)) return undefined;
  const signer = await evidenceSigner(flags, env);
  const { auditWriter } = await import('../functions/lib/audit/index.ts');
  return auditWriter({
    store,
    signer,
    actor: { kind: 'cli', name: cliActor() },
    onFailure: (error, input) => output.error(`lifeboat: warning: the ${input.type} audit event was not written: ${error.name}: ${error.message}`),
  });
}

/** `user@host`, as the audit trail names a person at the CLI. */
export function cliActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username || user;
  } catch {
    // No passwd entry (a container's arbitrary uid): the host still says where.
  }
  return `${user}@${hostname()}`.slice(0, 256);
}
