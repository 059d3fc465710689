// The second factor with a passkey or security key: the page (mfa-webauthn) and the two JSON
// endpoints its script (interactions/assets/webauthn.js) calls. The MFA step (mfa.ts) owns the
// state and decides when this page shows; this step applies when the person chose one of their
// passkeys there.
//
//   POST /interaction/:uid/mfa/webauthn/options  {csrf}            → PublicKeyCredentialRequestOptionsJSON
//   POST /interaction/:uid/mfa/webauthn/verify   {csrf, response}  → {redirect} | 400 {error, reason}
//
// Without JavaScript the page's form posts to /verify as a plain form: the page comes back saying
// that this method needs JavaScript, with "Use another method" next to it.
import type { Context } from 'koa'
import { authenticationOptions, describeWebauthnFailure, verifyAuthentication } from '../mfa/webauthn.ts'
import { findVerifiedFactorOfUser } from '../queries/mfa-factors.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import { atMfaStep, mfaLoginResult, mfaStateOf } from './mfa.ts'
import type { MfaState, InteractionState } from './state.ts'
import type { InteractionStep } from './steps.ts'
import { pageText } from '../pages/page-text.ts'



/**
 * @param settings config.mfa: the WebAuthn rp id (the issuer's host when absent).
 */
export function createWebauthnStep(kit: InteractionKit, settings: { webauthnRpId?: string | undefined }): InteractionStep & {
  /** The page of this step (mfa.ts shows it when the chosen factor is a passkey). */
  renderPage(ctx: Context, details: Details, error?: string): Promise<unknown>
} {
  const { prisma, audit, page, provider, clientName } = kit
  const origin = new URL(provider.issuer).origin
  const rpId = settings.webauthnRpId ?? new URL(provider.issuer).hostname

  /** The state, when the person chose one of their passkeys at the MFA step of this interaction. */
  async function passkeyStep(details: Details, saved: InteractionState | undefined): Promise<MfaState | undefined> {
    if (!atMfaStep(details, saved)) return undefined
    const state = mfaStateOf(details, saved)
    if (!state?.method || state.enrol || state.enrolled) return undefined
    const factor = await findVerifiedFactorOfUser(prisma, state.accountId, state.method)
    return factor?.kind === 'webauthn' ? state : undefined
  }

  async function render(ctx: Context, details: Details, error?: string) {
    const uid = details.uid
    return page(ctx, 'mfa-webauthn', {
      client: await clientName(details), error,
      optionsAction: `/interaction/${uid}/mfa/webauthn/options`, action: `/interaction/${uid}/mfa/webauthn/verify`,
      otherAction: `/interaction/${uid}/mfa/another`, abortAction: `/interaction/${uid}/abort`,
    })
  }

  function stepOver(ctx: Context, details: Details) {
    ctx.set('Cache-Control', 'no-store')
    ctx.status = 409
    ctx.body = { error: pageText(ctx).t('mfa.passkeyStepOver'), redirect: `/interaction/${details.uid}` }
  }

  const options = async (ctx: Context, details: Details, saved: InteractionState | undefined) => {
    ctx.set('Cache-Control', 'no-store')
    const state = (await passkeyStep(details, saved))!
    ctx.body = await authenticationOptions(prisma, { userId: state.accountId, rpId }, kit.clock)
  }

  const verify = async (ctx: Context, details: Details, saved: InteractionState | undefined) => {
    ctx.set('Cache-Control', 'no-store')
    const state = (await passkeyStep(details, saved))!
    if (!ctx.is('application/json')) {
      ctx.status = 400
      return render(ctx, details, pageText(ctx).t('mfa.passkeyNoScript'))
    }
    const clientId = String(details.params.client_id)
    // The response's shape is checked by verifyAuthentication (zod), which answers 'malformed'.
    const result = await verifyAuthentication(prisma, { userId: state.accountId, response: formBody(ctx).response, rpId, origin }, kit.clock)
    if (!result.ok) {
      await audit.record(ctx, { type: 'mfa_verify', outcome: 'failure', userId: state.accountId, clientId, details: { method: 'webauthn', reason: result.reason, ...(result.detail ? { detail: result.detail.slice(0, 200) } : {}) } })
      ctx.status = 400
      ctx.body = { error: describeWebauthnFailure(result.reason), reason: result.reason }
      return
    }
    await audit.record(ctx, { type: 'mfa_verify', outcome: 'success', userId: state.accountId, clientId, details: { method: 'webauthn', factorId: result.factorId } })
    const to = await provider.interactionResult(ctx.req, ctx.res, mfaLoginResult(state, 'webauthn'), { mergeWithLastSubmission: false })
    ctx.body = { redirect: to }
  }

  return {
    name: 'mfa-webauthn',
    // Its page is one of the MFA step's sub-steps (mfa.ts renders it), so it has none of its own here.
    applies: async (details, saved) => (await passkeyStep(details, saved)) !== undefined,
    renderPage: render,
    routes: [
      { method: 'post', path: '/:uid/mfa/webauthn/options', when: 'step', refuse: stepOver, handle: options },
      {
        method: 'post', path: '/:uid/mfa/webauthn/verify', when: 'step', handle: verify,
        // A plain form (no script) goes back to the interaction; the script gets JSON.
        refuse: (ctx, details) => {
          ctx.set('Cache-Control', 'no-store')
          if (ctx.is('application/json')) return stepOver(ctx, details)
          ctx.status = 303
          return ctx.redirect(`/interaction/${details.uid}`)
        },
      },
    ],
  }
}
