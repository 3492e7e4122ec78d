// The one error class of pmtu-watch: a stable code, a message, and a hint
// saying what to do. The addon's errors carry the same code and hint.

export type PmtuErrorCode =
  | 'PMTU_ERR_PERM'
  | 'PMTU_ERR_NO_BTF'
  | 'PMTU_ERR_BPF_LOAD'
  | 'PMTU_ERR_ATTACH'
  | 'PMTU_ERR_NETNS'
  | 'PMTU_ERR_NO_DEVICE'
  | 'PMTU_ERR_STATE'
  | 'PMTU_ERR_INVALID'
  | 'PMTU_ERR_USAGE'
  | 'PMTU_ERR_NO_ADDON'
  | 'PMTU_ERR_LAB'
  | 'PMTU_ERR_CAPTURE';

export class PmtuError extends Error {
  override name = 'PmtuError';

  constructor(
    readonly code: PmtuErrorCode,
    message: string,
    readonly hint = '',
  ) {
    super(message);
  }
}

/** Wraps an error thrown by the addon (it carries code and hint) or anything else. */
export function fromNative(e: unknown): PmtuError {
  if (e instanceof PmtuError) return e;
  if (e instanceof Error) {
    const { code, hint } = e as Error & { code?: unknown; hint?: unknown };
    if (typeof code === 'string' && code.startsWith('PMTU_ERR_')) {
      return new PmtuError(code as PmtuErrorCode, e.message, typeof hint === 'string' ? hint : '');
    }
    return new PmtuError('PMTU_ERR_INVALID', e.message);
  }
  return new PmtuError('PMTU_ERR_INVALID', String(e));
}

/** The one line the CLI prints for an error. */
export function oneLine(e: unknown): string {
  const err = fromNative(e);
  const text = `pmtu-watch: ${err.message}${err.hint ? ` (${err.hint})` : ''}`;
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
