/** What a configuration backup's manifest lists for each item; the manifest's schema is the vault's (vault/configManifest.ts). */
import type { ConfigItem } from './items.ts';
import type { ConfigItemEntry } from '../vault/configManifest.ts';

export * from '../vault/configManifest.ts';

/** What the manifest lists for an item (no value). */
export function entryFor(item: ConfigItem, sha: string): ConfigItemEntry {
  switch (item.record) {
    case 'ssm-parameter':
      return { type: 'ssm-parameter', name: item.name, parameterType: item.type, version: item.version, sha256: sha };
    case 'secret':
      return { type: 'secret', name: item.name, versions: item.versions.map((v) => ({ versionId: v.versionId, stages: [...v.stages] })), sha256: sha };
    case 'stack':
      return {
        type: 'stack',
        name: item.name,
        parameters: item.parameters.map((p) => p.key),
        noEchoParameters: item.parameters.filter((p) => p.noEcho).map((p) => p.key),
        sha256: sha,
      };
  }
}
