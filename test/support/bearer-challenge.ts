// Reading a resource server's `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3, RFC 9728 §5.1).
import { expect } from 'vitest'

/** The parameters of a `Bearer` challenge (quoted strings unescaped, tokens as they are). */
export function challengeParams(header: string | null): Record<string, string> {
  expect(header).toMatch(/^Bearer( |$)/)
  const params: Record<string, string> = {}
  for (const m of header!.slice('Bearer'.length).matchAll(/\s*([a-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?/g)) {
    params[m[1]!] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!
  }
  return params
}
