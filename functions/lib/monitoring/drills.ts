/**
 * When each DR plan last passed, read from its evidence in the vault (`evidence/<plan>/<execution>.json`,
 * written by the DR step function and `lifeboat drill --local`; format in docs/dr-plans.md, "Evidence").
 * A drill and a real run that passed both prove the plan works; a failed one proves nothing.
 */
import { z } from 'zod';
import type { MacSigner } from '../crypto/mac.ts';
import { authenticateDrEvidence } from '../plans/evidenceMac.ts';
import { EVIDENCE_PREFIX } from '../vault/layout.ts';
import type { VaultStore } from '../vault/store.ts';

const MS_PER_DAY = 86_400_000;
/** Evidence files are small JSON documents; anything larger was not written by a plan run. */
const MAX_EVIDENCE_BYTES = 4 * 1024 * 1024;

/** What freshness reads of an evidence document (format `lifeboat-dr-evidence` 1.x); other fields are ignored. */
const EvidenceSchema = z.looseObject({
  format: z.literal('lifeboat-dr-evidence'),
  formatVersion: z.string().regex(/^1\.\d+$/),
  plan: z.string().min(1),
  mode: z.enum(['real', 'drill']),
  endedAt: z.iso.datetime(),
  outcome: z.enum(['passed', 'failed']),
  measured: z.looseObject({ rtoMinutes: z.number().nullable(), rpoMinutes: z.number().nullable() }),
});

export interface PlanDrill {
  readonly plan: string;
  /** The newest passed run (drill or real), if any. */
  readonly lastPassed?: { readonly endedAt: string; readonly mode: 'real' | 'drill'; readonly rtoMinutes: number | null; readonly rpoMinutes: number | null; readonly key: string };
  /** Whole days since it ended; `null` when the plan never passed. */
  readonly daysSinceLastPassed: number | null;
  /** Evidence that could not be read: said, never silently skipped. */
  readonly problems: readonly string[];
}

export interface PlanDrillOptions {
  /**
   * The DR evidence key (`VerifyMac` only): only evidence that authenticates counts; unsigned evidence is passed over,
   * and evidence that fails to authenticate is a problem. @default evidence as stored (a local vault without the key)
   */
  readonly authenticator?: Pick<MacSigner, 'verify'>;
}

/** The newest passed run of each plan, in the order given. */
export async function planDrills(store: VaultStore, plans: readonly string[], now: Date, options: PlanDrillOptions = {}): Promise<PlanDrill[]> {
  const results: PlanDrill[] = [];
  for (const plan of plans) {
    const problems: string[] = [];
    let lastPassed: PlanDrill['lastPassed'];
    for await (const key of store.list(`${EVIDENCE_PREFIX}${plan}/`)) {
      if (!key.endsWith('.json')) continue;
      const evidence = await readEvidence(store, key, problems, options.authenticator);
      if (!evidence || evidence.outcome !== 'passed' || evidence.plan !== plan) continue;
      if (lastPassed === undefined || evidence.endedAt > lastPassed.endedAt) {
        lastPassed = { endedAt: evidence.endedAt, mode: evidence.mode, rtoMinutes: evidence.measured.rtoMinutes, rpoMinutes: evidence.measured.rpoMinutes, key };
      }
    }
    results.push({
      plan,
      ...(lastPassed ? { lastPassed } : {}),
      daysSinceLastPassed: lastPassed ? Math.max(0, Math.floor((now.getTime() - Date.parse(lastPassed.endedAt)) / MS_PER_DAY)) : null,
      problems,
    });
  }
  return results;
}

async function readEvidence(
  store: VaultStore,
  key: string,
  problems: string[],
  authenticator: Pick<MacSigner, 'verify'> | undefined,
): Promise<z.output<typeof EvidenceSchema> | undefined> {
  const size = await store.head(key);
  if (size === undefined) return undefined;
  if (size.bytes > MAX_EVIDENCE_BYTES) {
    problems.push(`${key} is larger than ${MAX_EVIDENCE_BYTES} bytes: not evidence a plan run wrote`);
    return undefined;
  }
  let document: unknown;
  try {
    document = JSON.parse((await store.getObject(key)).toString('utf8'));
  } catch {
    problems.push(`${key} is not valid JSON`);
    return undefined;
  }
  const parsed = EvidenceSchema.safeParse(document);
  if (!parsed.success) {
    problems.push(`${key} is not DR evidence this Lifeboat reads: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    return undefined;
  }
  if (authenticator) {
    const authenticity = await authenticateDrEvidence(parsed.data, key, authenticator);
    if (!authenticity.authentic) {
      if (!authenticity.unsigned) problems.push(authenticity.problem);
      return undefined;
    }
  }
  return parsed.data;
}
