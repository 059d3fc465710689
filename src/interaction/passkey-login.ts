// Passwordless sign-in with a passkey, on the login page (docs/adr/0400-passwordless-passkeys.md).
// The page's script (interactions/assets/webauthn.js) asks for options, lets the browser offer
// the passkeys it holds for this site (the "Sign in with a passkey" button, or the login field's
// autofill through conditional mediation), and submits the assertion with the page's form:
//
//   POST /interaction/:uid/passkey/options  JSON {csrf}            → PublicKeyCredentialRequestOptionsJSON
//   POST /interaction/:uid/passkey          form {csrf, response}  → 303 on (the client, or the MFA step),
//                                                                     or the login page with the refusal
//
// No allowCredentials: the person is found by the credential (its id, and the user handle, which
// is our user id). The challenge is bound to this interaction: stored in it (server-side) with its
// expiry, one at a time (new options replace it), and used up before the answer is judged.
// A passkey that verified the person (UV: PIN or biometric) is two factors, something you have and
// something you are or know: amr hwk + user and the MFA acr. Without UV it is one factor (hwk), and
// the MFA policy goes on as after a password.
import type { Context } from 'koa'
import { z } from 'zod'
import { ACR_MFA } from '../mfa/acr.ts'
import { discoverableAuthenticationOptions, verifyDiscoverableAuthentication } from '../mfa/webauthn.ts'
import { findUserById } from '../queries/users.ts'
import { recordPasskeySignIn } from '../queries/passkeys.ts'
import { isLocked } from '../security/lockout.ts'
import { pageText } from '../pages/page-text.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import { ofKind, stateResult, type InteractionState } from './state.ts'
import { offerOf } from './passkey-offer.ts'
import type { InteractionStep } from './steps.ts'

/** The key of the interaction's result holding the outstanding passkey challenge (beside its state). */
export const PASSKEY_CHALLENGE_KEY = 'iam:passkey-challenge'
const CHALLENGE_TTL_MS = 5 * 60 * 1000

interface PendingChallenge { challenge: string; expiresAt: number }

/** amr of a passkey sign-in (RFC 8176): the key, and the person verified by it. */
export const PASSKEY_UV_AMR = ['hwk', 'user']

const answerForm = z.object({ response: z.string().min(1).max(60_000) })

export interface PasskeyLoginHooks {
  /** The login page again, with an error (the login step's). */
  renderLogin(ctx: Context, details: Details, state: { error?: string; passkeyRefused?: boolean }): Promise<void>
  /** After one factor: the MFA policy decides (mfa.ts). */
  afterPrimary(ctx: Context, details: Details, accountId: string, amr: string[]): Promise<void>
}

/** Whether the login page is what this interaction shows now (no later step of the login prompt started). */
function atLoginPage(details: Details, state: InteractionState | undefined): boolean {
  return details.prompt.name === 'login' && (state === undefined || ofKind(state, 'federation') !== undefined) && offerOf(details) === undefined
}

function pendingOf(details: Details): PendingChallenge | undefined {
  const value = (details.result as Record<string, unknown> | undefined)?.[PASSKEY_CHALLENGE_KEY] as PendingChallenge | undefined
  return value && typeof value.challenge === 'string' && typeof value.expiresAt === 'number' ? value : undefined
}

export function createPasskeyLoginStep(kit: InteractionKit, settings: { webauthnRpId?: string | undefined }, hooks: PasskeyLoginHooks): InteractionStep {
  const { prisma, audit, provider, finish } = kit
  const origin = new URL(provider.issuer).origin
  const rpId = settings.webauthnRpId ?? new URL(provider.issuer).hostname

  /** Stores `pending` (or none) beside the interaction's state, which is kept as it is. */
  async function writeChallenge(ctx: Context, state: InteractionState | undefined, pending: PendingChallenge | undefined) {
    const result = { ...(state ? stateResult(state) : {}), ...(pending ? { [PASSKEY_CHALLENGE_KEY]: pending } : {}) }
    await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false })
  }

  const options = async (ctx: Context, details: Details, state: InteractionState | undefined) => {
    ctx.set('Cache-Control', 'no-store')
    const json = await discoverableAuthenticationOptions({ rpId })
    await writeChallenge(ctx, state, { challenge: json.challenge, expiresAt: kit.clock.now() + CHALLENGE_TTL_MS })
    ctx.body = json
  }

  const verify = async (ctx: Context, details: Details, state: InteractionState | undefined) => {
    const { t } = pageText(ctx)
    const clientId = String(details.params.client_id)
    const pending = pendingOf(details)
    // Used up by this answer, whatever it turns out to be: a second submission finds none.
    if (pending) await writeChallenge(ctx, state, undefined)
    const refuse = async (status: number, reason: string, error: string, userId?: string) => {
      await audit.record(ctx, { type: 'login', outcome: 'failure', userId, clientId, details: { method: 'passkey', reason } })
      ctx.status = status
      return hooks.renderLogin(ctx, details, { error, passkeyRefused: true })
    }
    const form = answerForm.safeParse(formBody(ctx))
    if (!form.success) return refuse(400, 'malformed', t('login.passkeyFailed'))
    if (!pending || pending.expiresAt <= kit.clock.now()) return refuse(400, 'challenge_expired', t('login.passkeyExpired'))
    let response: unknown
    try {
      response = JSON.parse(form.data.response)
    } catch {
      response = undefined // answered 'malformed'
    }
    const result = await verifyDiscoverableAuthentication(prisma, { response, rpId, origin, expectedChallenge: pending.challenge }, kit.clock)
    if (!result.ok) {
      if (result.reason === 'unknown_credential') return refuse(400, result.reason, t('login.passkeyUnknown'))
      if (result.reason === 'challenge_unknown') return refuse(400, result.reason, t('login.passkeyExpired'))
      return refuse(400, result.reason, t('login.passkeyFailed'))
    }
    // The passkey proves who it is, so the account's state may be told.
    const user = await findUserById(prisma, result.userId)
    if (!user) return refuse(400, 'unknown_credential', t('login.passkeyUnknown'))
    if (user.status !== 'active') return refuse(403, 'disabled', t('login.passkeyDisabled'), user.id)
    if (isLocked(user, kit.clock)) return refuse(403, 'locked', t('login.passkeyLocked'), user.id)
    const amr = result.userVerified ? PASSKEY_UV_AMR : ['hwk']
    await recordPasskeySignIn(prisma, user.id, kit.clock.date())
    await audit.record(ctx, { type: 'login', outcome: 'success', userId: user.id, clientId, details: { method: 'passkey', factorId: result.factorId, userVerified: result.userVerified } })
    if (result.userVerified) return finish(ctx, { login: { accountId: user.id, acr: ACR_MFA, amr: [...amr], remember: true } })
    return hooks.afterPrimary(ctx, details, user.id, [...amr])
  }

  return {
    name: 'passkey-login',
    // Its button and script are on the login page (the login step renders it).
    applies: atLoginPage,
    routes: [
      {
        method: 'post', path: '/:uid/passkey/options', when: 'step', handle: options,
        refuse: (ctx, details) => {
          ctx.set('Cache-Control', 'no-store')
          ctx.status = 409
          ctx.body = { error: 'This step is over. Reload the page to continue.', redirect: `/interaction/${details.uid}` }
        },
      },
      { method: 'post', path: '/:uid/passkey', when: 'step', handle: verify },
    ],
  }
}
