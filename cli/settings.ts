/**
 * The vault and key configured once: a flag typed on the command line wins over the environment
 * (`LIFEBOAT_VAULT`, `LIFEBOAT_KEY_FILE`, `LIFEBOAT_KMS_KEY`, `LIFEBOAT_STATE_MACHINE`,
 * `LIFEBOAT_DEPLOYMENT`), which wins over the deployment's config file (`--config` / `LIFEBOAT_CONFIG`,
 * parsed by infra/config/load.ts exactly as `cdk synth` parses it). {@link applySettings} fills the flags
 * a command declares before it runs, so every command, whoever wrote it, gets the same precedence.
 */
import { isDatabaseSource, type LifeboatConfig, type SourceConfig } from '../infra/config/index.ts';
import { type FlagSpecs, type FlagValues, FLAG_ENV, type ParsedCommandLine, stringFlag } from './args.ts';
import { UsageError } from './errors.ts';

type CliEnv = Readonly<Record<string, string | undefined>>;

/** The one place a command asks for what the config file says; the file is read on first use only. */
export class Settings {
  readonly #env: CliEnv;
  readonly #configFlag: string | undefined;
  #loaded: Promise<LifeboatConfig | undefined> | undefined;

  constructor(env: CliEnv, configFlag?: string) {
    this.#env = env;
    this.#configFlag = configFlag;
  }

  /** `--config`, else `$LIFEBOAT_CONFIG`, else none. */
  get configPath(): string | undefined {
    return this.#configFlag ?? (this.#env['LIFEBOAT_CONFIG'] || undefined);
  }

  /** Where a value from the config came from, for messages: `config lifeboat.json`. */
  get configOrigin(): string {
    return `config ${this.configPath ?? ''}`.trim();
  }

  /** The parsed config, or `undefined` when none is configured. A bad file is a `ConfigError` (exit 2). */
  config(): Promise<LifeboatConfig | undefined> {
    this.#loaded ??= (async () => {
      const path = this.configPath;
      if (path === undefined) return undefined;
      const { loadConfig } = await import('../infra/config/load.ts');
      return loadConfig(path);
    })();
    return this.#loaded;
  }

  /** The config's source with this id, if a config is given and has it. */
  async source(sourceId: string): Promise<SourceConfig | undefined> {
    return (await this.config())?.sources.find((source) => source.id === sourceId);
  }

  /**
   * The id the config gives the source that dumps `database` with this engine: so `backup` files a
   * local run of a deployed source where the deployment files it. `undefined` when none or several match.
   */
  async sourceIdForDatabase(engine: 'postgresql' | 'mysql', database: string): Promise<string | undefined> {
    const matches = ((await this.config())?.sources ?? []).filter(
      (source) => isDatabaseSource(source) && source.database === database && engineOfSource(source) === engine && source.backup.method !== 'snapshot',
    );
    return matches.length === 1 ? matches[0]!.id : undefined;
  }
}

export function engineOfSource(source: SourceConfig): 'postgresql' | 'mysql' {
  return source.kind.endsWith('postgres') ? 'postgresql' : 'mysql';
}

/** The deployed primary vault of a config: `s3://<name>-<account>-<primary region>` (infra/constructs/vault.ts). */
export function deployedVault(config: LifeboatConfig): string | undefined {
  return config.account === undefined ? undefined : `s3://${config.name}-${config.account}-${config.regions.primary}`;
}

/** The deployed backup state machine of a config (infra/constructs/backup-pipeline.ts). */
export function deployedBackupStateMachine(config: LifeboatConfig): string {
  return `${config.name}-backup`;
}

export interface AppliedSettings {
  readonly commandLine: ParsedCommandLine;
  /** The environment the command sees: with `AWS_REGION` set to the config's primary Region when the vault came from it. */
  readonly env: CliEnv;
}

/**
 * Fills the flags `command` declares and the user did not type, from the environment and then the config,
 * and records where each came from in `origins`. Only flags the command declares are filled.
 */
export async function applySettings(
  command: { readonly name: string; readonly flags: FlagSpecs },
  commandLine: ParsedCommandLine, env: CliEnv, settings: Settings): Promise<AppliedSettings> {
  const declared = (name: string) => name in command.flags;
  const typed = commandLine.flags;
  const flags: FlagValues = { ...typed };
  const origins: Record<string, string> = { ...commandLine.origins };
  let commandEnv = env;
  const fill = (name: string, value: string | undefined, origin: string): boolean => {
    if (value === undefined || value === '') return false;
    flags[name] = value;
    origins[name] = origin;
    return true;
  };
  const fromEnv = (name: string, variable = FLAG_ENV[name]!): boolean => fill(name, env[variable] || undefined, variable);

  // A deployed drill takes no vault; a local drill's is a directory, never the config's deployed bucket.
  const drill = command.name === 'drill';
  const localDrill = drill && typed['local'] === true;
  if (drill && !localDrill) {
    // Nothing to fill: the vault and key are a local drill's only.
  } else if (localDrill) {
    if (typed['vault'] === undefined) fromEnv('vault');
    if (typed['key-file'] === undefined) fromEnv('key-file');
  } else if (declared('vault') && typed['vault'] === undefined && !fromEnv('vault')) {
    const config = await settings.config();
    const vault = config === undefined ? undefined : deployedVault(config);
    if (config !== undefined && fill('vault', vault, settings.configOrigin) && !env['AWS_REGION'] && !env['AWS_DEFAULT_REGION']) {
      // The deployed bucket lives in the primary Region; the S3 client needs it when nothing else says.
      commandEnv = { ...env, AWS_REGION: config.regions.primary };
    }
  }

  if (declared('key-file') && declared('kms-key') && typed['key-file'] === undefined && typed['kms-key'] === undefined) {
    if (env['LIFEBOAT_KEY_FILE'] && env['LIFEBOAT_KMS_KEY']) {
      throw new UsageError('LIFEBOAT_KEY_FILE and LIFEBOAT_KMS_KEY are both set: unset one, or give --key-file or --kms-key');
    }
    fromEnv('key-file') || fromEnv('kms-key');
  }

  if (command.name === 'run') {
    if (typed['state-machine'] === undefined && !fromEnv('state-machine', 'LIFEBOAT_STATE_MACHINE')) {
      const config = await settings.config();
      if (config) fill('state-machine', deployedBackupStateMachine(config), settings.configOrigin);
    }
    await fillRegion(flags, typed, env, settings, fill);
  }
  if (command.name === 'drill' && typed['local'] !== true) {
    if (typed['deployment'] === undefined && typed['state-machine'] === undefined && !env['LIFEBOAT_DEPLOYMENT']) {
      const config = await settings.config();
      if (config) fill('deployment', config.name, settings.configOrigin);
    }
    await fillRegion(flags, typed, env, settings, fill);
  }
  return { commandLine: { ...commandLine, flags, origins }, env: commandEnv };
}

/** `--region` from the config's primary Region, unless typed, given by an ARN, or set in the environment. */
async function fillRegion(
  flags: FlagValues,
  typed: FlagValues,
  env: CliEnv,
  settings: Settings,
  fill: (name: string, value: string | undefined, origin: string) => boolean,
): Promise<void> {
  if (typed['region'] !== undefined || env['AWS_REGION'] || env['AWS_DEFAULT_REGION']) return;
  if (/^arn:/.test(stringFlag(flags, 'state-machine') ?? '')) return;
  const config = await settings.config();
  if (config) fill('region', config.regions.primary, settings.configOrigin);
}

/** ` (from LIFEBOAT_VAULT)` when the flag was not typed, for messages about its value. */
export function originNote(commandLine: Pick<ParsedCommandLine, 'origins'>, flag: string): string {
  const origin = commandLine.origins?.[flag];
  return origin === undefined ? '' : ` (from ${origin})`;
}
