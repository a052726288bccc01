import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';

/** The parts of a database secret Lifeboat reads; RDS-managed secrets hold only username and password. */
const DatabaseSecretSchema = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1).optional(),
  port: z.coerce.number().int().positive().optional(),
});
export type DatabaseSecret = z.infer<typeof DatabaseSecretSchema>;

/**
 * Reads and checks a database secret from Secrets Manager. `label` says whose secret it is in errors
 * (`source orders-db`), which never quote the secret string: it holds the password.
 */
export async function readDatabaseSecret(secrets: Pick<SecretsManagerClient, 'send'>, secretArn: string, label: string): Promise<DatabaseSecret> {
  const value = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
  let json: unknown;
  try {
    json = JSON.parse(value.SecretString ?? '');
  } catch {
    throw new ConfigError(`Secret for ${label} is not JSON with username and password`);
  }
  const secret = DatabaseSecretSchema.safeParse(json);
  if (!secret.success) {
    throw new ConfigError(`Secret for ${label}: ${secret.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return secret.data;
}
