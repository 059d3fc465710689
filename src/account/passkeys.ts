// /account/security/passkeys/new: a signed-in person registers a passkey or security key as a
// second factor. The page's script (interactions/assets/webauthn.js) does:
//
//   POST /account/security/passkeys/options  JSON {csrf}  → PublicKeyCredentialCreationOptionsJSON
//   navigator.credentials.create(…)
//   POST /account/security/passkeys/verify   form {csrf, label, response: the credential as JSON}
//        → 303 /account/security?done=added, or the backup codes page (first factor), or this
//          page again with the error (400)
//
// The verify step is a plain form submission (not fetch) so that its answer can be a page: the
// first factor comes with backup codes, shown once, as security.ts does for the other factors.
// Without the script the form posts with no response and the page says JavaScript is needed.
//
// /account/security/passkeys lists the person's passkeys, names them (POST …/:id/rename) and
// removes them through security.ts's factor removal (which asks for a fresh second factor).
//
// Same rules as security.ts: the first factor needs only the account session; another one needs a
// fresh second factor (else: /account/login?stepup=1). Both /options and /verify check them when
// they run — the account may have got a factor between the two — and a passkey allowed as the
// first factor is stored only if it still is (addVerifiedFactor).
import type Router from '@koa/router'
import type { Context } from 'koa'
import { z } from 'zod'
import { regenerateBackupCodes, remainingBackupCodes } from '../mfa/backup-codes.ts'
import { hasSecondFactor } from '../mfa/factors.ts'
import { describeWebauthnFailure, registrationOptions, verifyRegistration } from '../mfa/webauthn.ts'
import { ACCOUNT_CLIENT_ID } from './relying-party.ts'
import type { Db } from '../queries/db.ts'
import type { Clock } from '../security/clock.ts'
import type { Csrf } from '../security/csrf.ts'
import type { SecretBox } from '../security/encryption.ts'
import type { AuditWriter } from '../audit/audit.ts'
import { hasFreshSecondFactor } from './security.ts'
import { activeAccountUser, createAccountPages, signedInOrRedirect, when, type AccountSession } from './pages.ts'
import { listPasskeySummaries, renamePasskeyOfUser } from '../queries/passkeys.ts'

// What this needs from the account router (its deps, plus the session reader).
export interface PasskeyDeps {
  prisma: Db
  clock: Clock
  csrf: Csrf
  audit: AuditWriter
  siteName: string
  issuer: string
  mfa: { box: SecretBox }
  /** The account session from its (signed) cookie, if there is one. */
  readSession(ctx: Context): AccountSession | undefined
  /** app.ts passes all of AppDeps through to the account router: the rp id is read from it when present. */
  config?: { mfa: { webauthnRpId: string } } | undefined
}

const LIST = '/account/security/passkeys'
const PAGE = '/account/security/passkeys/new'
const OPTIONS = '/account/security/passkeys/options'
const VERIFY = '/account/security/passkeys/verify'
const SECURITY = '/account/security'
const STEP_UP = `/account/login?stepup=1&return=${encodeURIComponent(PAGE)}`
const SIGN_IN = `/account/login?return=${encodeURIComponent(PAGE)}`
const NO_SCRIPT = 'Adding a passkey or security key needs JavaScript. Turn JavaScript on and try again.'

const renameForm = z.object({ label: z.string().trim().min(1).max(64) })

const verifyForm = z.object({
  label: z.string().trim().max(64, 'Use at most 64 characters for the name.').optional(),
  // The credential as JSON (a few KB; attestation 'none').
  response: z.string().max(60_000).optional(),
})

export function registerPasskeyRoutes(router: Router, deps: PasskeyDeps): void {
  const { prisma, csrf, siteName, issuer, audit } = deps
  const rpId = deps.config?.mfa.webauthnRpId ?? new URL(issuer).hostname
  const origin = new URL(issuer).origin

  const { page, i18n } = createAccountPages(csrf, siteName)
  const render = (ctx: Context, data: { error?: string; label?: string | undefined } = {}) => {
    page(ctx, 'account-passkey-new', { action: VERIFY, optionsAction: OPTIONS, backHref: SECURITY, ...data })
  }

  /** The signed-in, active person, and whether they may add a passkey now. */
  async function person(ctx: Context) {
    const session = deps.readSession(ctx)
    const user = await activeAccountUser(deps, session)
    if (!session || !user) return undefined
    const fresh = hasFreshSecondFactor(session.idToken)
    const first = !(await hasSecondFactor(prisma, user.id))
    return { user, mayAdd: first || fresh, onlyAsFirst: !fresh }
  }

  function json(ctx: Context, status: number, body: Record<string, unknown>) {
    ctx.set('Cache-Control', 'no-store')
    ctx.status = status
    ctx.body = body
  }

  async function renderList(ctx: Context, userId: string, words: { notice?: string; error?: string } = {}) {
    const tr = i18n(ctx, 'account-passkeys')
    const passkeys = (await listPasskeySummaries(prisma, userId)).map((p) => ({
      id: p.id, label: p.label, added: when(tr, p.createdAt).text, lastUsed: p.lastUsedAt ? when(tr, p.lastUsedAt).text : undefined,
      renameAction: `${LIST}/${encodeURIComponent(p.id)}/rename`, removeAction: `${SECURITY}/factors/${encodeURIComponent(p.id)}/remove`,
    }))
    page(ctx, 'account-passkeys', { passkeys, backHref: SECURITY, addHref: PAGE, ...words })
  }

  router.get(LIST, async (ctx) => {
    const who = await signedInOrRedirect(ctx, deps, deps.readSession(ctx), LIST)
    if (!who) return
    const { t } = i18n(ctx, 'account-passkeys')
    return renderList(ctx, who.user.id, ctx.query.done === 'renamed' ? { notice: t('passkey.renamed') } : {})
  })

  // Naming a passkey changes nothing it can do: the account session is enough.
  router.post(`${LIST}/:id/rename`, async (ctx) => {
    const who = await signedInOrRedirect(ctx, deps, deps.readSession(ctx), LIST)
    if (!who) return
    const { t } = i18n(ctx, 'account-passkeys')
    const form = renameForm.safeParse(ctx.request.body)
    if (!form.success) {
      ctx.status = 400
      return renderList(ctx, who.user.id, { error: t('passkey.nameInvalid') })
    }
    if (!(await renamePasskeyOfUser(prisma, String(ctx.params.id), who.user.id, form.data.label))) {
      ctx.status = 404
      return renderList(ctx, who.user.id, { error: t('passkey.notFound') })
    }
    await audit.record(ctx, { type: 'mfa_rename', outcome: 'success', userId: who.user.id, clientId: ACCOUNT_CLIENT_ID, details: { method: 'webauthn', factorId: String(ctx.params.id) } })
    ctx.status = 303
    ctx.redirect(`${LIST}?done=renamed`)
  })

  router.get(PAGE, async (ctx) => {
    const who = await person(ctx)
    ctx.status = 303
    if (!who) return ctx.redirect(SIGN_IN)
    if (!who.mayAdd) return ctx.redirect(STEP_UP)
    ctx.status = 200
    render(ctx)
  })

  router.post(OPTIONS, async (ctx) => {
    const who = await person(ctx)
    if (!who) return json(ctx, 401, { error: 'You are signed out. Sign in again.', redirect: SIGN_IN })
    if (!who.mayAdd) {
      await audit.record(ctx, { type: 'mfa_enrol', outcome: 'failure', userId: who.user.id, clientId: ACCOUNT_CLIENT_ID, details: { method: 'webauthn', reason: 'step_up_required' } })
      return json(ctx, 403, { error: 'Confirm it’s you first.', redirect: STEP_UP })
    }
    const options = await registrationOptions(prisma, { userId: who.user.id, userName: who.user.email, userDisplayName: who.user.displayName ?? who.user.email, rpId, rpName: siteName }, deps.clock)
    json(ctx, 200, options as unknown as Record<string, unknown>)
  })

  router.post(VERIFY, async (ctx) => {
    const who = await person(ctx)
    if (!who) {
      ctx.status = 303
      return ctx.redirect(SIGN_IN)
    }
    if (!who.mayAdd) {
      await audit.record(ctx, { type: 'mfa_enrol', outcome: 'failure', userId: who.user.id, clientId: ACCOUNT_CLIENT_ID, details: { method: 'webauthn', reason: 'step_up_required' } })
      ctx.status = 303
      return ctx.redirect(STEP_UP)
    }
    const form = verifyForm.safeParse(ctx.request.body)
    if (!form.success) {
      ctx.status = 400
      return render(ctx, { error: form.error.issues[0]!.message })
    }
    const { label } = form.data
    if (!form.data.response) {
      ctx.status = 400
      return render(ctx, { error: NO_SCRIPT, label })
    }
    let response: unknown
    try {
      response = JSON.parse(form.data.response)
    } catch {
      response = undefined // verifyRegistration answers 'malformed'
    }
    const result = await verifyRegistration(prisma, { userId: who.user.id, response, rpId, origin, label, asFirst: who.onlyAsFirst }, deps.clock)
    if (!result.ok && result.reason === 'not_first') {
      await audit.record(ctx, { type: 'mfa_enrol', outcome: 'failure', userId: who.user.id, clientId: ACCOUNT_CLIENT_ID, details: { method: 'webauthn', reason: 'step_up_required' } })
      ctx.status = 303
      return ctx.redirect(STEP_UP)
    }
    if (!result.ok) {
      await audit.record(ctx, { type: 'mfa_enrol', outcome: 'failure', userId: who.user.id, clientId: ACCOUNT_CLIENT_ID, details: { method: 'webauthn', reason: result.reason, ...(result.detail ? { detail: result.detail.slice(0, 200) } : {}) } })
      ctx.status = 400
      return render(ctx, { error: describeWebauthnFailure(result.reason), label })
    }
    await audit.record(ctx, { type: 'mfa_enrol', outcome: 'success', userId: who.user.id, clientId: ACCOUNT_CLIENT_ID, details: { method: 'webauthn', factorId: result.factorId } })
    if ((await remainingBackupCodes(prisma, who.user.id)) > 0) {
      ctx.status = 303
      return ctx.redirect(`${SECURITY}?done=added`)
    }
    // The first second factor comes with backup codes, shown in this response only (stored as digests).
    const codes = await regenerateBackupCodes(prisma, deps.mfa.box, who.user.id)
    await audit.record(ctx, { type: 'backup_codes_generated', outcome: 'success', userId: who.user.id, clientId: ACCOUNT_CLIENT_ID, details: { reason: 'first_factor', count: codes.length } })
    page(ctx, 'account-security-backup-codes', { codes, firstFactor: true })
  })
}
