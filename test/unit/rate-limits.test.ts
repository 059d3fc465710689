// The in-process rate limits (what runs without Redis): which dimension refuses, in which order,
// what a success and a refund give back, and that a limit reached is audited once per window.
import { describe, expect, it } from 'vitest'
import { accountKey, createRateLimits, describeWait, tooManyAttemptsMessage } from '../../src/security/rate-limits.ts'
import type { AuditEventInput, AuditWriter } from '../../src/audit/audit.ts'
import { createLogger } from '../../src/observability/logger.ts'

const rate = (points: number) => ({ points, duration: 600 })
const settings = {
  signIn: { ip: rate(3), account: rate(2) },
  codeVerify: { ip: rate(100), account: rate(2) },
  codeSend: { ip: rate(100), account: rate(100) },
  registration: { ip: rate(100), account: rate(100) },
  resetRequest: { ip: rate(100), account: rate(100) },
  token: { client: rate(2) },
  clientAuthFailure: { client: rate(2) },
  devicePoll: { client: rate(100) },
}

function limitsWithAudit() {
  const events: AuditEventInput[] = []
  const audit: AuditWriter = { record: async (_ctx, event) => { events.push(event) } }
  return { events, limits: createRateLimits(settings, { logger: createLogger('silent'), audit }) }
}

describe('rate limits in the process', () => {
  it('peeks without counting: a limit that counts only failures refuses once they are used up', async () => {
    const { limits } = limitsWithAudit()
    const keys = { client: 'legacy 10.0.0.1' }
    for (let i = 0; i < 5; i++) expect(await limits.peek('clientAuthFailure', keys)).toEqual({ ok: true })
    await limits.consume('clientAuthFailure', keys)
    expect(await limits.peek('clientAuthFailure', keys)).toEqual({ ok: true })
    await limits.consume('clientAuthFailure', keys)
    expect(await limits.peek('clientAuthFailure', keys)).toMatchObject({ ok: false, dimension: 'client' })
    expect(await limits.peek('clientAuthFailure', { client: 'legacy 10.0.0.2' })).toEqual({ ok: true })
  })

  it('refuses once a dimension is used up, saying which and for how long', async () => {
    const { limits } = limitsWithAudit()
    expect(limits.store).toBe('memory')
    expect(await limits.consume('signIn', { ip: '10.0.0.1', account: 'a@example.test' })).toEqual({ ok: true })
    expect(await limits.consume('signIn', { ip: '10.0.0.2', account: 'a@example.test' })).toEqual({ ok: true })
    const refused = await limits.consume('signIn', { ip: '10.0.0.3', account: 'a@example.test' })
    expect(refused).toMatchObject({ ok: false, dimension: 'account' })
    if (refused.ok) throw new Error('unreachable')
    expect(refused.retryAfter).toBeGreaterThanOrEqual(599)
    expect(refused.retryAfter).toBeLessThanOrEqual(600)
  })

  it('matches accounts however they are spelled, and keeps no address in the key', async () => {
    expect(accountKey('Alice@Example.TEST')).toBe(accountKey(' alice@example.test '))
    expect(accountKey('ａｌｉｃｅ@example.test')).toBe(accountKey('alice@example.test')) // full-width letters (NFKC)
    expect(accountKey('alice@example.test')).not.toContain('alice')
    const { limits } = limitsWithAudit()
    await limits.consume('codeVerify', { account: 'Bob@example.test' })
    await limits.consume('codeVerify', { account: 'bob@EXAMPLE.test' })
    expect((await limits.consume('codeVerify', { account: 'BOB@example.test' })).ok).toBe(false)
  })

  it('does not count the account when the address is refused (one address cannot use up an account)', async () => {
    const { limits } = limitsWithAudit()
    for (let i = 0; i < 3; i++) await limits.consume('signIn', { ip: '10.9.0.1', account: `someone${i}@example.test` })
    expect(await limits.consume('signIn', { ip: '10.9.0.1', account: 'victim@example.test' })).toMatchObject({ ok: false, dimension: 'ip' })
    expect(await limits.consume('signIn', { ip: '10.9.0.1', account: 'victim@example.test' })).toMatchObject({ ok: false, dimension: 'ip' })
    // The victim's account allowance is untouched: two attempts from elsewhere still pass.
    expect((await limits.consume('signIn', { ip: '10.9.0.2', account: 'victim@example.test' })).ok).toBe(true)
    expect((await limits.consume('signIn', { ip: '10.9.0.3', account: 'victim@example.test' })).ok).toBe(true)
  })

  it('a success clears the account and gives the address its point back; a refund gives back one point', async () => {
    const { limits } = limitsWithAudit()
    const keys = { ip: '10.1.0.1', account: 'carol@example.test' }
    await limits.consume('signIn', keys)
    await limits.consume('signIn', keys)
    await limits.succeeded('signIn', keys)
    expect((await limits.consume('signIn', keys)).ok).toBe(true)
    expect((await limits.consume('signIn', keys)).ok).toBe(true)
    // The address got back only the success's point: 2 - 1 + 2 = all 3 used.
    expect(await limits.consume('signIn', { ip: '10.1.0.1', account: 'other@example.test' })).toMatchObject({ ok: false, dimension: 'ip' })

    await limits.consume('token', { client: 'svc' })
    await limits.consume('token', { client: 'svc' })
    await limits.refund('token', { client: 'svc' })
    expect((await limits.consume('token', { client: 'svc' })).ok).toBe(true)
    expect((await limits.consume('token', { client: 'svc' })).ok).toBe(false)
  })

  it('audits the first refusal of a counter in a window only', async () => {
    const { limits, events } = limitsWithAudit()
    for (let i = 0; i < 5; i++) await limits.consume('token', { client: 'busy' }, { clientId: 'busy' })
    expect(events).toEqual([{ type: 'rate_limited', outcome: 'failure', clientId: 'busy', userId: undefined, details: { limit: 'token', dimension: 'client', retryAfter: expect.any(Number) } }])
  })

  it('says when to try again in words', () => {
    expect(describeWait(1)).toBe('1 second')
    expect(describeWait(45)).toBe('45 seconds')
    expect(describeWait(60)).toBe('1 minute')
    expect(describeWait(61)).toBe('2 minutes')
    expect(describeWait(3600)).toBe('1 hour')
    expect(describeWait(3601)).toBe('2 hours')
    expect(tooManyAttemptsMessage(240, 'Too many sign-in attempts.')).toBe('Too many sign-in attempts. Please wait, and try again in 4 minutes.')
  })
})
