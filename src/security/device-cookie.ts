// Device cookies (OWASP "Slow down online guessing attacks with device cookies"; ASVS V2.2.1).
// A browser that proves an account's password gets a long-lived, signed, HttpOnly cookie naming
// that account and a random id for the browser. At its next sign-in to that account it is a known
// device: its failures count under `device:<id>` only, and neither the account-wide lock nor the
// per-account rate limit a stranger can run up applies to it, so no one can lock the owner's own
// browser out (docs/adr/0150-sign-in-failures-per-address.md, "Known devices").
//
// Reading the cookie is a signature check (the cookie keys, as every signed cookie of ours) and
// nothing else: no database work depends on it, so it tells nothing about which accounts exist.
// An entry counts only if it was issued after the account's password last changed (a reset
// forgets every device) and within DEVICE_COOKIE_DAYS.
import { randomBytes } from 'node:crypto'
import type { Context } from 'koa'
import { secureCookieName } from './cookie-names.ts'

const COOKIE = 'iam.device'
/** Only the sign-in form reads it (a narrower path than /, hence `__Secure-` behind https). */
const PATH = '/interaction'
/** Accounts one browser is known for (people sharing a computer); the oldest drops out first. */
const MAX_ACCOUNTS = 5
export const DEFAULT_DEVICE_COOKIE_DAYS = 180

/** A valid device cookie: the browser's id and the accounts it proved, with when (ms). */
export interface KnownDevice { id: string; accounts: Array<{ userId: string; at: number }> }

const ID = /^[A-Za-z0-9_-]{22}$/

/** The request's device cookie when its signature holds and its shape is ours; else undefined. */
export function readDeviceCookie(ctx: Context, now: number, days = DEFAULT_DEVICE_COOKIE_DAYS): KnownDevice | undefined {
  if (days <= 0) return undefined
  const raw = ctx.cookies.get(secureCookieName(COOKIE, ctx.secure), { signed: true })
  if (!raw) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  const value = parsed as { d?: unknown; a?: unknown }
  if (typeof value?.d !== 'string' || !ID.test(value.d) || !Array.isArray(value.a)) return undefined
  const oldest = now - days * 86_400_000
  const accounts = value.a
    .filter((e): e is [string, number] => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number')
    .filter(([, at]) => at > oldest)
    .slice(0, MAX_ACCOUNTS)
    .map(([userId, at]) => ({ userId, at }))
  return { id: value.d, accounts }
}

/**
 * What a known device's failures count under for `userId`: `device:<id>` when the cookie names
 * the account and was issued after its password last changed; else undefined (an unknown device).
 */
export function deviceSource(device: KnownDevice | undefined, userId: string | undefined, passwordChangedAt: Date | null | undefined): string | undefined {
  if (!device || !userId) return undefined
  const entry = device.accounts.find((a) => a.userId === userId)
  if (!entry || (passwordChangedAt && entry.at < passwordChangedAt.getTime())) return undefined
  return `device:${device.id}`
}

/** After a right password: the browser is known for `userId` (its id kept, the entry renewed). */
export function writeDeviceCookie(ctx: Context, device: KnownDevice | undefined, userId: string, now: number, days = DEFAULT_DEVICE_COOKIE_DAYS): void {
  if (days <= 0) return
  const id = device?.id ?? randomBytes(16).toString('base64url')
  const accounts = [[userId, now], ...(device?.accounts ?? []).filter((a) => a.userId !== userId).map((a) => [a.userId, a.at])].slice(0, MAX_ACCOUNTS)
  const value = Buffer.from(JSON.stringify({ d: id, a: accounts })).toString('base64url')
  ctx.cookies.set(secureCookieName(COOKIE, ctx.secure), value, {
    signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: PATH, maxAge: days * 86_400_000, overwrite: true,
  })
}
