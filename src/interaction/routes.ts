// The interaction pages: login, consent, cancel. Each handler validates its input, calls one domain
// function, then renders a page or hands the result back to the provider.
import Router from '@koa/router'
import { bodyParser } from '@koa/bodyparser'
import type { Context, Next } from 'koa'
import { errors, type default as Provider, type InteractionResults } from 'oidc-provider'
import { z } from 'zod'
import type { PrismaClient } from '../store/database.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { Csrf } from '../security/csrf.ts'
import type { Logger } from '../observability/logger.ts'
import { authenticateWithPassword } from '../identity/users.ts'
import { renderPage, type PageName } from '../pages/render.ts'
import { describeConsent, grantConsent } from './consent.ts'

export interface InteractionDeps {
  provider: Provider
  prisma: PrismaClient
  audit: AuditWriter
  csrf: Csrf
  logger: Logger
  siteName: string
}

/** acr value for a password-only sign-in (MFA levels come with the MFA work). */
export const ACR_PASSWORD = 'urn:iam:acr:pwd'

const loginForm = z.object({
  login: z.string().trim().min(1, 'Enter your email or username.').max(320),
  password: z.string().min(1, 'Enter your password.').max(1024),
})

type Details = Awaited<ReturnType<Provider['interactionDetails']>>

export function createInteractionRouter(deps: InteractionDeps): Router {
  const { provider, prisma, audit, csrf, siteName } = deps
  const router = new Router({ prefix: '/interaction' })
  const forms = bodyParser({ enableTypes: ['form'], formLimit: '16kb', onError: (err, ctx) => ctx.throw(413, 'The form was too large.') })

  function page(ctx: Context, name: PageName, data: Record<string, unknown>, uid: string) {
    ctx.set('Cache-Control', 'no-store')
    ctx.type = 'html'
    ctx.body = renderPage(name, { siteName, csrfToken: csrf.issue(ctx, uid) }, data)
  }

  async function finish(ctx: Context, result: InteractionResults) {
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false })
    ctx.status = 303
    ctx.redirect(to)
  }

  /** Loads the interaction this browser is in, and checks the form's CSRF token on POST. */
  async function load(ctx: Context, next: Next) {
    const details = await provider.interactionDetails(ctx.req, ctx.res)
    if (details.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch')
    if (ctx.method === 'POST' && !csrf.verify(ctx, details.uid, (ctx.request.body as Record<string, unknown> | undefined)?.csrf)) {
      ctx.status = 403
      page(ctx, 'error', { title: 'Form expired', message: 'This form was not accepted because it did not come from this page, or it has expired. Go back to the application and try again.' }, details.uid)
      return
    }
    ctx.state.interaction = details
    await next()
  }

  async function clientName(details: Details): Promise<string> {
    const client = await provider.Client.find(String(details.params.client_id))
    return client?.clientName ?? String(details.params.client_id)
  }

  router.get('/:uid', load, async (ctx) => {
    const details = ctx.state.interaction as Details
    const client = await clientName(details)
    const actions = { action: `/interaction/${details.uid}/${details.prompt.name}`, abortAction: `/interaction/${details.uid}/abort` }
    switch (details.prompt.name) {
      case 'login':
        return page(ctx, 'login', { ...actions, client, login: details.params.login_hint }, details.uid)
      case 'consent': {
        const account = await prisma.user.findUnique({ where: { id: details.session!.accountId } })
        return page(ctx, 'consent', { ...actions, client, account: account?.email, items: describeConsent(details) }, details.uid)
      }
      default:
        throw new Error(`unknown prompt ${details.prompt.name}`)
    }
  })

  router.post('/:uid/login', forms, load, async (ctx) => {
    const details = ctx.state.interaction as Details
    if (details.prompt.name !== 'login') return ctx.redirect(`/interaction/${details.uid}`)
    const clientId = String(details.params.client_id)
    const parsed = loginForm.safeParse(ctx.request.body)
    const rawLogin = typeof (ctx.request.body as Record<string, unknown>)?.login === 'string' ? String((ctx.request.body as Record<string, unknown>).login).slice(0, 320) : ''
    const actions = { action: `/interaction/${details.uid}/login`, abortAction: `/interaction/${details.uid}/abort`, client: await clientName(details) }
    if (!parsed.success) {
      ctx.status = 400
      const issue = parsed.error.issues[0]!
      return page(ctx, 'login', { ...actions, login: rawLogin, error: issue.message, errorField: issue.path[0] === 'password' ? 'password' : 'login' }, details.uid)
    }
    const result = await authenticateWithPassword(prisma, parsed.data.login, parsed.data.password)
    if (!result.ok) {
      await audit.record(ctx, { type: 'login', outcome: 'failure', userId: result.userId, clientId, details: { reason: result.reason, method: 'pwd' } })
      // Not 401: that status promises a WWW-Authenticate challenge; this is a form to fill again.
      ctx.status = result.reason === 'disabled' ? 403 : 400
      const error = result.reason === 'disabled'
        ? 'This account is disabled. Contact your administrator.'
        : 'The email, username or password is not correct.'
      return page(ctx, 'login', { ...actions, login: parsed.data.login, error, errorField: 'both' }, details.uid)
    }
    await audit.record(ctx, { type: 'login', outcome: 'success', userId: result.userId, clientId, details: { method: 'pwd' } })
    return finish(ctx, { login: { accountId: result.userId, acr: ACR_PASSWORD, amr: ['pwd'], remember: true } })
  })

  router.post('/:uid/consent', forms, load, async (ctx) => {
    const details = ctx.state.interaction as Details
    if (details.prompt.name !== 'consent') return ctx.redirect(`/interaction/${details.uid}`)
    const grantId = await grantConsent(provider, details)
    await audit.record(ctx, { type: 'consent', outcome: 'success', userId: details.session?.accountId, clientId: String(details.params.client_id), details: { scope: details.params.scope } })
    return finish(ctx, { consent: { grantId } })
  })

  router.post('/:uid/abort', forms, load, async (ctx) => {
    const details = ctx.state.interaction as Details
    await audit.record(ctx, { type: 'interaction_aborted', outcome: 'failure', userId: details.session?.accountId, clientId: String(details.params.client_id), details: { prompt: details.prompt.name } })
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' })
  })

  return router
}
