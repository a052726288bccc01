/** The audit trail (docs/audit-trail.md): one authenticated, append-only event per state change. */
export * from './event.ts';
export { alertOnAuditFailure, auditWriter, type AuditRecordResult, type AuditTrail, type AuditWriterOptions } from './writer.ts';
export { audited, failureDetails, idsOf, type AuditDescription } from './audited.ts';
export { readAuditEntry, readAuditTrail, type AuditEntry, type ReadAuditOptions } from './reader.ts';
