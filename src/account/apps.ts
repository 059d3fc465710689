// /account/apps: the applications the person allowed access (remembered consents), what each may
// do and since when, and taking that access back. Revoking forgets the consent (the next sign-in
// asks again) and revokes what the application holds for the person, refresh tokens included.
//
// No step-up: revoking only takes access away. The application is named by its client id in the
// path; the consent looked up is always the signed-in person's own.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { z } from 'zod'
import { describeAllowed, listConsents, revokeConsent } from '../identity/consents.ts'
import { createAccountPages, signedInOrRedirect, type AccountAreaDeps } from './pages.ts'

const APPS = '/account/apps'
// As the client registry allows them (src/clients/registry.ts), with room for older ids.
const clientId = z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/)

const dateFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeZone: 'UTC' })
const when = (d: Date) => ({ text: dateFormat.format(d), iso: d.toISOString() })

export function registerAppRoutes(router: Router, deps: AccountAreaDeps): void {
  const { prisma, csrf, audit, siteName } = deps
  const pages = createAccountPages(csrf, siteName)

  async function signedIn(ctx: Context) {
    return (await signedInOrRedirect(ctx, deps, deps.readSession(ctx), APPS))?.user
  }

  router.get(APPS, async (ctx) => {
    const user = await signedIn(ctx)
    if (!user) return
    const consents = await listConsents(prisma, user.id)
    pages.page(ctx, 'account-apps', {
      notice: ctx.query.done === 'revoked' ? 'That application no longer has access. It must ask you again before it can have any.' : undefined,
      apps: consents.map((c) => ({
        clientId: c.clientId,
        name: c.clientName,
        items: describeAllowed(c),
        since: when(c.grantedAt),
        changed: c.updatedAt.getTime() - c.grantedAt.getTime() > 1000 ? when(c.updatedAt) : undefined,
      })),
    })
  })

  router.post(`${APPS}/:clientId/revoke`, async (ctx) => {
    const user = await signedIn(ctx)
    if (!user) return
    const id = clientId.safeParse(ctx.params.clientId)
    if (!id.success || !(await revokeConsent(deps, user.id, id.data, ctx))) {
      await audit.record(ctx, { type: 'consent_revoked', outcome: 'failure', userId: user.id, actor: user.id, details: { reason: 'not_found' } })
      return pages.errorPage(ctx, 404, 'Application not found', 'That application has no access to revoke, or it is not one of yours.', { href: APPS, label: 'Back to your applications' })
    }
    ctx.status = 303
    ctx.redirect(`${APPS}?done=revoked`)
  })
}
