/**
 * The daily compliance report: yesterday (UTC) by default, built from the vault alone, written to
 * `reports/<date>.json` and `reports/<date>.html` create-only, and summarized in one paragraph to the alert
 * topic: INFO when nothing lapsed, WARNING otherwise (docs/audit-trail.md, "The compliance report").
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { scrubSecrets } from '../lib/alerts/index.ts';
import type { MacSigner } from '../lib/crypto/mac.ts';
import { buildReport, reportDate, writeReport, type ObjectLockState, type ReportSourceConfig } from '../lib/report/index.ts';
import { parseOrConfigError } from '../lib/validation.ts';
import type { VaultStore } from '../lib/vault/store.ts';

const DAY = 86_400_000;

export const ReportEventSchema = z.object({
  /** EventBridge Scheduler's `<aws.scheduler.scheduled-time>`: the report covers the UTC day before it. */
  scheduledTime: z.iso.datetime({ offset: true }).optional(),
  /** How many days the period covers, ending at the scheduled day's midnight. @default 1 */
  days: z.int().min(1).max(366).default(1),
});

export const ReportSourceSchema = z.object({
  id: z.string().min(1),
  rpoMinutes: z.number().positive(),
  rtoMinutes: z.number().positive(),
  timeZone: z.string().min(1),
  retention: z.object({
    days: z.int().min(1),
    keepLast: z.int().min(1),
    gfs: z.object({ daily: z.int().min(0), weekly: z.int().min(0), monthly: z.int().min(0), yearly: z.int().min(0) }),
  }),
});

export interface ReportDeps {
  readonly store: VaultStore;
  readonly signer: MacSigner;
  /** The verification key (`VerifyMac` only). @default results as stored */
  readonly verificationKey?: Pick<MacSigner, 'verify'>;
  /** The DR evidence key (`VerifyMac` only). @default evidence as stored */
  readonly drEvidenceKey?: Pick<MacSigner, 'verify'>;
  readonly sources: readonly ReportSourceConfig[];
  readonly objectLock: () => Promise<ObjectLockState>;
  readonly sns: Pick<SNSClient, 'send'>;
  readonly alertTopicArn: string;
  readonly now?: () => Date;
}

export interface DailyReportResult {
  readonly date: string;
  readonly ok: boolean;
  readonly lapses: number;
  readonly keys: { readonly json: string; readonly html: string };
}

export async function runDailyReport(event: unknown, deps: ReportDeps): Promise<DailyReportResult> {
  const { scheduledTime, days } = parseOrConfigError(ReportEventSchema, event ?? {}, 'Invalid report event');
  const at = scheduledTime === undefined ? (deps.now?.() ?? new Date()) : new Date(scheduledTime);
  const until = new Date(Math.floor(at.getTime() / DAY) * DAY);
  const since = new Date(until.getTime() - days * DAY);
  const report = await buildReport({ store: deps.store, signer: deps.signer, ...(deps.verificationKey ? { verificationKey: deps.verificationKey } : {}), ...(deps.drEvidenceKey ? { drEvidenceKey: deps.drEvidenceKey } : {}), sources: deps.sources, since, until, objectLock: deps.objectLock, generatedAt: deps.now?.() ?? new Date() });
  const keys = await writeReport(deps.store, report);
  const date = reportDate(report);
  const lapses = report.summary.lapses;
  await deps.sns.send(
    new PublishCommand({
      TopicArn: deps.alertTopicArn,
      Subject: `Lifeboat compliance report ${date}: ${report.summary.ok ? 'all protected' : `${lapses} lapse${lapses === 1 ? '' : 's'}`}`.slice(0, 99),
      Message: scrubSecrets(`${report.summary.text}\n\nReport: ${deps.store.location}/${keys.html}\nData:   ${deps.store.location}/${keys.json}\n`),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: report.summary.ok ? 'INFO' : 'WARNING' },
        sourceId: { DataType: 'String', StringValue: 'all' },
        step: { DataType: 'String', StringValue: 'report' },
      },
    }),
  );
  return { date, ok: report.summary.ok, lapses, keys };
}
