/**
 * Signed DR evidence (docs/dr-plans.md, "Evidence"): format 1.1 adds `mac`, the HMAC-SHA256 (base64url) of
 * `lifeboat-dr-evidence/1\n` followed by the document's canonical JSON without `mac`, by the **DR evidence key**.
 * Only what produces evidence may sign with it: the DR step function (`record-evidence`) and `lifeboat drill
 * --local` given the key. Readers (freshness, the compliance report, the CLI) only check.
 *
 * A key of its own, not the evidence key of the audit trail: every function that acts signs its own audit
 * events with that one, the dump functions included, so with it a compromised dump function could sign a drill
 * that never ran. The context line keeps a MAC of evidence from ever passing for a MAC of anything else.
 *
 * A reader with the key counts only evidence that authenticates and is stored under the name its signed
 * execution gives (`evidence/<plan>/<execution name>.json`). Unsigned evidence (1.0, or written without the
 * key) is passed over quietly: it is what a deployment wrote before signing, or a local run. Evidence that is
 * signed but does not authenticate, or sits under another name, is passed over and reported.
 */
import { canonicalJson } from '../crypto/canonical.ts';
import type { MacSigner } from '../crypto/mac.ts';
import { evidenceKey } from '../vault/layout.ts';

export const DR_EVIDENCE_MAC_CONTEXT = 'lifeboat-dr-evidence/1\n';
/** The evidence format version of a signed document. */
export const SIGNED_EVIDENCE_FORMAT_VERSION = '1.1';

/** What the MAC of `document` is computed over: its canonical JSON without `mac`, after the context line. */
export function drEvidenceMacMessage(document: Readonly<Record<string, unknown>>): string {
  const { mac: _mac, ...unsigned } = document;
  return `${DR_EVIDENCE_MAC_CONTEXT}${canonicalJson(unsigned)}`;
}

/** `evidence` as format 1.1 with its `mac`; any `mac` given is replaced, never trusted. */
export async function signDrEvidence<T extends { readonly formatVersion: string }>(
  evidence: T,
  signer: Pick<MacSigner, 'sign'>,
): Promise<Omit<T, 'formatVersion' | 'mac'> & { formatVersion: typeof SIGNED_EVIDENCE_FORMAT_VERSION; mac: string }> {
  // JSON round trip: what is signed is exactly what a reader parses.
  const { mac: _mac, ...rest } = JSON.parse(JSON.stringify(evidence)) as Omit<T, 'formatVersion' | 'mac'> & { mac?: unknown };
  const unsigned = { ...rest, formatVersion: SIGNED_EVIDENCE_FORMAT_VERSION } as Omit<T, 'formatVersion' | 'mac'> & { formatVersion: typeof SIGNED_EVIDENCE_FORMAT_VERSION };
  return { ...unsigned, mac: await signer.sign(drEvidenceMacMessage(unsigned)) };
}

export type EvidenceAuthenticity =
  | { readonly authentic: true }
  /** Unsigned: not counted, not a problem (1.0, or written without the key). */
  | { readonly authentic: false; readonly unsigned: true }
  | { readonly authentic: false; readonly unsigned: false; readonly problem: string };

/** Whether the evidence document stored at `key` counts, with the DR evidence key `authenticator`. */
export async function authenticateDrEvidence(
  document: Readonly<Record<string, unknown>>,
  key: string,
  authenticator: Pick<MacSigner, 'verify'>,
): Promise<EvidenceAuthenticity> {
  const mac = document['mac'];
  if (mac === undefined) return { authentic: false, unsigned: true };
  if (typeof mac !== 'string' || !(await authenticator.verify(drEvidenceMacMessage(document), mac))) {
    return { authentic: false, unsigned: false, problem: `${key} does not authenticate with the DR evidence key: not counted` };
  }
  const plan = document['plan'];
  const executionId = document['executionId'];
  const expected =
    typeof plan === 'string' && typeof executionId === 'string' ? safeEvidenceKey(plan, executionId.slice(executionId.lastIndexOf(':') + 1)) : undefined;
  if (expected !== key) {
    return {
      authentic: false,
      unsigned: false,
      problem: `${key} is signed evidence of ${expected ?? 'another execution'}, stored under another name: not counted`,
    };
  }
  return { authentic: true };
}

function safeEvidenceKey(plan: string, executionName: string): string | undefined {
  try {
    return evidenceKey(plan, executionName);
  } catch {
    return undefined;
  }
}
