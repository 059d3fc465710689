// The second-factor step: choose a factor, prove it, or enrol one when MFA is required and the
// person has none. Its state lives in the interaction (server-side); the login is resolved only
// once the second factor is proven, so the session's acr/amr tell the truth.
//
// Which step the person is at is worked out on the server at every request, from the state and
// what the account has right now (stepOf); each POST names the steps it applies at (STEP_RULES)
// and is refused at any other, whatever a page offered. Enrolment in particular applies only to
// an account with no second factor at all — no verified factor (usable here or not) and no
// unused backup code — and that is checked again when the factor is stored: otherwise the
// password alone would buy a new authenticator and the MFA acr. The enrolment routes are in
// mfa-enrol.ts and the passkey page's in mfa-webauthn.ts; both run on this file's state machine.
import type { Context } from 'koa'
import { z } from 'zod'
import type { SecretBox } from '../security/encryption.ts'
import type { EmailChannel } from '../mfa/channels/email.ts'
import type { PhoneChannel } from '../mfa/channels/phone.ts'
import { recipientLocale } from '../i18n/recipient-locale.ts'
import { ACR_MFA, ACR_PASSWORD, amrWithSecondFactor, type SecondFactorMethod } from '../mfa/acr.ts'
import { clientMfaFacts, listVerifiedFactors, maskDestination, userMfaFacts, type FactorView, type UserMfaFacts } from '../mfa/factors.ts'
import { findVerifiedFactorOfUser, markFactorUsed } from '../queries/mfa-factors.ts'
import { findUserById } from '../queries/users.ts'
import { mfaReason } from '../mfa/requirement.ts'
import { startTotpEnrolment, verifyTotp } from '../mfa/totp.ts'
import { issueCode, verifyCode, type CodePurpose, type CodeSettings } from '../mfa/codes.ts'
import { remainingBackupCodes, useBackupCode } from '../mfa/backup-codes.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import { tooManyRequests } from '../security/rate-limits.ts'
import { pageText } from '../pages/page-text.ts'
import { spellWait } from '../i18n/durations.ts'
import type { Translator } from '../i18n/catalogs.ts'
import { ofKind, type InteractionState, type MfaState } from './state.ts'
import type { InteractionStep, StepRoute } from './steps.ts'

export interface MfaDeps {
  box: SecretBox
  /** config.mfa: code settings, and the WebAuthn rp id (the issuer's host when absent). */
  settings: CodeSettings & { webauthnRpId?: string | undefined }
  email?: EmailChannel | undefined
  phone?: PhoneChannel | undefined
}

export interface MfaStepHooks {
  /** The passkey page (mfa-webauthn.ts), shown when the chosen factor is a passkey. */
  passkeyPage(ctx: Context, details: Details, error?: string): Promise<unknown>
}

/**
 * This interaction's second-factor state: the saved one, or at the provider's mfa prompt in an
 * existing session (step-up) one made from the session, nothing saved yet.
 */
export function mfaStateOf(details: Details, state: InteractionState | undefined): MfaState | undefined {
  const saved = ofKind(state, 'mfa')
  if (saved) return saved
  if (details.prompt.name === 'mfa' && details.session?.accountId) {
    return { step: 'mfa', accountId: details.session.accountId, amr: (details.session as { amr?: string[] }).amr ?? ['pwd'] }
  }
  return undefined
}

/** Whether the second-factor step's routes apply: its state, at the login or mfa prompt. */
export function atMfaStep(details: Details, state: InteractionState | undefined): boolean {
  return (details.prompt.name === 'login' || details.prompt.name === 'mfa') && mfaStateOf(details, state) !== undefined
}

/** The login the second factor finishes with. */
export function mfaLoginResult(state: Pick<MfaState, 'accountId' | 'amr'>, method: SecondFactorMethod) {
  return { login: { accountId: state.accountId, acr: ACR_MFA, amr: amrWithSecondFactor(state.amr, method), remember: true } }
}

// An empty or overlong code is answered with mfa.enterCode (codeRefusal), in the page's language.
export const codeForm = z.object({ code: z.string().trim().min(1).max(32) })
const selectForm = z.object({ method: z.string().min(1).max(64) })

const CODE_KINDS = new Set(['email', 'sms', 'whatsapp'])

/**
 * Where the person is in this step. 'unavailable': they have second factors, but none this server
 * can use now (e.g. SMS while SMS is not configured) and no backup codes. They may not enrol a new
 * factor here — that would let a password replace the factor — so only an administrator's reset
 * helps (the page says so).
 */
type Step = 'choose' | 'code' | 'passkey' | 'enrol' | 'enrol-confirm' | 'enrolled' | 'unavailable'

/** What the code page says for a code form that could not be read (empty, too long). */
export function codeRefusal(ctx: Context): string {
  return pageText(ctx).t('mfa.enterCode')
}

/** A refusal for an enrolment when the account already has a second step. */
export function enrolRefused(ctx: Context): string {
  return pageText(ctx).t('mfa.enrolRefused')
}

/** A limit refused the request (429, Retry-After): `what` happened, and when to try again. */
export function tooManyCodes(ctx: Context, retryAfter: number, what: 'sent' | 'tried'): string {
  tooManyRequests(ctx, retryAfter)
  const tr = pageText(ctx)
  const wait = spellWait(retryAfter, tr.locale)
  return what === 'sent' ? tr.t('mfa.tooManySent', { wait }) : tr.t('mfa.tooManyTried', { wait })
}

/** "We sent a 6-digit code to …. It expires in 10 minutes." (codeTtl in seconds, whole minutes when it divides.) */
function codeSentPrompt(tr: Translator, destination: string, codeTtl: number): string {
  return codeTtl % 60 === 0
    ? tr.t('mfa.codeSentPromptMinutes', { destination, count: codeTtl / 60 })
    : tr.t('mfa.codeSentPromptSeconds', { destination, count: codeTtl })
}

/** A wrong emailed or texted code, with the attempts it leaves. */
export function wrongCode(tr: Translator, attemptsLeft: number): string {
  return tr.t('mfa.wrongCodeAttempts', { count: attemptsLeft })
}

/** The steps each POST of this step applies at; at any other it is refused (409) and the current step shown. */
const STEP_RULES = {
  select: { at: ['choose', 'code', 'passkey'] },
  another: { at: ['choose', 'code', 'passkey', 'enrol', 'enrol-confirm', 'unavailable'] },
  resend: { at: ['code', 'enrol-confirm'] },
  verify: { at: ['code'] },
  enrol: { at: ['enrol', 'enrol-confirm'], refused: 'enrol' },
  enrolVerify: { at: ['enrol-confirm'] },
  continue: { at: ['enrolled'] },
} as const satisfies Record<string, { at: readonly Step[]; refused?: 'enrol' }>
type MfaRoute = keyof typeof STEP_RULES

/** The sub-step the person is at, with what it was worked out from (stepOf). */
export interface MfaNow {
  step: Step
  /** The chosen method, if it is still one the person can use. */
  selected: FactorView | 'backup' | undefined
  factors: FactorView[]
  backupLeft: number
  hasSecondFactor: boolean
}
type MfaHandler = (ctx: Context, details: Details, state: MfaState, now: MfaNow) => Promise<unknown>

/** What the MFA step's enrolment routes (mfa-enrol.ts) use of it: one state machine for both. */
export interface MfaMachine {
  /** A route of the second factor, run only at the sub-steps STEP_RULES names for `rule`. */
  route(path: string, rule: MfaRoute, handler: MfaHandler): StepRoute
  /** Renders the sub-step the person is at. */
  render(ctx: Context, details: Details, state: MfaState, extra?: { error?: string; attemptsLeft?: number; codes?: string[] }): Promise<unknown>
  sendCode(ctx: Context, details: Details, state: MfaState, next: MfaState, input: { purpose: CodePurpose; destination: string; factorId?: string; kind: 'email' | 'sms' | 'whatsapp' }): Promise<boolean>
  withinCodeVerifyLimit(ctx: Context, details: Details, state: MfaState): Promise<boolean>
  finishWithMfa(ctx: Context, state: MfaState, method: SecondFactorMethod): Promise<void>
}

/**
 * The second-factor step, after the password (or an upstream) when the policy asks for it, or at
 * the provider's mfa prompt (step-up). Passkeys' page and JSON endpoints are their own step
 * (mfa-webauthn.ts); this one decides when their page shows.
 */
export function createMfaStep(kit: InteractionKit, deps: MfaDeps, hooks: MfaStepHooks): InteractionStep & {
  afterPrimaryAuthentication(ctx: Context, details: Details, accountId: string, amr: string[], userFacts?: UserMfaFacts): Promise<void>
  machine: MfaMachine
} {
  const { prisma, audit, page, finish, saveState, keepState: persist, clientName, siteName } = kit
  const { box, settings } = deps

  function finishWithMfa(ctx: Context, state: MfaState, method: SecondFactorMethod) {
    return finish(ctx, mfaLoginResult(state, method))
  }

  /**
   * Sends a code for an email/SMS/WhatsApp factor (or enrolment). On success the caller moves to
   * `next` (the code page). Otherwise this answers: throttled, the code page of `next` with when to
   * ask again (the code already sent still works); not sent, the method choice with the reason.
   */
  async function sendCode(ctx: Context, details: Details, state: MfaState, next: MfaState, input: { purpose: CodePurpose; destination: string; factorId?: string; kind: 'email' | 'sms' | 'whatsapp' }): Promise<boolean> {
    // Each message costs money and reaches someone's phone or inbox: limited per address and account.
    const limited = await kit.limits.consume('codeSend', { ip: ctx.ip, account: state.accountId }, { ctx, userId: state.accountId, clientId: String(details.params.client_id) })
    if (!limited.ok) {
      await render(ctx, details, state, { error: tooManyCodes(ctx, limited.retryAfter, 'sent') })
      return false
    }
    const result = await issueCode(prisma, box, settings, {
      userId: state.accountId, purpose: input.purpose, destination: input.destination, factorId: input.factorId,
      send: async (code) => {
        if (input.kind === 'email') {
          if (!deps.email) throw new Error('email is not configured')
          await deps.email.sendCode(input.destination, code, input.purpose === 'email' ? 'sign-in' : 'confirm', await recipientLocale(ctx, prisma, state.accountId))
        } else {
          if (!deps.phone) throw new Error('phone codes are not configured')
          await deps.phone.sendCode(input.kind, input.destination, code, await recipientLocale(ctx, prisma, state.accountId))
        }
      },
    }, kit.clock)
    await audit.record(ctx, { type: 'mfa_challenge', outcome: result.ok ? 'success' : 'failure', userId: state.accountId, clientId: String(details.params.client_id), details: { method: input.kind, purpose: input.purpose, ...(result.ok ? {} : result.reason === 'send_failed' ? { reason: result.reason, error: result.error } : { reason: result.reason }) } })
    if (result.ok) return true
    if (result.reason === 'send_failed') {
      const fallback = { ...state, method: undefined, enrol: undefined }
      await persist(ctx, fallback)
      await render(ctx, details, fallback, { error: pageText(ctx).t('mfa.sendFailed', { channel: input.kind }) })
    } else {
      await persist(ctx, next)
      ctx.status = 429
      ctx.set('Retry-After', String(result.retryAfter))
      await render(ctx, details, next, { error: pageText(ctx).t('mfa.sentMomentAgo', { count: result.retryAfter }) })
    }
    return false
  }

  async function methodsFor(accountId: string, amr: string[]) {
    const all = await listVerifiedFactors(prisma, accountId)
    // A factor whose channel is not configured on this server cannot be used now. After a passkey
    // that signed in without verifying the person (amr hwk alone: one factor), no passkey is the
    // second: the same key (or another on the same device) would prove possession twice
    // (docs/adr/0400-passwordless-passkeys.md).
    const passkeyDone = amr.includes('hwk')
    const usable = all.filter((f) => f.kind === 'totp' || (f.kind === 'webauthn' && !passkeyDone) || (f.kind === 'email' && deps.email) || ((f.kind === 'sms' || f.kind === 'whatsapp') && deps.phone?.kinds.includes(f.kind)))
    const backupLeft = await remainingBackupCodes(prisma, accountId)
    // The same rule as hasSecondFactor (src/mfa/factors.ts), from the rows read here.
    return { factors: usable, backupLeft, hasSecondFactor: all.length > 0 || backupLeft > 0 }
  }

  /** The step the person is at now: the state, checked against what the account has at this moment. */
  async function stepOf(state: MfaState): Promise<MfaNow> {
    const methods = await methodsFor(state.accountId, state.amr)
    const selected = state.method === 'backup' ? (methods.backupLeft > 0 ? 'backup' as const : undefined) : methods.factors.find((f) => f.id === state.method)
    const step: Step = state.enrolled ? 'enrolled'
      : !methods.hasSecondFactor ? (state.enrol ? 'enrol-confirm' : 'enrol')
      : selected ? (selected !== 'backup' && selected.kind === 'webauthn' ? 'passkey' : 'code')
      : methods.factors.length === 0 && methods.backupLeft === 0 ? 'unavailable'
      : 'choose'
    return { step, selected, ...methods }
  }

  function describe(tr: Translator, f: FactorView): string {
    switch (f.kind) {
      case 'totp': return tr.t('mfa.optionTotp', { label: f.label })
      case 'email': return tr.t('mfa.optionEmail', { destination: f.hint ?? '' })
      case 'sms': return tr.t('mfa.optionSms', { destination: f.hint ?? '' })
      case 'whatsapp': return tr.t('mfa.optionWhatsapp', { destination: f.hint ?? '' })
      case 'webauthn': return tr.t('mfa.optionPasskey', { label: f.label })
    }
  }

  /** Renders the step the person is at (stepOf). */
  async function render(ctx: Context, details: Details, state: MfaState, extra: { error?: string; attemptsLeft?: number; codes?: string[] } = {}) {
    const base = { client: await clientName(details), uid: details.uid, error: extra.error, abortAction: `/interaction/${details.uid}/abort` }
    const { step, selected, factors, backupLeft } = await stepOf(state)
    const tr = pageText(ctx)
    switch (step) {
      case 'enrolled':
        return page(ctx, 'mfa-backup-codes', { ...base, codes: extra.codes, action: `/interaction/${details.uid}/mfa/continue` })
      case 'enrol-confirm': {
        const user = await findUserById(prisma, state.accountId)
        if (state.enrol?.kind === 'totp') {
          const enrolment = await startTotpEnrolment(siteName, user?.email ?? state.accountId, box.open(state.enrol.sealedSecret, `enrol:${state.accountId}`))
          return page(ctx, 'mfa-enrol-totp', { ...base, qrSvg: enrolment.qrSvg, secret: enrolment.secret.replace(/(.{4})/g, '$1 ').trim(), action: `/interaction/${details.uid}/mfa/enrol/verify` })
        }
        return page(ctx, 'mfa-code', {
          ...base, title: tr.t('mfa.confirmEmailTitle'), prompt: tr.t('mfa.confirmEmailPrompt', { destination: maskDestination('email', user?.email ?? '') ?? '' }),
          action: `/interaction/${details.uid}/mfa/enrol/verify`, resendAction: `/interaction/${details.uid}/mfa/resend`, otherAction: `/interaction/${details.uid}/mfa/another`, attemptsLeft: extra.attemptsLeft,
        })
      }
      case 'enrol':
        return page(ctx, 'mfa-enrol', { ...base, action: `/interaction/${details.uid}/mfa/enrol`, emailAvailable: Boolean(deps.email) })
      case 'passkey':
        return hooks.passkeyPage(ctx, details, extra.error)
      case 'code': {
        const isBackup = selected === 'backup'
        const factor = selected === 'backup' ? undefined : selected!
        const prompt = isBackup ? tr.t('mfa.backupPrompt')
          : factor!.kind === 'totp' ? tr.t('mfa.totpPrompt', { label: factor!.label })
          : codeSentPrompt(tr, factor!.hint ?? '', settings.codeTtl)
        return page(ctx, 'mfa-code', {
          ...base, title: tr.t('mfa.verifyTitle'), prompt, backup: isBackup,
          action: `/interaction/${details.uid}/mfa/verify`, otherAction: `/interaction/${details.uid}/mfa/another`,
          resendAction: factor && CODE_KINDS.has(factor.kind) ? `/interaction/${details.uid}/mfa/resend` : undefined,
          attemptsLeft: extra.attemptsLeft,
        })
      }
      case 'unavailable':
      case 'choose': {
        const options = factors.map((f) => ({ value: f.id, label: describe(tr, f) }))
        if (backupLeft > 0) options.push({ value: 'backup', label: tr.t('mfa.optionBackup', { count: backupLeft }) })
        return page(ctx, 'mfa-choose', { ...base, error: base.error ?? (step === 'unavailable' ? tr.t('mfa.nothingUsable') : undefined), options, action: `/interaction/${details.uid}/mfa/select` })
      }
    }
  }

  /** Counts a code attempt (per address and account); when refused, shows the step again with 429 and when to retry. */
  async function withinCodeVerifyLimit(ctx: Context, details: Details, state: MfaState): Promise<boolean> {
    const limited = await kit.limits.consume('codeVerify', { ip: ctx.ip, account: state.accountId }, { ctx, userId: state.accountId, clientId: String(details.params.client_id) })
    if (limited.ok) return true
    await render(ctx, details, state, { error: tooManyCodes(ctx, limited.retryAfter, 'tried') })
    return false
  }

  /**
   * A POST of the second factor. It runs only where the step applies (else the browser goes back
   * to the interaction's current step), and there only at the sub-steps STEP_RULES names for
   * `route`: otherwise the person sees the step they are at, with why (409), and the refusal is
   * audited.
   */
  function stepRoute(path: string, route: MfaRoute, handler: MfaHandler): StepRoute {
    const rule: { at: readonly Step[]; refused?: 'enrol' } = STEP_RULES[route]
    return { method: 'post', path, when: 'step', async handle(ctx, details, saved) {
      const state = mfaStateOf(details, saved)!
      const now = await stepOf(state)
      if (!rule.at.includes(now.step)) {
        await audit.record(ctx, { type: 'mfa_step_refused', outcome: 'failure', userId: state.accountId, clientId: String(details.params.client_id), details: { route, step: now.step } })
        ctx.status = 409
        return render(ctx, details, state, { error: rule.refused === 'enrol' ? enrolRefused(ctx) : pageText(ctx).t('mfa.notNow') })
      }
      await handler(ctx, details, state, now)
    } }
  }
  const routes: StepRoute[] = []
  const post = (...args: Parameters<typeof stepRoute>) => { routes.push(stepRoute(...args)) }

  post('/:uid/mfa/select', 'select', async (ctx, details, state, { factors, backupLeft }) => {
    const parsed = selectForm.safeParse(formBody(ctx))
    const factor = factors.find((f) => f.id === parsed.data?.method)
    if (parsed.data?.method === 'backup' && backupLeft > 0) return saveState(ctx, details, { ...state, method: 'backup' })
    if (!factor) {
      ctx.status = 400
      return render(ctx, details, state, { error: pageText(ctx).t('mfa.chooseMethod') })
    }
    if (factor.kind === 'email' || factor.kind === 'sms' || factor.kind === 'whatsapp') {
      const row = await findVerifiedFactorOfUser(prisma, state.accountId, factor.id)
      if (!(await sendCode(ctx, details, state, { ...state, method: factor.id }, { purpose: factor.kind, destination: row!.destination!, factorId: factor.id, kind: factor.kind }))) return
    }
    return saveState(ctx, details, { ...state, method: factor.id })
  })

  post('/:uid/mfa/resend', 'resend', async (ctx, details, state) => {
    if (state.enrol?.kind === 'email') {
      const user = await findUserById(prisma, state.accountId)
      if (!(await sendCode(ctx, details, state, state, { purpose: 'enrol-email', destination: user!.email, kind: 'email' }))) return
      return saveState(ctx, details, state)
    }
    const factor = state.method ? await findVerifiedFactorOfUser(prisma, state.accountId, state.method) : null
    if (!factor || !(factor.kind === 'email' || factor.kind === 'sms' || factor.kind === 'whatsapp')) return saveState(ctx, details, state)
    if (!(await sendCode(ctx, details, state, state, { purpose: factor.kind, destination: factor.destination!, factorId: factor.id, kind: factor.kind }))) return
    return saveState(ctx, details, state)
  })

  post('/:uid/mfa/another', 'another', async (ctx, details, state) =>
    saveState(ctx, details, { ...state, method: undefined, enrol: undefined }))

  post('/:uid/mfa/verify', 'verify', async (ctx, details, state) => {
    const clientId = String(details.params.client_id)
    const parsed = codeForm.safeParse(formBody(ctx))
    if (!parsed.success) {
      ctx.status = 400
      return render(ctx, details, state, { error: codeRefusal(ctx) })
    }
    if (!(await withinCodeVerifyLimit(ctx, details, state))) return
    const code = parsed.data.code
    const tr = pageText(ctx)
    const fail = async (method: string, reason: string, message: string, attemptsLeft?: number) => {
      await audit.record(ctx, { type: 'mfa_verify', outcome: 'failure', userId: state.accountId, clientId, details: { method, reason } })
      ctx.status = 400
      return render(ctx, details, state, { error: message, attemptsLeft })
    }
    if (state.method === 'backup') {
      const result = await useBackupCode(prisma, box, state.accountId, code, kit.clock)
      if (!result.ok) return fail('backup', result.reason, result.reason === 'used' ? tr.t('mfa.backupUsed') : tr.t('mfa.backupWrong'))
      await audit.record(ctx, { type: 'mfa_verify', outcome: 'success', userId: state.accountId, clientId, details: { method: 'backup', remaining: result.remaining } })
      await kit.limits.succeeded('codeVerify', { ip: ctx.ip, account: state.accountId })
      return finishWithMfa(ctx, state, 'backup')
    }
    const factor = state.method ? await findVerifiedFactorOfUser(prisma, state.accountId, state.method) : null
    if (!factor || factor.kind === 'webauthn') return saveState(ctx, details, { ...state, method: undefined })
    if (factor.kind === 'totp') {
      const result = await verifyTotp(prisma, box, factor, code)
      if (!result.ok) return fail('totp', result.reason, result.reason === 'replayed' ? tr.t('mfa.totpReplayed') : tr.t('mfa.totpWrong'))
    } else {
      const result = await verifyCode(prisma, box, { userId: state.accountId, purpose: factor.kind, code }, kit.clock)
      if (!result.ok) {
        const message = result.reason === 'invalid' ? wrongCode(tr, result.attemptsLeft)
          : result.reason === 'expired' ? tr.t('mfa.codeExpired')
          : result.reason === 'exhausted' ? tr.t('mfa.codeExhausted')
          : tr.t('mfa.noCodeWaiting')
        return fail(factor.kind, result.reason, message, result.reason === 'invalid' ? result.attemptsLeft : undefined)
      }
      await markFactorUsed(prisma, factor.id, kit.clock.date())
    }
    await audit.record(ctx, { type: 'mfa_verify', outcome: 'success', userId: state.accountId, clientId, details: { method: factor.kind } })
    await kit.limits.succeeded('codeVerify', { ip: ctx.ip, account: state.accountId })
    return finishWithMfa(ctx, state, factor.kind)
  })

  return {
    /** After the password (or an upstream): straight to the client, or on to the second factor when the policy says so. */
    async afterPrimaryAuthentication(ctx: Context, details: Details, accountId: string, amr: string[], userFacts?: UserMfaFacts) {
      // 'mfa' in amr here means two factors are already proven: a trusted upstream's MFA
      // (federation with trustMfa), or the upstream plus the local authenticator code that linked
      // the account. That satisfies every MFA policy: finish with the MFA acr.
      if (amr.includes('mfa')) return finish(ctx, { login: { accountId, acr: ACR_MFA, amr, remember: true } })
      const client = await kit.provider.Client.find(String(details.params.client_id))
      // The password check read the user's facts with the user; other ways in read them here.
      const facts = { ...(userFacts ?? await userMfaFacts(prisma, accountId)), ...clientMfaFacts(client), params: details.params }
      if (!mfaReason(facts)) return finish(ctx, { login: { accountId, acr: ACR_PASSWORD, amr, remember: true } })
      return saveState(ctx, details, { step: 'mfa', accountId, amr })
    },
    machine: { route: stepRoute, render, sendCode, withinCodeVerifyLimit, finishWithMfa },
    name: 'mfa',
    applies: atMfaStep,
    /** The sub-step the person is at (stepOf); at the provider's mfa prompt, a step-up in the session. */
    render: (ctx, details, saved) => render(ctx, details, mfaStateOf(details, saved)!),
    routes,
  }
}
