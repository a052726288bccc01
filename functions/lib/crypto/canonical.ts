/**
 * Canonical JSON: what a MAC or a digest is computed over, so that the same document always gives the same
 * bytes however it was spelled when stored. Keys sorted by code unit, no whitespace, `undefined` members
 * dropped (as `JSON.stringify` drops them) and `undefined` array items written as `null`.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}
