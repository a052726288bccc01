/** The snapshot check of freshness against RDS: a snapshot backup counts only while RDS still has it, `available`. */
import { describeSnapshot, parseSnapshotArn, type RdsSender } from '../aws/rdsSnapshot.ts';
import type { SnapshotCheck } from './freshness.ts';

/** Describes the snapshot a manifest records in its own region's RDS (the primary's, or the DR region's for a copy). */
export function rdsSnapshotCheck(rds: { readonly primary: RdsSender; readonly dr: RdsSender }): SnapshotCheck {
  return async (snapshot, where) => {
    const { type } = parseSnapshotArn(snapshot.arn);
    const described = await describeSnapshot(rds[where], type, snapshot.identifier);
    return described?.status === 'available' ? 'available' : 'unavailable';
  };
}
