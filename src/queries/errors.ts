// What a failed write means, so callers outside src/queries need not know the client's error codes.

/** The write broke a unique constraint (the row exists already, possibly written by a concurrent request). */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'P2002'
}

/** The columns a unique-constraint violation names (empty when it names none), or undefined for any other error. */
export function uniqueViolationFields(err: unknown): string[] | undefined {
  if (!isUniqueViolation(err)) return undefined
  const target = (err as { meta?: { target?: unknown } }).meta?.target
  return Array.isArray(target) ? target.map(String) : typeof target === 'string' ? [target] : []
}
