// The interaction pages. GET /interaction/:uid shows whichever step the interaction is at; each
// step's POST handler lives with its step (login.ts, mfa.ts, consent below).
import Router from '@koa/router'
import type { Context } from 'koa'
import { describeConsent, grantConsent } from './consent.ts'
import { createInteractionKit, type Details, type InteractionDeps } from './kit.ts'
import { registerLoginRoutes } from './login.ts'
import { registerMfaRoutes, type MfaDeps } from './mfa.ts'
import { registerFederationRoutes } from './federation.ts'
import { registerRegistrationRoutes, type RegistrationRouteDeps } from './registration.ts'
import type { Federation } from '../federation/upstreams.ts'
import { emailOf } from '../identity/users.ts'

export type { InteractionDeps }

export function createInteractionRouter(deps: InteractionDeps & { mfa: MfaDeps; federation: Federation } & Omit<RegistrationRouteDeps, 'box'>): Router {
  const kit = createInteractionKit(deps)
  const { provider, prisma, audit, page, load, finish, clientName } = kit
  const router = new Router({ prefix: '/interaction' })

  const mfa = registerMfaRoutes(router, kit, deps.mfa)
  const federation = registerFederationRoutes(router, kit, deps.federation, { afterPrimary: mfa.afterPrimaryAuthentication, box: deps.mfa.box })
  const selfService = registerRegistrationRoutes(router, kit, { config: deps.config, mailer: deps.mailer, box: deps.mfa.box }, { afterPrimary: mfa.afterPrimaryAuthentication })
  const login = registerLoginRoutes(router, kit, { afterPrimary: mfa.afterPrimaryAuthentication, federation, selfService })

  router.get('/:uid', load, async (ctx: Context) => {
    const details = ctx.state.interaction as Details
    if (await login.renderPending(ctx, details)) return
    if (await mfa.renderPending(ctx, details)) return
    if (await federation.renderPending(ctx, details)) return
    switch (details.prompt.name) {
      case 'login':
        if (await federation.startFromHints(ctx, details)) return
        return login.renderLogin(ctx, details, {})
      case 'mfa':
        return mfa.startStepUp(ctx, details)
      case 'consent': {
        const account = await emailOf(prisma, details.session!.accountId)
        return page(ctx, 'consent', {
          action: `/interaction/${details.uid}/consent`, abortAction: `/interaction/${details.uid}/abort`,
          client: await clientName(details), account, items: await describeConsent(provider, details),
        }, details.uid)
      }
      default:
        throw new Error(`unknown prompt ${details.prompt.name}`)
    }
  })

  router.post('/:uid/consent', load, async (ctx) => {
    const details = ctx.state.interaction as Details
    if (details.prompt.name !== 'consent') return ctx.redirect(`/interaction/${details.uid}`)
    const grantId = await grantConsent(provider, prisma, details)
    await audit.record(ctx, { type: 'consent', outcome: 'success', userId: details.session?.accountId, clientId: String(details.params.client_id), details: { scope: details.params.scope } })
    return finish(ctx, { consent: { grantId } })
  })

  router.post('/:uid/abort', load, async (ctx) => {
    const details = ctx.state.interaction as Details
    await audit.record(ctx, { type: 'interaction_aborted', outcome: 'failure', userId: details.session?.accountId, clientId: String(details.params.client_id), details: { prompt: details.prompt.name } })
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' })
  })

  return router
}
