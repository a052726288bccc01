/**
 * Signed DR evidence (functions/lib/plans/evidenceMac.ts): what counts with the DR evidence key, and what is
 * passed over, quietly (unsigned) or as a problem (forged, tampered, replayed under another name).
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../functions/lib/crypto/canonical.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { authenticateDrEvidence, drEvidenceMacMessage, signDrEvidence } from '../../../functions/lib/plans/evidenceMac.ts';
import { evidenceKey } from '../../../functions/lib/vault/layout.ts';

const key = localHmacSigner(Buffer.alloc(32, 7));
const attacker = localHmacSigner(Buffer.alloc(32, 1));
const EXECUTION = 'arn:aws:states:eu-west-1:111122223333:execution:lifeboat-plan-orders-restore:drill-7f3a9c2e';
const KEY = evidenceKey('orders-restore', 'drill-7f3a9c2e');

const evidence = () => ({
  format: 'lifeboat-dr-evidence',
  formatVersion: '1.0',
  plan: 'orders-restore',
  mode: 'drill',
  executionId: EXECUTION,
  startedAt: '2026-11-22T06:00:00.000Z',
  endedAt: '2026-11-22T06:44:10.000Z',
  outcome: 'passed',
  failure: null,
  steps: [{ stepId: 'restore', kind: 'restore-dump', status: 'succeeded', startedAt: null, endedAt: null, result: { optional: undefined } }],
  measured: { rtoMinutes: 41.5, rpoMinutes: 95.2, restoredDataAt: null, validatedAt: null },
  objectives: { rtoMinutes: 60, rpoMinutes: 240 },
  met: { rto: true, rpo: true },
});

/** As a reader gets it: the stored JSON, parsed. */
const stored = (document: unknown) => JSON.parse(JSON.stringify(document)) as Record<string, unknown>;

describe('signing', () => {
  it('makes format 1.1 with the HMAC of the context line and the canonical JSON without mac', async () => {
    const signed = await signDrEvidence(evidence(), key);
    expect(signed.formatVersion).toBe('1.1');
    const { mac, ...unsigned } = signed;
    expect(drEvidenceMacMessage(signed)).toBe(`lifeboat-dr-evidence/1\n${canonicalJson(unsigned)}`);
    expect(mac).toBe(await key.sign(`lifeboat-dr-evidence/1\n${canonicalJson(stored(unsigned))}`));
  });

  it('never keeps a mac it is given', async () => {
    const signed = await signDrEvidence({ ...evidence(), mac: 'A'.repeat(43) }, key);
    expect(signed.mac).not.toBe('A'.repeat(43));
    expect(await authenticateDrEvidence(stored(signed), KEY, key)).toEqual({ authentic: true });
  });
});

describe('reading with the key', () => {
  it('counts evidence the key signed, stored under the name of its signed execution', async () => {
    expect(await authenticateDrEvidence(stored(await signDrEvidence(evidence(), key)), KEY, key)).toEqual({ authentic: true });
  });

  it('passes over unsigned evidence quietly (1.0, or a local run without the key)', async () => {
    expect(await authenticateDrEvidence(stored(evidence()), KEY, key)).toEqual({ authentic: false, unsigned: true });
  });

  it.each([
    ['signed with another key', async () => stored(await signDrEvidence(evidence(), attacker))],
    ['a changed outcome', async () => ({ ...stored(await signDrEvidence({ ...evidence(), outcome: 'failed' }, key)), outcome: 'passed' })],
    ['a changed measurement', async () => {
      const document = stored(await signDrEvidence(evidence(), key));
      (document['measured'] as Record<string, unknown>)['rtoMinutes'] = 12;
      return document;
    }],
    ['a mac that is not a string', async () => ({ ...stored(await signDrEvidence(evidence(), key)), mac: 42 })],
    ['the context line of another kind of evidence', async () => ({ ...stored(evidence()), formatVersion: '1.1', mac: await key.sign(`lifeboat-verification/1\n${canonicalJson({ ...evidence(), formatVersion: '1.1' })}`) })],
  ])('reports and does not count %s', async (_what, make) => {
    expect(await authenticateDrEvidence(await make(), KEY, key)).toEqual({
      authentic: false,
      unsigned: false,
      problem: `${KEY} does not authenticate with the DR evidence key: not counted`,
    });
  });

  it('never hands a mac that is not a string to the key, even one that would accept anything', async () => {
    const acceptsAnything = { verify: async () => true };
    expect(await authenticateDrEvidence({ ...stored(evidence()), mac: 42 }, KEY, acceptsAnything)).toMatchObject({ authentic: false, unsigned: false });
    expect(await authenticateDrEvidence({ ...stored(evidence()), mac: 'A'.repeat(43) }, KEY, acceptsAnything)).toEqual({ authentic: true });
  });

  it('reports signed evidence whose execution is not a string, without failing', async () => {
    const odd = stored(await signDrEvidence({ ...evidence(), executionId: 42 as unknown as string }, key));
    expect(await authenticateDrEvidence(odd, KEY, key)).toEqual({
      authentic: false,
      unsigned: false,
      problem: `${KEY} is signed evidence of another execution, stored under another name: not counted`,
    });
  });

  it('reports genuine evidence replayed under another execution\'s name, or with an execution that names no key', async () => {
    const genuine = stored(await signDrEvidence(evidence(), key));
    expect(await authenticateDrEvidence(genuine, evidenceKey('orders-restore', 'drill-later'), key)).toEqual({
      authentic: false,
      unsigned: false,
      problem: `evidence/orders-restore/drill-later.json is signed evidence of ${KEY}, stored under another name: not counted`,
    });
    const nameless = stored(await signDrEvidence({ ...evidence(), executionId: 'arn:aws:states:eu-west-1:111122223333:execution:x:' }, key));
    expect(await authenticateDrEvidence(nameless, KEY, key)).toMatchObject({ authentic: false, problem: `${KEY} is signed evidence of another execution, stored under another name: not counted` });
  });
});
