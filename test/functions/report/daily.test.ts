import 'aws-sdk-client-mock-vitest/extend';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { auditWriter } from '../../../functions/lib/audit/writer.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';
import { ReportSchema } from '../../../functions/lib/report/model.ts';
import { LocalStore } from '../../../functions/lib/vault/localStore.ts';
import { runDailyReport, type ReportDeps } from '../../../functions/report/report.ts';
import { storeBackup } from '../retention/vault.ts';

const sns = mockClient(SNSClient);
const signer = localHmacSigner(Buffer.alloc(32, 4));
const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:lifeboat-alerts';
const source = { id: 'orders-db', rpoMinutes: 1440, rtoMinutes: 60, timeZone: 'UTC', retention: { days: 35, keepLast: 7, gfs: { daily: 7, weekly: 4, monthly: 12, yearly: 0 } } };
let store: LocalStore;
let deps: ReportDeps;

beforeEach(async () => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  store = new LocalStore(await mkdtemp(path.join(tmpdir(), 'lifeboat-daily-')));
  deps = {
    store, signer, sources: [source],
    objectLock: async () => ({ state: 'in-force', mode: 'GOVERNANCE', retentionDays: 35, detail: 'default retention' }),
    sns: new SNSClient({ region: 'eu-west-1' }), alertTopicArn: TOPIC, now: () => new Date('2026-11-22T06:30:05.000Z'),
  };
});

/** Backups every six hours through 2026-11-21, each verified and copied (the trail says so). */
async function protectedDay(): Promise<void> {
  let clock = new Date(0);
  const trail = auditWriter({ store, signer, actor: { kind: 'function', name: 'lifeboat-copy' }, clock: () => clock });
  for (const id of ['20261120T180000Z-aaaaaaaa', '20261121T000000Z-bbbbbbbb', '20261121T060000Z-cccccccc', '20261121T120000Z-dddddddd', '20261121T180000Z-eeeeeeee']) {
    await storeBackup(store, 'orders-db', id, ['verified']);
    clock = new Date(Date.parse(`${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:30:00Z`));
    await trail.record({ type: 'copy', outcome: 'succeeded', sourceId: 'orders-db', backupId: id });
  }
}

describe('runDailyReport', () => {
  it('reports the day before the scheduled time, writes both files and sends an INFO summary when nothing lapsed', async () => {
    await protectedDay();
    const result = await runDailyReport({ scheduledTime: '2026-11-22T06:30:00Z' }, deps);
    expect(result).toEqual({ date: '2026-11-21', ok: true, lapses: 0, keys: { json: 'reports/2026-11-21.json', html: 'reports/2026-11-21.html' } });
    const json = ReportSchema.parse(JSON.parse((await store.getObject(result.keys.json)).toString()));
    expect(json.period).toEqual({ since: '2026-11-21T00:00:00.000Z', until: '2026-11-22T00:00:00.000Z' });
    expect(json.sources[0]!.backups).toMatchObject({ taken: 4, verified: 4, copied: 4 });
    expect((await store.getObject(result.keys.html)).toString()).toContain('<svg class="chart age-chart"');
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: TOPIC,
      Subject: 'Lifeboat compliance report 2026-11-21: all protected',
      MessageAttributes: { severity: { DataType: 'String', StringValue: 'INFO' }, sourceId: { DataType: 'String', StringValue: 'all' }, step: { DataType: 'String', StringValue: 'report' } },
    });
    const message = String(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message);
    expect(message).toContain('1 of 1 source met their RPO throughout.');
    expect(message).toContain(`${store.location}/reports/2026-11-21.html`);
  });

  it('sends a WARNING when anything lapsed: a source with no backup breaches the whole day', async () => {
    const result = await runDailyReport({ scheduledTime: '2026-11-22T06:30:00Z' }, deps);
    expect(result).toMatchObject({ ok: false, lapses: 1 });
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      Subject: 'Lifeboat compliance report 2026-11-21: 1 lapse',
      MessageAttributes: expect.objectContaining({ severity: { DataType: 'String', StringValue: 'WARNING' } }),
    });
  });

  it('refuses a bad event, naming the field', async () => {
    await expect(runDailyReport({ scheduledTime: 'yesterday' }, deps)).rejects.toThrow(/scheduledTime/);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 0);
  });
});
