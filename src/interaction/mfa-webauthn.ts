// The second factor with a passkey or security key: the page (mfa-webauthn) and the two JSON
// endpoints its script (interactions/assets/webauthn.js) calls. The MFA step (mfa.ts) owns the
// state and decides when this page shows; it hands us that state and the login result.
//
//   POST /interaction/:uid/mfa/webauthn/options  {csrf}            → PublicKeyCredentialRequestOptionsJSON
//   POST /interaction/:uid/mfa/webauthn/verify   {csrf, response}  → {redirect} | 400 {error, reason}
//
// Without JavaScript the page's form posts to /verify as a plain form: the page comes back saying
// that this method needs JavaScript, with "Use another method" next to it.
import type Router from '@koa/router'
import type { Context } from 'koa'
import type { InteractionResults } from 'oidc-provider'
import { authenticationOptions, describeWebauthnFailure, verifyAuthentication } from '../mfa/webauthn.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'

/** The part of the MFA step's state this step reads. */
export interface WebauthnStepState {
  accountId: string
  amr: string[]
  /** The chosen factor's id. */
  method?: string | undefined
  enrol?: unknown
  enrolled?: unknown
}

export interface WebauthnStepHooks {
  /** config.mfa.webauthnRpId. */
  rpId: string
  /** The MFA step's state of this interaction, if any. */
  stateOf(details: Details): WebauthnStepState | undefined
  /** The interaction result once the passkey is proven (login with the MFA acr and amr). */
  loginResult(state: WebauthnStepState): InteractionResults
}

const NO_SCRIPT = 'Signing in with a security key or passkey needs JavaScript. Turn JavaScript on and try again, or use another method.'
const STEP_OVER = 'This step is over. Reload the page to continue.'


export function registerMfaWebauthnRoutes(router: Router, kit: InteractionKit, hooks: WebauthnStepHooks) {
  const { prisma, audit, page, load, provider, clientName } = kit
  const origin = new URL(provider.issuer).origin

  /** The state, when the person chose one of their passkeys at the MFA step of this interaction. */
  async function passkeyStep(details: Details): Promise<WebauthnStepState | undefined> {
    if (details.prompt.name !== 'login' && details.prompt.name !== 'mfa') return undefined
    const state = hooks.stateOf(details)
    if (!state?.method || state.enrol || state.enrolled) return undefined
    const factor = await prisma.mfaFactor.findFirst({ where: { id: state.method, userId: state.accountId, kind: 'webauthn', verified: true }, select: { id: true } })
    return factor ? state : undefined
  }

  async function render(ctx: Context, details: Details, error?: string) {
    const uid = details.uid
    return page(ctx, 'mfa-webauthn', {
      client: await clientName(details), error,
      optionsAction: `/interaction/${uid}/mfa/webauthn/options`, action: `/interaction/${uid}/mfa/webauthn/verify`,
      otherAction: `/interaction/${uid}/mfa/another`, abortAction: `/interaction/${uid}/abort`,
    }, uid)
  }

  function stepOver(ctx: Context, details: Details) {
    ctx.status = 409
    ctx.body = { error: STEP_OVER, redirect: `/interaction/${details.uid}` }
  }

  router.post('/:uid/mfa/webauthn/options', load, async (ctx: Context) => {
    const details = ctx.state.interaction as Details
    ctx.set('Cache-Control', 'no-store')
    const state = await passkeyStep(details)
    if (!state) return stepOver(ctx, details)
    ctx.body = await authenticationOptions(prisma, { userId: state.accountId, rpId: hooks.rpId })
  })

  router.post('/:uid/mfa/webauthn/verify', load, async (ctx: Context) => {
    const details = ctx.state.interaction as Details
    ctx.set('Cache-Control', 'no-store')
    const state = await passkeyStep(details)
    if (!ctx.is('application/json')) {
      if (!state) {
        ctx.status = 303
        return ctx.redirect(`/interaction/${details.uid}`)
      }
      ctx.status = 400
      return render(ctx, details, NO_SCRIPT)
    }
    if (!state) return stepOver(ctx, details)
    const clientId = String(details.params.client_id)
    // The response's shape is checked by verifyAuthentication (zod), which answers 'malformed'.
    const result = await verifyAuthentication(prisma, { userId: state.accountId, response: formBody(ctx).response, rpId: hooks.rpId, origin })
    if (!result.ok) {
      await audit.record(ctx, { type: 'mfa_verify', outcome: 'failure', userId: state.accountId, clientId, details: { method: 'webauthn', reason: result.reason, ...(result.detail ? { detail: result.detail.slice(0, 200) } : {}) } })
      ctx.status = 400
      ctx.body = { error: describeWebauthnFailure(result.reason), reason: result.reason }
      return
    }
    await audit.record(ctx, { type: 'mfa_verify', outcome: 'success', userId: state.accountId, clientId, details: { method: 'webauthn', factorId: result.factorId } })
    const to = await provider.interactionResult(ctx.req, ctx.res, hooks.loginResult(state), { mergeWithLastSubmission: false })
    ctx.body = { redirect: to }
  })

  return {
    /** The page of this step (mfa.ts calls it when the chosen factor is a passkey). */
    render,
  }
}
