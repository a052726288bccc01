import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GenerateMacCommand, KMSClient } from '@aws-sdk/client-kms';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_KEY_PATTERN, auditKey, canonicalAuditMessage } from '../../../functions/lib/audit/event.ts';
import { readAuditTrail } from '../../../functions/lib/audit/reader.ts';
import { alertOnAuditFailure, auditWriter } from '../../../functions/lib/audit/writer.ts';
import { kmsHmacSigner, localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { S3Store } from '../../../functions/lib/vault/s3Store.ts';

const signer = localHmacSigner(Buffer.alloc(32, 5));
const NOW = new Date('2026-11-22T05:41:02.907Z');
let store: LocalStore;

beforeEach(async () => {
  store = new LocalStore(await mkdtemp(path.join(tmpdir(), 'lifeboat-trail-')));
});

describe('auditWriter', () => {
  it('writes one authenticated event under audit/<yyyy>/<mm>/<dd>/<time>-<type>-<id>.json', async () => {
    const writer = auditWriter({ store, signer, actor: { kind: 'cli', name: 'ops@host' }, clock: () => NOW });
    const result = await writer.record({ type: 'restore-finished', outcome: 'succeeded', sourceId: 'orders-db', backupId: '20261122T053327Z-k3x7q2ab', details: { into: 'db.internal:5432/orders_copy' } });
    if (!result.written) throw result.error;
    expect(result.key).toMatch(/^audit\/2026\/11\/22\/20261122T054102\.907Z-restore-finished-[a-z2-7]{12}\.json$/);
    expect(AUDIT_KEY_PATTERN.test(result.key)).toBe(true);
    expect(result.event).toMatchObject({ format: 'lifeboat-audit', formatVersion: '1.0', time: NOW.toISOString(), actor: { kind: 'cli', name: 'ops@host' } });
    expect(await signer.verify(canonicalAuditMessage(result.event), result.event.mac)).toBe(true);
    expect(JSON.parse((await store.getObject(result.key)).toString())).toEqual(result.event);
  });

  it('is create-only in a directory vault: an existing key is never overwritten', async () => {
    await store.createObject('audit/x.json', 'first');
    await expect(store.createObject('audit/x.json', 'second')).rejects.toMatchObject({ name: 'ObjectExistsError' });
    expect((await store.getObject('audit/x.json')).toString()).toBe('first');
    // Nothing left behind by the refused write.
    expect(await readdir(path.join(store.location, 'audit'))).toEqual(['x.json']);
  });

  it('is create-only in S3: PutObject with If-None-Match: *, and a 412 is ObjectExistsError', async () => {
    const s3 = mockClient(S3Client);
    const kms = mockClient(KMSClient);
    kms.on(GenerateMacCommand).resolves({ Mac: new Uint8Array(32).fill(1) });
    s3.on(PutObjectCommand).resolves({});
    const writer = auditWriter({ store: new S3Store({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'vault' }), signer: kmsHmacSigner(new KMSClient({ region: 'eu-west-1' }), 'arn:aws:kms:eu-west-1:111122223333:key/evidence'), actor: { kind: 'function', name: 'lifeboat-dump' }, clock: () => NOW });
    const result = await writer.record({ type: 'backup', outcome: 'failed', sourceId: 'orders-db', details: { reason: 'x' } });
    if (!result.written) throw result.error;
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: 'vault', Key: result.key, IfNoneMatch: '*', ContentType: 'application/json' });
    expect(kms).toHaveReceivedCommandWith(GenerateMacCommand, { KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/evidence', MacAlgorithm: 'HMAC_SHA_256' });

    s3.on(PutObjectCommand).rejects(Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), { name: 'PreconditionFailed' }));
    await expect(new S3Store({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'vault' }).createObject('audit/y.json', '{}')).rejects.toMatchObject({ name: 'ObjectExistsError' });
    s3.restore();
    kms.restore();
  });

  it('reports an invalid event or a failed write to onFailure and resolves', async () => {
    const failures: string[] = [];
    const writer = auditWriter({ store, signer, actor: { kind: 'function', name: 'x' }, onFailure: (error) => { failures.push(error.message); } });
    const result = await writer.record({ type: 'backup', outcome: 'succeeded', sourceId: 'Not A Source' });
    expect(result.written).toBe(false);
    expect(failures).toEqual([expect.stringMatching(/^Invalid audit event: sourceId: must be a source id/)]);
  });

  it('alerts at WARNING naming the missing event, never its details', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const logged: unknown[] = [];
    const onFailure = alertOnAuditFailure({ sns: new SNSClient({ region: 'eu-west-1' }), topicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts', step: 'dump', log: (m, f) => logged.push([m, f]) });
    await onFailure(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }), { type: 'backup', outcome: 'succeeded', sourceId: 'orders-db', backupId: '20261122T053327Z-k3x7q2ab', details: { secretish: 'nope' } });
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: 'arn:aws:sns:eu-west-1:111122223333:alerts',
      MessageAttributes: expect.objectContaining({ severity: { DataType: 'String', StringValue: 'WARNING' } }),
    });
    const message = String(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message);
    expect(message).toContain('The backup audit event (succeeded) could not be written');
    expect(message).not.toContain('nope');
    expect(logged).toHaveLength(1);
    sns.restore();
  });
});

describe('readAuditTrail', () => {
  it('authenticates each event and names what is wrong with the others', async () => {
    let now = NOW;
    const writer = auditWriter({ store, signer, actor: { kind: 'function', name: 'x' }, clock: () => now });
    const a = await writer.record({ type: 'backup', outcome: 'succeeded', sourceId: 'orders-db' });
    now = new Date(NOW.getTime() + 86_400_000);
    const b = await writer.record({ type: 'approval-decided', outcome: 'succeeded', plan: 'orders-restore', details: { approver: 'ana@example.com', link: 'approve/7f3a' } });
    if (!a.written || !b.written) throw new Error('not written');
    // Altered, moved, and not an event at all.
    await store.putObject(auditKey({ ...a.event, eventId: 'zzzzzzzzzzzz' }), JSON.stringify({ ...a.event, eventId: 'zzzzzzzzzzzz' }));
    await store.putObject('audit/2026/11/22/notes.txt', 'hello');
    const entries = await readAuditTrail(store, signer);
    expect(entries.map((e) => [e.authentic, e.authentic ? '' : e.problem])).toEqual([
      [false, 'not an audit event key (audit/<yyyy>/<mm>/<dd>/<time>-<type>-<id>.json)'],
      [true, ''],
      [false, 'its MAC does not verify with the evidence key (forged or altered)'],
      [true, ''],
    ]);
    // A stray object has no time: it is shown whatever the period, never dropped silently.
    expect((await readAuditTrail(store, signer, { since: now })).map((e) => e.key)).toEqual(['audit/2026/11/22/notes.txt', b.key]);
    expect((await readAuditTrail(store, signer, { sourceId: 'orders-db' })).filter((e) => e.authentic).map((e) => e.key)).toEqual([a.key]);
  });
});
