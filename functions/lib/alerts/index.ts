/** Alerts: the SNS message every failure and warning becomes, and its publication. */
export {
  MAX_SUBJECT_LENGTH,
  SEVERITIES,
  SIZE_ANOMALY,
  defaultNextSteps,
  formatAlert,
  publishAlert,
  publishInput,
  scrubSecrets,
  type Alert,
  type FormattedAlert,
  type Severity,
} from './alert.ts';
