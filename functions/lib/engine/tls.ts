/**
 * TLS to the databases Lifeboat reaches in AWS (sources, verification servers, DR restore targets): by default
 * `verify-full`, the server certificate checked against the RDS certificate authorities and its name against
 * the host, so a machine in the path cannot pose as the database and read a dump or a password. The tools
 * image ships the RDS CA bundle (functions/dump/Dockerfile) and names it in LIFEBOAT_RDS_CA_BUNDLE.
 * `require` (encrypted, not checked) and `disable` are explicit choices; `disable` is for local servers only.
 */
import { ConfigError } from '../errors.ts';
import type { ConnectionInfo, Engine } from './connection.ts';

export const DATABASE_TLS_MODES = ['verify-full', 'require', 'disable'] as const;
export type DatabaseTls = (typeof DATABASE_TLS_MODES)[number];

/** The variable the tools image sets to its RDS CA bundle. */
export const RDS_CA_BUNDLE_ENV = 'LIFEBOAT_RDS_CA_BUNDLE';

/** The default: the certificate checked, always, unless a caller says otherwise. */
export const DEFAULT_DATABASE_TLS: DatabaseTls = 'verify-full';

/**
 * The `sslMode` (PostgreSQL's names for PostgreSQL, MySQL's for MySQL) and CA file of a connection made with
 * `tls`. `verify-full` needs `caBundle`, the RDS CA bundle's path: without it, a ConfigError naming the variable.
 */
export function databaseTlsSettings(engine: Engine, tls: DatabaseTls, caBundle: string | undefined): Pick<ConnectionInfo, 'sslMode' | 'sslRootCert'> {
  if (tls === 'verify-full') {
    if (caBundle === undefined || caBundle === '') {
      throw new ConfigError(`TLS verify-full needs the RDS CA bundle: set ${RDS_CA_BUNDLE_ENV} to its path (the tools image does), or choose tls "require" or "disable" explicitly`);
    }
    return { sslMode: engine === 'postgresql' ? 'verify-full' : 'VERIFY_IDENTITY', sslRootCert: caBundle };
  }
  if (tls === 'require') return { sslMode: engine === 'postgresql' ? 'require' : 'REQUIRED' };
  return { sslMode: engine === 'postgresql' ? 'disable' : 'DISABLED' };
}

/** A `LIFEBOAT_DATABASE_TLS`-style value, checked: unset is {@link DEFAULT_DATABASE_TLS}. */
export function parseDatabaseTls(value: string | undefined, variable: string): DatabaseTls {
  if (value === undefined || value === '') return DEFAULT_DATABASE_TLS;
  if (!(DATABASE_TLS_MODES as readonly string[]).includes(value)) {
    throw new ConfigError(`${variable} must be one of ${DATABASE_TLS_MODES.map((m) => `"${m}"`).join(', ')}, got "${value}"`);
  }
  return value as DatabaseTls;
}

/** `{ caBundle }` from {@link RDS_CA_BUNDLE_ENV} when it is set (the tools image sets it), else nothing. */
export function rdsCaBundleFrom(env: Readonly<Record<string, string | undefined>>): { caBundle?: string } {
  const path = env[RDS_CA_BUNDLE_ENV];
  return path ? { caBundle: path } : {};
}
