/**
 * What an approver may call themselves: one line of printable text. The name is shown to the next
 * approver, recorded in the execution's history and in the plan's evidence, so it must read as what it is:
 * no control characters, and no invisible format characters (bidi overrides and isolates that reorder what
 * a reader sees, zero-width spaces and joiners that make two names look alike), no unassigned or private-use
 * code points, no line or paragraph separators. The endpoint and `lifeboat approve` apply the same rule.
 */

export const MAX_APPROVER_LENGTH = 100;

/**
 * Cc controls, Cf format characters (U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF, U+061C...),
 * Co private use, Cs lone surrogates, Cn unassigned, Zl/Zp line and paragraph separators.
 */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/u;

/** `name` trimmed and in NFC (one spelling for what looks the same), or why it cannot be an approver's name. */
export function checkApproverName(raw: string): { readonly name: string } | { readonly problem: string } {
  const name = raw.normalize('NFC').trim();
  if (name === '') return { problem: 'Your name is required.' };
  if ([...name].length > MAX_APPROVER_LENGTH) return { problem: `Your name must be at most ${MAX_APPROVER_LENGTH} characters.` };
  const bad = NOT_PRINTABLE.exec(name)?.[0];
  if (bad !== undefined) {
    const codePoint = `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return /[\p{Cc}\p{Zl}\p{Zp}]/u.test(bad)
      ? { problem: 'Your name must be one line of text.' }
      : { problem: `Your name must be printable text, without invisible or direction-changing characters (it holds ${codePoint}).` };
  }
  return { name };
}
