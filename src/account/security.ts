// /account/security: the person manages their own second factors and backup codes.
//
// Who may change what: adding the first factor needs only the account session (until then the
// password is all the account has). "First" means no second factor at all — no verified factor and
// no unused backup code (hasSecondFactor) — and it is checked again in the transaction that stores
// the factor, so two enrolments started while the account had none cannot both add one. Everything else — adding another factor, removing one,
// making new backup codes — needs a FRESH second factor: the account session's ID token says
// acr = urn:iam:acr:mfa and its auth_time is at most STEP_UP_MAX_AGE old. Otherwise the browser
// goes through /account/login?stepup=1, which asks this OP for acr_values=urn:iam:acr:mfa and
// max_age=STEP_UP_MAX_AGE; the OP's mfa prompt (and, for an older session, the password again)
// does the rest. So a person who only has the password cannot add their own factor, nor remove
// the owner's.
//
// Enrolment state travels in the form as a sealed token (AES-GCM bound to the user id): the
// TOTP seed being confirmed, the destination being confirmed, and whether the enrolment was
// started under a fresh second factor. Nothing is stored until the first code proves it. Each
// token works once: it names a row (MfaChallenge, purpose 'enrol-form') that the successful
// confirmation consumes, so a used form replayed later (say after the factor was removed) adds
// nothing.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { z } from 'zod'
import type { Db } from '../queries/db.ts'
import { countVerifiedFactors, deleteFactorOfUser, hasVerifiedFactorAt, listVerifiedFactorsOfKind } from '../queries/mfa-factors.ts'
import { createSingleUseForm, deleteMfaChallengesOfFactor, useSingleUseForm } from '../queries/mfa-challenges.ts'
import { deleteBackupCodes } from '../queries/backup-codes.ts'
import type { Clock } from '../security/clock.ts'
import type { Csrf } from '../security/csrf.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { SecretBox } from '../security/encryption.ts'
import type { EmailChannel } from '../mfa/channels/email.ts'
import type { PhoneChannel, PhoneChannelKind } from '../mfa/channels/phone.ts'
import { recipientLocale } from '../i18n/recipient-locale.ts'
import { ACR_MFA } from '../mfa/acr.ts'
import { issueCode, verifyCode, type CodeCheck, type CodeSettings } from '../mfa/codes.ts'
import { addVerifiedFactor, hasSecondFactor, listVerifiedFactors, maskDestination, type FactorKind, type FactorView } from '../mfa/factors.ts'
import { checkTotpCode, confirmTotpEnrolment, newTotpSecret, startTotpEnrolment } from '../mfa/totp.ts'
import { BACKUP_CODE_COUNT, regenerateBackupCodes, remainingBackupCodes } from '../mfa/backup-codes.ts'
import { ACCOUNT_CLIENT_ID } from './relying-party.ts'
import { createAccountPages, signedInOrRedirect, when, type AccountSession, type ErrorWords } from './pages.ts'
import { spellWait } from '../i18n/durations.ts'
import type { Translator } from '../i18n/catalogs.ts'
import { tooManyRequests, type RateLimits } from '../security/rate-limits.ts'

/** How old (seconds) the session's second factor may be for sensitive changes. */
export const STEP_UP_MAX_AGE = 300
/** How long an enrolment page stays valid (ms). */
const ENROLMENT_TTL_MS = 15 * 60 * 1000
/** The MfaChallenge purpose of an enrolment form's single-use row. */
const ENROLMENT_FORM = 'enrol-form'
const SECURITY = '/account/security'

export interface AccountMfaDeps {
  box: SecretBox
  settings: CodeSettings
  email?: EmailChannel | undefined
  phone?: PhoneChannel | undefined
}

/** What the security pages need beyond the account area's own deps (app.ts passes them through). */
export interface SecurityExtras {
  audit: AuditWriter
  mfa: AccountMfaDeps
  /** Rate limits on sending and checking codes (src/security/rate-limits.ts). */
  limits: RateLimits
}


export interface SecurityDeps {
  prisma: Db
  clock: Clock
  csrf: Csrf
  audit: AuditWriter
  siteName: string
  mfa: AccountMfaDeps
  limits: RateLimits
  /** The account session from its (signed) cookie, if there is one. */
  readSession(ctx: Context): AccountSession | undefined
}

/**
 * A return path for after sign-in: same-site, relative, inside /account (where the session
 * cookie lives), and not the sign-in endpoints themselves. Anything else is dropped.
 */
export function safeReturnPath(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length > 512) return undefined
  // No scheme-relative (//host), no backslashes (browsers read them as /), no control characters.
  if (!raw.startsWith('/') || raw.startsWith('//') || /[\\\s\u0000-\u001f\u007f]/.test(raw)) return undefined
  let url: URL
  try {
    url = new URL(raw, 'http://return.invalid')
  } catch {
    return undefined
  }
  if (url.origin !== 'http://return.invalid') return undefined
  if (!/^\/account(?:\/|$)/.test(url.pathname)) return undefined
  if (/^\/account\/(?:login|callback|logout)(?:\/|$)/.test(url.pathname)) return undefined
  return `${url.pathname}${url.search}`
}

/** The authorization parameters of a step-up sign-in. */
export function stepUpParameters(): Record<string, string> {
  return { acr_values: ACR_MFA, max_age: String(STEP_UP_MAX_AGE) }
}

/**
 * Whether the account session holds a fresh second factor. The ID token was validated when the
 * session was made (signature, issuer, audience, nonce); here we only read its claims. `now` is
 * the system clock, not the injected Clock: oidc-provider stamped auth_time with it (docs/adr/0210).
 */
export function hasFreshSecondFactor(idToken: string, now = Math.floor(Date.now() / 1000)): boolean {
  try {
    const claims = decodeJwt(idToken)
    const authTime = claims.auth_time
    return claims.acr === ACR_MFA && typeof authTime === 'number' && authTime <= now + 60 && now - authTime <= STEP_UP_MAX_AGE
  } catch {
    return false
  }
}

/** E.164: + then 7–15 digits, no leading zero. People type spaces, dashes, dots, brackets, 00. */
export function normalizePhoneNumber(input: string): string | undefined {
  const compact = input.trim().replace(/[\s\-.()\u00a0]/g, '').replace(/^00/, '+')
  return /^\+[1-9]\d{6,14}$/.test(compact) ? compact : undefined
}

// Catalog keys (locales/<locale>/security.json).
const KIND_NAMES: Record<FactorKind, string> = {
  totp: 'security.kindTotp',
  email: 'security.kindEmail',
  sms: 'security.kindSms',
  whatsapp: 'security.kindWhatsapp',
  webauthn: 'security.kindWebauthn',
}
const PHONE_LABELS: Record<PhoneChannelKind, string> = { sms: 'security.labelSms', whatsapp: 'security.labelWhatsapp' }
const PHONE_TITLES: Record<PhoneChannelKind, string> = { sms: 'security.smsTitle', whatsapp: 'security.whatsappTitle' }

const NOTICES = {
  added: 'security.noticeAdded',
  removed: 'security.noticeRemoved',
  exists: 'security.noticeExists',
  confirmed: 'security.noticeConfirmed',
} as const

type EnrolKind = 'totp' | 'email' | PhoneChannelKind
/** What an enrolment form carries, sealed. */
const enrolmentToken = z.object({
  kind: z.enum(['totp', 'email', 'sms', 'whatsapp']),
  secret: z.string().optional(),
  destination: z.string().optional(),
  /** Started under a fresh second factor (so it may finish a little after that expires). */
  stepUp: z.boolean(),
  issuedAt: z.number(),
  /** Names this form's single-use row (MfaChallenge 'enrol-form'). */
  nonce: z.string().min(16).max(64),
})
type EnrolmentToken = z.infer<typeof enrolmentToken>

const csrfField = { csrf: z.unknown() }
const totpForm = z.object({
  ...csrfField,
  enrolment: z.string().min(1).max(2048),
  // The issues' messages are catalog keys.
  code: z.string().trim().min(1, 'security.totpCodeMissing').max(32, 'security.totpCodeMissing'),
  label: z.string().trim().max(40, 'security.totpLabelTooLong').optional(),
})
const confirmForm = z.object({
  ...csrfField,
  enrolment: z.string().min(1).max(2048),
  code: z.string().trim().min(1, 'security.codeMissing').max(32, 'security.codeTooLong'),
})
const phoneKind = z.enum(['sms', 'whatsapp'])
const phoneForm = z.object({ ...csrfField, kind: phoneKind, phone: z.string().max(64).optional() })
const factorId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)


function body(ctx: Context): Record<string, unknown> {
  const b = ctx.request.body
  return b && typeof b === 'object' ? b as Record<string, unknown> : {}
}

export function registerSecurityRoutes(router: Router, deps: SecurityDeps): void {
  const { prisma, clock, csrf, audit, siteName, mfa, limits } = deps
  const { box, settings } = mfa

  const pages = createAccountPages(csrf, siteName)
  const { page } = pages
  const errorPage = (ctx: Context, status: number, title: string, message: string) =>
    pages.errorPage(ctx, status, { title, message, back: 'security.back' } satisfies ErrorWords, SECURITY)
  /** The translator of one of the security pages, for the messages made here. */
  const words = (ctx: Context, name: Parameters<typeof pages.i18n>[1]): Translator => pages.i18n(ctx, name)
  const record = (ctx: Context, userId: string, type: string, outcome: 'success' | 'failure', details: Record<string, unknown>) =>
    audit.record(ctx, { type, outcome, userId, clientId: ACCOUNT_CLIENT_ID, details })

  const phoneKinds = (): readonly PhoneChannelKind[] => mfa.phone?.kinds ?? []
  const channelAvailable = (kind: FactorKind) =>
    kind === 'totp' || kind === 'webauthn' || (kind === 'email' ? Boolean(mfa.email) : phoneKinds().includes(kind))

  /** hasSecondFactor: a verified factor or an unused backup code (src/mfa/factors.ts). */
  interface Person { id: string; email: string; fresh: boolean; factors: FactorView[]; hasSecondFactor: boolean }

  /** The signed-in, active person; otherwise sends the browser to sign in (and back to `returnTo`). */
  async function signedIn(ctx: Context, returnTo: string): Promise<Person | undefined> {
    const signedIn = await signedInOrRedirect(ctx, deps, deps.readSession(ctx), returnTo)
    if (!signedIn) return undefined
    const { user, session } = signedIn
    return {
      id: user.id, email: user.email, fresh: hasFreshSecondFactor(session.idToken),
      factors: await listVerifiedFactors(prisma, user.id), hasSecondFactor: await hasSecondFactor(prisma, user.id),
    }
  }

  /** POST (its CSRF token already checked by src/middleware/csrf-guard.ts): the person. */
  function signedInForm(ctx: Context): Promise<Person | undefined> {
    return signedIn(ctx, SECURITY)
  }

  /** Sends the browser to confirm a second factor, then back to `returnTo`. */
  function stepUp(ctx: Context, returnTo: string) {
    ctx.status = 303
    ctx.redirect(`/account/login?stepup=1&return=${encodeURIComponent(returnTo)}`)
  }

  /** Adding a factor: free for the first, a fresh second factor for any further one. */
  const mayStartEnrolment = (person: Person) => !person.hasSecondFactor || person.fresh
  const mayFinishEnrolment = (person: Person, token: EnrolmentToken) => !person.hasSecondFactor || person.fresh || token.stepUp
  /** Allowed only as the first factor: then the store re-checks that it still is (addVerifiedFactor). */
  const onlyAsFirst = (person: Person, token: EnrolmentToken) => !person.fresh && !token.stepUp

  async function sealEnrolment(person: Person, token: Omit<EnrolmentToken, 'issuedAt' | 'stepUp' | 'nonce'>): Promise<string> {
    const nonce = randomBytes(18).toString('base64url')
    const full: EnrolmentToken = { ...token, stepUp: person.hasSecondFactor && person.fresh, issuedAt: clock.now(), nonce }
    // Forms past their time (or used) go; a used form then finds nothing, which refuses it the same.
    await createSingleUseForm(prisma, { userId: person.id, purpose: ENROLMENT_FORM, codeHash: box.digest(ENROLMENT_FORM, nonce), expiresAt: new Date(full.issuedAt + ENROLMENT_TTL_MS) }, clock.date())
    return box.seal(JSON.stringify(full), `account-enrol:${person.id}`)
  }

  function openEnrolment(person: Person, sealed: string, kinds: readonly EnrolKind[]): EnrolmentToken | undefined {
    try {
      const token = enrolmentToken.safeParse(JSON.parse(box.open(sealed, `account-enrol:${person.id}`)))
      if (!token.success || !kinds.includes(token.data.kind)) return undefined
      const age = clock.now() - token.data.issuedAt
      return age >= 0 && age <= ENROLMENT_TTL_MS ? token.data : undefined
    } catch {
      return undefined
    }
  }

  /** Uses the form up (once its code is proven): false when it was used already or has expired. */
  async function consumeEnrolment(person: Person, token: EnrolmentToken): Promise<boolean> {
    return useSingleUseForm(prisma, { userId: person.id, purpose: ENROLMENT_FORM, codeHash: box.digest(ENROLMENT_FORM, token.nonce) }, clock.date())
  }

  /** After a new factor: the first one also gets backup codes (shown once); otherwise back to the list. */
  async function afterEnrolment(ctx: Context, person: Person, method: EnrolKind, factorId: string) {
    await record(ctx, person.id, 'mfa_enrol', 'success', { method, factorId })
    if ((await remainingBackupCodes(prisma, person.id)) > 0) {
      ctx.status = 303
      return ctx.redirect(`${SECURITY}?done=added`)
    }
    const codes = await regenerateBackupCodes(prisma, box, person.id)
    await record(ctx, person.id, 'backup_codes_generated', 'success', { reason: 'first_factor', count: codes.length })
    // Shown in this response only: they are stored as digests.
    page(ctx, 'account-security-backup-codes', { codes, firstFactor: true })
  }

  const codeMessage = ({ t }: Translator, result: Exclude<CodeCheck, { ok: true }>) =>
    result.reason === 'invalid' ? t('security.codeWrong', { left: result.attemptsLeft })
      : result.reason === 'expired' ? t('security.codeExpired')
      : result.reason === 'exhausted' ? t('security.codeExhausted')
      : t('security.codeNone')

  /** A form that was used already (or whose row is gone): nothing is added. */
  async function formUsed(ctx: Context, person: Person, method: EnrolKind) {
    await record(ctx, person.id, 'mfa_enrol', 'failure', { method, reason: 'enrolment_used' })
    return errorPage(ctx, 400, 'security.setupExpired', 'security.setupUsedMessage')
  }

  /** Allowed as the first factor, but the account got a second factor meanwhile: step-up first. */
  async function notFirstAnyMore(ctx: Context, person: Person, method: EnrolKind, returnTo: string) {
    await record(ctx, person.id, 'mfa_enrol', 'failure', { method, reason: 'step_up_required' })
    return stepUp(ctx, returnTo)
  }

  // ---- the overview ---------------------------------------------------------------------------

  router.get(SECURITY, async (ctx) => {
    const person = await signedIn(ctx, SECURITY)
    if (!person) return
    const done = typeof ctx.query.done === 'string' && ctx.query.done in NOTICES ? ctx.query.done as keyof typeof NOTICES : undefined
    const kinds = phoneKinds()
    const i18n = words(ctx, 'account-security')
    page(ctx, 'account-security', {
      notice: done && (done !== 'confirmed' || person.fresh) ? i18n.t(NOTICES[done]) : undefined,
      factors: person.factors.map((f) => ({
        id: f.id, label: f.label, kind: i18n.t(KIND_NAMES[f.kind]), hint: f.hint,
        added: when(i18n, f.createdAt), lastUsed: f.lastUsedAt ? when(i18n, f.lastUsedAt) : undefined, available: channelAvailable(f.kind),
      })),
      backupLeft: await remainingBackupCodes(prisma, person.id),
      backupTotal: BACKUP_CODE_COUNT,
      email: Boolean(mfa.email),
      sms: kinds.includes('sms'),
      whatsapp: kinds.includes('whatsapp'),
      // Changes will first ask for a second factor.
      stepUpFirst: person.hasSecondFactor && !person.fresh,
    })
  })

  // ---- authenticator app (TOTP) ---------------------------------------------------------------

  async function renderTotp(ctx: Context, person: Person, sealed: string, secret: string, extra: { error?: string; errorField?: string; label?: string } = {}) {
    const enrolment = await startTotpEnrolment(siteName, person.email, secret)
    page(ctx, 'account-security-totp', {
      qrSvg: enrolment.qrSvg, secret: secret.replace(/(.{4})/g, '$1 ').trim(), enrolment: sealed,
      action: `${SECURITY}/totp`, ...extra,
    })
  }

  router.get(`${SECURITY}/totp`, async (ctx) => {
    const person = await signedIn(ctx, `${SECURITY}/totp`)
    if (!person) return
    if (!mayStartEnrolment(person)) return stepUp(ctx, `${SECURITY}/totp`)
    const secret = newTotpSecret()
    return renderTotp(ctx, person, await sealEnrolment(person, { kind: 'totp', secret }), secret)
  })

  router.post(`${SECURITY}/totp`, async (ctx) => {
    const person = await signedInForm(ctx)
    if (!person) return
    const form = body(ctx)
    const token = typeof form.enrolment === 'string' ? openEnrolment(person, form.enrolment, ['totp']) : undefined
    if (!token?.secret) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: 'totp', reason: 'enrolment_invalid' })
      return errorPage(ctx, 400, 'security.setupExpired', 'security.totpExpiredMessage')
    }
    // A second press of the button (or a reload) must not add the same app twice.
    for (const existing of await listVerifiedFactorsOfKind(prisma, person.id, 'totp')) {
      let same = false
      try {
        same = existing.secret !== null && box.open(existing.secret, `totp:${person.id}`) === token.secret
      } catch {
        same = false
      }
      if (same) {
        ctx.status = 303
        return ctx.redirect(`${SECURITY}?done=exists`)
      }
    }
    if (!mayFinishEnrolment(person, token)) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: 'totp', reason: 'step_up_required' })
      return stepUp(ctx, `${SECURITY}/totp`)
    }
    const label = typeof form.label === 'string' ? form.label.slice(0, 80) : undefined
    const parsed = totpForm.safeParse(form)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      ctx.status = 400
      const error = words(ctx, 'account-security-totp').t(issue.message.startsWith('security.') ? issue.message : 'security.totpCodeMissing')
      return renderTotp(ctx, person, form.enrolment as string, token.secret, { error, errorField: issue.path[0] === 'label' ? 'label' : 'code', label })
    }
    const code = parsed.data.code.replace(/\s/g, '')
    const limited = await limits.consume('codeVerify', { ip: ctx.ip, account: person.id }, { ctx, userId: person.id, clientId: ACCOUNT_CLIENT_ID })
    if (!limited.ok) {
      tooManyRequests(ctx, limited.retryAfter)
      const i18n = words(ctx, 'account-security-totp')
      return renderTotp(ctx, person, form.enrolment as string, token.secret, { error: i18n.t('security.tooManyTried', { wait: spellWait(limited.retryAfter, i18n.locale) }), errorField: 'code', label })
    }
    // The code is judged first (a typo must not use the form up), then the form is used up, then
    // the factor stored — as the first one only when that is what allowed it.
    if (!(await checkTotpCode(token.secret, code))) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: 'totp', reason: 'invalid_code' })
      ctx.status = 400
      return renderTotp(ctx, person, form.enrolment as string, token.secret, {
        error: words(ctx, 'account-security-totp').t('security.totpWrong'), errorField: 'code', label,
      })
    }
    if (!(await consumeEnrolment(person, token))) return formUsed(ctx, person, 'totp')
    const confirmed = await confirmTotpEnrolment(prisma, box, person.id, token.secret, code, { label: parsed.data.label || words(ctx, 'account-security-totp').t('security.totpDefaultLabel'), asFirst: onlyAsFirst(person, token) })
    if (!confirmed.ok) return notFirstAnyMore(ctx, person, 'totp', `${SECURITY}/totp`)
    await limits.succeeded('codeVerify', { ip: ctx.ip, account: person.id })
    return afterEnrolment(ctx, person, 'totp', confirmed.factor.id)
  })

  // ---- codes by email, SMS, WhatsApp ------------------------------------------------------------

  interface ChannelView { kind: 'email' | PhoneChannelKind; phone?: string | undefined; error?: string | undefined; errorField?: string | undefined }

  function renderChannel(ctx: Context, person: Person, view: ChannelView) {
    const isEmail = view.kind === 'email'
    const { t } = words(ctx, 'account-security-channel')
    page(ctx, 'account-security-channel', {
      kind: view.kind,
      title: t(isEmail ? 'security.emailTitle' : PHONE_TITLES[view.kind as PhoneChannelKind]),
      destinationHint: isEmail ? maskDestination('email', person.email) : undefined,
      action: isEmail ? `${SECURITY}/email` : `${SECURITY}/phone`,
      phone: view.phone, error: view.error, errorField: view.errorField,
      whatsappNote: view.kind === 'whatsapp',
    })
  }

  function renderCode(ctx: Context, input: { kind: 'email' | PhoneChannelKind; destination: string; sealed: string; error?: string; attemptsLeft?: number | undefined }) {
    const isEmail = input.kind === 'email'
    const { t } = words(ctx, 'account-security-code')
    const sent = { destination: maskDestination(isEmail ? 'email' : input.kind, input.destination) ?? '', minutes: Math.round(settings.codeTtl / 60) }
    page(ctx, 'account-security-code', {
      title: isEmail ? t('security.confirmEmailTitle') : t('security.confirmPhoneTitle'),
      prompt: isEmail ? t('security.sentEmail', sent) : input.kind === 'sms' ? t('security.sentSms', sent) : t('security.sentWhatsapp', sent),
      action: isEmail ? `${SECURITY}/email/confirm` : `${SECURITY}/phone/confirm`,
      enrolment: input.sealed,
      resendAction: isEmail ? `${SECURITY}/email` : `${SECURITY}/phone`,
      resendFields: isEmail ? {} : { kind: input.kind, phone: input.destination },
      error: input.error, attemptsLeft: input.attemptsLeft,
    })
  }

  /** Sends an enrolment code to `destination`; renders the code page, or the channel page on failure. */
  async function sendEnrolmentCode(ctx: Context, person: Person, kind: 'email' | PhoneChannelKind, destination: string) {
    const limited = await limits.consume('codeSend', { ip: ctx.ip, account: person.id }, { ctx, userId: person.id, clientId: ACCOUNT_CLIENT_ID })
    if (!limited.ok) {
      tooManyRequests(ctx, limited.retryAfter)
      const i18n = words(ctx, 'account-security-channel')
      return renderChannel(ctx, person, { kind, phone: kind === 'email' ? undefined : destination, error: i18n.t('security.tooManySent', { wait: spellWait(limited.retryAfter, i18n.locale) }) })
    }
    const result = await issueCode(prisma, box, settings, {
      userId: person.id, purpose: `enrol-${kind}`, destination,
      send: async (code) => {
        if (kind === 'email') {
          if (!mfa.email) throw new Error('email is not configured')
          await mfa.email.sendCode(destination, code, 'confirm', await recipientLocale(ctx, prisma, person.id))
        } else {
          if (!mfa.phone) throw new Error('phone codes are not configured')
          await mfa.phone.sendCode(kind, destination, code, await recipientLocale(ctx, prisma, person.id))
        }
      },
    }, clock)
    await record(ctx, person.id, 'mfa_challenge', result.ok ? 'success' : 'failure', {
      method: kind, purpose: `enrol-${kind}`, ...(result.ok ? {} : { reason: result.reason, ...('error' in result ? { error: result.error } : {}) }),
    })
    const sealed = await sealEnrolment(person, { kind, destination })
    if (result.ok) return renderCode(ctx, { kind, destination, sealed })
    if (result.reason === 'throttled') {
      ctx.status = 429
      ctx.set('Retry-After', String(result.retryAfter))
      return renderCode(ctx, { kind, destination, sealed, error: words(ctx, 'account-security-code').t('security.codeThrottled', { seconds: result.retryAfter }) })
    }
    ctx.status = 502
    const { t } = words(ctx, 'account-security-channel')
    const error = kind === 'email' ? t('security.sendFailedEmail') : kind === 'sms' ? t('security.sendFailedSms') : t('security.sendFailedWhatsapp')
    return renderChannel(ctx, person, { kind, phone: kind === 'email' ? undefined : destination, error })
  }

  /** Confirms the code of an email/phone enrolment and adds the factor. */
  async function confirmCodeEnrolment(ctx: Context, kinds: readonly ('email' | PhoneChannelKind)[]) {
    const person = await signedInForm(ctx)
    if (!person) return
    const form = body(ctx)
    const token = typeof form.enrolment === 'string' ? openEnrolment(person, form.enrolment, kinds) : undefined
    if (!token || token.kind === 'totp' || !token.destination) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: kinds[0], reason: 'enrolment_invalid' })
      return errorPage(ctx, 400, 'security.confirmExpired', 'security.confirmExpiredMessage')
    }
    const kind = token.kind
    if (!mayFinishEnrolment(person, token)) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: kind, reason: 'step_up_required' })
      return stepUp(ctx, kind === 'email' ? `${SECURITY}/email` : `${SECURITY}/phone?kind=${kind}`)
    }
    const sealed = form.enrolment as string
    const parsed = confirmForm.safeParse(form)
    if (!parsed.success) {
      ctx.status = 400
      const issue = parsed.error.issues[0]!.message
      return renderCode(ctx, { kind, destination: token.destination, sealed, error: words(ctx, 'account-security-code').t(issue.startsWith('security.') ? issue : 'security.codeMissing') })
    }
    const limited = await limits.consume('codeVerify', { ip: ctx.ip, account: person.id }, { ctx, userId: person.id, clientId: ACCOUNT_CLIENT_ID })
    if (!limited.ok) {
      tooManyRequests(ctx, limited.retryAfter)
      const i18n = words(ctx, 'account-security-code')
      return renderCode(ctx, { kind, destination: token.destination, sealed, error: i18n.t('security.tooManyTried', { wait: spellWait(limited.retryAfter, i18n.locale) }) })
    }
    const result = await verifyCode(prisma, box, { userId: person.id, purpose: `enrol-${kind}`, code: parsed.data.code }, clock)
    if (!result.ok) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: kind, reason: result.reason })
      ctx.status = 400
      return renderCode(ctx, { kind, destination: token.destination, sealed, error: codeMessage(words(ctx, 'account-security-code'), result), attemptsLeft: result.reason === 'invalid' ? result.attemptsLeft : undefined })
    }
    await limits.succeeded('codeVerify', { ip: ctx.ip, account: person.id })
    // The challenge remembers where its code went: that is the destination proven.
    const destination = result.destination ?? token.destination
    if (await hasVerifiedFactorAt(prisma, person.id, kind, destination)) {
      ctx.status = 303
      return ctx.redirect(`${SECURITY}?done=exists`)
    }
    const returnTo = kind === 'email' ? `${SECURITY}/email` : `${SECURITY}/phone?kind=${kind}`
    if (!(await consumeEnrolment(person, token))) return formUsed(ctx, person, kind)
    const factor = await addVerifiedFactor(prisma, {
      userId: person.id, kind, label: words(ctx, 'account-security').t(kind === 'email' ? 'security.labelEmail' : PHONE_LABELS[kind]), destination, lastUsedAt: clock.date(),
    }, { asFirst: onlyAsFirst(person, token) })
    if (!factor) return notFirstAnyMore(ctx, person, kind, returnTo)
    return afterEnrolment(ctx, person, kind, factor.id)
  }

  router.get(`${SECURITY}/email`, async (ctx) => {
    const person = await signedIn(ctx, `${SECURITY}/email`)
    if (!person) return
    if (!mfa.email) return errorPage(ctx, 404, 'security.notAvailable', 'security.emailUnavailable')
    if (!mayStartEnrolment(person)) return stepUp(ctx, `${SECURITY}/email`)
    renderChannel(ctx, person, { kind: 'email' })
  })

  router.post(`${SECURITY}/email`, async (ctx) => {
    const person = await signedInForm(ctx)
    if (!person) return
    if (!mfa.email) return errorPage(ctx, 404, 'security.notAvailable', 'security.emailUnavailable')
    if (!mayStartEnrolment(person)) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: 'email', reason: 'step_up_required' })
      return stepUp(ctx, `${SECURITY}/email`)
    }
    if (await hasVerifiedFactorAt(prisma, person.id, 'email', person.email)) {
      ctx.status = 303
      return ctx.redirect(`${SECURITY}?done=exists`)
    }
    return sendEnrolmentCode(ctx, person, 'email', person.email)
  })

  router.post(`${SECURITY}/email/confirm`, (ctx) => confirmCodeEnrolment(ctx, ['email']))

  router.get(`${SECURITY}/phone`, async (ctx) => {
    const kind = phoneKind.safeParse(ctx.query.kind)
    const returnTo = kind.success ? `${SECURITY}/phone?kind=${kind.data}` : SECURITY
    const person = await signedIn(ctx, returnTo)
    if (!person) return
    if (!kind.success || !phoneKinds().includes(kind.data)) return errorPage(ctx, 404, 'security.notAvailable', 'security.phoneUnavailable')
    if (!mayStartEnrolment(person)) return stepUp(ctx, returnTo)
    renderChannel(ctx, person, { kind: kind.data })
  })

  router.post(`${SECURITY}/phone`, async (ctx) => {
    const person = await signedInForm(ctx)
    if (!person) return
    const parsed = phoneForm.safeParse(body(ctx))
    if (!parsed.success || !phoneKinds().includes(parsed.data.kind)) {
      return errorPage(ctx, 404, 'security.notAvailable', 'security.phoneUnavailable')
    }
    const { kind } = parsed.data
    if (!mayStartEnrolment(person)) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: kind, reason: 'step_up_required' })
      return stepUp(ctx, `${SECURITY}/phone?kind=${kind}`)
    }
    const typed = parsed.data.phone ?? ''
    const phone = normalizePhoneNumber(typed)
    if (!phone) {
      await record(ctx, person.id, 'mfa_enrol', 'failure', { method: kind, reason: 'invalid_phone_number' })
      ctx.status = 400
      const { t } = words(ctx, 'account-security-channel')
      return renderChannel(ctx, person, {
        kind, phone: typed, errorField: 'phone',
        error: typed.trim() ? t('security.phoneInvalid') : t('security.phoneMissing'),
      })
    }
    if (await hasVerifiedFactorAt(prisma, person.id, kind, phone)) {
      ctx.status = 303
      return ctx.redirect(`${SECURITY}?done=exists`)
    }
    return sendEnrolmentCode(ctx, person, kind, phone)
  })

  router.post(`${SECURITY}/phone/confirm`, (ctx) => confirmCodeEnrolment(ctx, ['sms', 'whatsapp']))

  // ---- removing a factor, new backup codes ------------------------------------------------------

  router.post(`${SECURITY}/factors/:id/remove`, async (ctx) => {
    const person = await signedInForm(ctx)
    if (!person) return
    const id = factorId.safeParse(ctx.params.id)
    // Only the person's own verified factors exist here; anything else is simply not found.
    const factor = id.success ? person.factors.find((f) => f.id === id.data) : undefined
    if (!factor) {
      await record(ctx, person.id, 'mfa_remove', 'failure', { reason: 'not_found' })
      return errorPage(ctx, 404, 'security.notFound', 'security.factorNotFound')
    }
    if (!person.fresh) {
      await record(ctx, person.id, 'mfa_remove', 'failure', { method: factor.kind, factorId: factor.id, reason: 'step_up_required' })
      return stepUp(ctx, `${SECURITY}?done=confirmed`)
    }
    if (!(await deleteFactorOfUser(prisma, factor.id, person.id))) return errorPage(ctx, 404, 'security.notFound', 'security.factorNotFound')
    await deleteMfaChallengesOfFactor(prisma, person.id, factor.id)
    await record(ctx, person.id, 'mfa_remove', 'success', { method: factor.kind, factorId: factor.id })
    // With no second step left, leftover backup codes would be a way in that nothing else backs.
    if ((await countVerifiedFactors(prisma, person.id)) === 0) {
      const voided = await deleteBackupCodes(prisma, person.id)
      if (voided) await record(ctx, person.id, 'backup_codes_deleted', 'success', { reason: 'last_factor_removed', count: voided })
    }
    ctx.status = 303
    ctx.redirect(`${SECURITY}?done=removed`)
  })

  router.post(`${SECURITY}/backup-codes`, async (ctx) => {
    const person = await signedInForm(ctx)
    if (!person) return
    if (person.factors.length === 0) {
      await record(ctx, person.id, 'backup_codes_generated', 'failure', { reason: 'no_factor' })
      return errorPage(ctx, 400, 'security.needFactorTitle', 'security.needFactorMessage')
    }
    if (!person.fresh) {
      await record(ctx, person.id, 'backup_codes_generated', 'failure', { reason: 'step_up_required' })
      return stepUp(ctx, `${SECURITY}?done=confirmed`)
    }
    const codes = await regenerateBackupCodes(prisma, box, person.id)
    await record(ctx, person.id, 'backup_codes_generated', 'success', { reason: 'regenerated', count: codes.length })
    page(ctx, 'account-security-backup-codes', { codes, firstFactor: false })
  })
}
