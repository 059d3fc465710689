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
import { authenticateWithPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, setPassword } from '../identity/users.ts'
import { verifyPassword } from '../identity/passwords.ts'
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

// Kept in the interaction's own (server-side) result between the password check and the new
// password: the person proved the one-time password and must now choose their own.
const PASSWORD_CHANGE = 'iam:passwordChange'
function pendingPasswordChange(details: Details): string | undefined {
  const pending = (details.result as Record<string, { accountId?: unknown }> | undefined)?.[PASSWORD_CHANGE]
  return typeof pending?.accountId === 'string' ? pending.accountId : undefined
}

const newPasswordForm = z.object({
  password: z.string().min(MIN_PASSWORD_LENGTH, `Use at least ${MIN_PASSWORD_LENGTH} characters.`).max(MAX_PASSWORD_LENGTH, `Use at most ${MAX_PASSWORD_LENGTH} characters.`),
  confirm: z.string(),
}).refine((f) => f.password === f.confirm, { message: 'The two passwords do not match.', path: ['confirm'] })

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
      case 'login': {
        const accountId = pendingPasswordChange(details)
        if (accountId) return changePasswordPage(ctx, details, accountId, {})
        return page(ctx, 'login', { ...actions, client, login: details.params.login_hint }, details.uid)
      }
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
    await audit.record(ctx, { type: 'login', outcome: 'success', userId: result.userId, clientId, details: { method: 'pwd', passwordExpired: result.passwordExpired } })
    if (result.passwordExpired) {
      await provider.interactionResult(ctx.req, ctx.res, { [PASSWORD_CHANGE]: { accountId: result.userId } }, { mergeWithLastSubmission: false })
      ctx.status = 303
      return ctx.redirect(`/interaction/${details.uid}`)
    }
    return finish(ctx, { login: { accountId: result.userId, acr: ACR_PASSWORD, amr: ['pwd'], remember: true } })
  })

  async function changePasswordPage(ctx: Context, details: Details, accountId: string, state: { error?: string; errorField?: string }) {
    const user = await prisma.user.findUnique({ where: { id: accountId } })
    return page(ctx, 'change-password', {
      action: `/interaction/${details.uid}/password`, client: await clientName(details),
      username: user?.username ?? user?.email ?? '', minLength: MIN_PASSWORD_LENGTH, ...state,
    }, details.uid)
  }

  router.post('/:uid/password', forms, load, async (ctx) => {
    const details = ctx.state.interaction as Details
    const accountId = pendingPasswordChange(details)
    if (!accountId || details.prompt.name !== 'login') return ctx.redirect(`/interaction/${details.uid}`)
    const parsed = newPasswordForm.safeParse(ctx.request.body)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      ctx.status = 400
      return changePasswordPage(ctx, details, accountId, { error: issue.message, errorField: issue.path[0] === 'confirm' ? 'confirm' : 'password' })
    }
    const user = await prisma.user.findUnique({ where: { id: accountId } })
    if (!user || user.status !== 'active') throw new errors.SessionNotFound('account gone')
    if (await verifyPassword(user.passwordHash, parsed.data.password)) {
      ctx.status = 400
      return changePasswordPage(ctx, details, accountId, { error: 'Choose a password different from the one-time password.', errorField: 'password' })
    }
    await setPassword(prisma, accountId, parsed.data.password)
    await audit.record(ctx, { type: 'password_change', outcome: 'success', userId: accountId, clientId: String(details.params.client_id), details: { reason: 'one-time password replaced' } })
    return finish(ctx, { login: { accountId, acr: ACR_PASSWORD, amr: ['pwd'], remember: true } })
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
