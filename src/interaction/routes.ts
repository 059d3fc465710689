// The interaction pages under /interaction. Each step (login, password change, second factor,
// its enrolment, passkey, federation, registration, e-mail hold, consent) is one file exporting
// the same shape (steps.ts); the table below dispatches to them: GET /interaction/:uid shows the
// first step that applies, and each step's routes run only where their rule says
// (docs/adr/0220-interaction-steps.md).
import Router from '@koa/router'
import type { Context } from 'koa'
import { createConsentStep } from './consent.ts'
import { createInteractionKit, type Details, type InteractionDeps } from './kit.ts'
import { createLoginStep } from './login.ts'
import { createPasskeyLoginStep } from './passkey-login.ts'
import { createPasskeyOfferStep } from './passkey-offer.ts'
import { createPasswordChangeStep } from './password-change.ts'
import { createMfaStep, type MfaDeps } from './mfa.ts'
import { createMfaEnrolStep } from './mfa-enrol.ts'
import { createWebauthnStep } from './mfa-webauthn.ts'
import { createFederationStep } from './federation.ts'
import { createRegistrationStep, type RegistrationRouteDeps } from './registration.ts'
import { createVerifyHoldStep } from './verify-hold.ts'
import { mountSteps, type InteractionStep } from './steps.ts'
import type { Federation } from '../federation/upstreams.ts'

export type { InteractionDeps }

export function createInteractionRouter(deps: InteractionDeps & { mfa: MfaDeps; federation: Federation } & Omit<RegistrationRouteDeps, 'box'>): Router {
  const kit = createInteractionKit(deps)
  const { audit, load, finish } = kit
  const router = new Router({ prefix: '/interaction' })

  const selfServiceDeps = { config: deps.config, mailer: deps.mailer, box: deps.mfa.box }
  const webauthn = createWebauthnStep(kit, deps.mfa.settings)
  const mfa = createMfaStep(kit, deps.mfa, { passkeyPage: webauthn.renderPage })
  const mfaEnrol = createMfaEnrolStep(kit, deps.mfa, mfa.machine)
  const afterPrimary = mfa.afterPrimaryAuthentication
  const federation = createFederationStep(kit, deps.federation, { afterPrimary, box: deps.mfa.box })
  const registration = createRegistrationStep(kit, selfServiceDeps, { afterPrimary })
  const hold = createVerifyHoldStep(kit, selfServiceDeps)
  const passwordChange = createPasswordChangeStep(kit, { afterPrimary, passwordMinLength: deps.config.passwordMinLength })
  const passkeyOffer = createPasskeyOfferStep(kit, { settings: deps.mfa.settings, box: deps.mfa.box }, { afterPrimary })
  const login = createLoginStep(kit, {
    afterPrimary, federation, passkeyOffer,
    selfService: { passwordMinLength: deps.config.passwordMinLength, loginLinks: registration.loginLinks, holdUnverified: hold.holdUnverified },
  })
  const passkeyLogin = createPasskeyLoginStep(kit, deps.mfa.settings, { renderLogin: login.renderLogin, afterPrimary })
  const consent = createConsentStep(kit)

  // In order: GET /interaction/:uid shows the first of these that applies and has a page.
  const steps: InteractionStep[] = [passwordChange, mfa, mfaEnrol, webauthn, federation, passkeyOffer, login, passkeyLogin, registration, hold, consent]
  mountSteps(router, kit, steps)

  router.post('/:uid/abort', load, async (ctx: Context) => {
    const details = ctx.state.interaction as Details
    await audit.record(ctx, { type: 'interaction_aborted', outcome: 'failure', userId: details.session?.accountId, clientId: String(details.params.client_id), details: { prompt: details.prompt.name } })
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' })
  })

  return router
}
