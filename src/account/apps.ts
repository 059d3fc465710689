// /account/apps: the applications the person allowed access (remembered consents), what each may
// do and since when, and taking that access back. Revoking forgets the consent (the next sign-in
// asks again) and revokes what the application holds for the person, refresh tokens included.
//
// No step-up: revoking only takes access away. The application is named by its client id in the
// path; the consent looked up is always the signed-in person's own.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { z } from 'zod'
import { listConsents, revokeConsent, type Allowed } from '../identity/consents.ts'
import type { Translator } from '../i18n/catalogs.ts'
import { createAccountPages, day, signedInOrRedirect, type AccountAreaDeps } from './pages.ts'

const APPS = '/account/apps'
// As the client registry allows them (src/clients/registry.ts), with room for older ids.
const clientId = z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/)

/** What `allowed` lets an application do, one line each, in words a person understands (as consent put it). */
function describeAllowed(i18n: Translator, allowed: Allowed): string[] {
  const { t } = i18n
  const scopeText: Record<string, string> = {
    openid: t('apps.scopeOpenid'),
    profile: t('apps.scopeProfile'),
    email: t('apps.scopeEmail'),
    phone: t('apps.scopePhone'),
    roles: t('apps.scopeRoles'),
    tenant: t('apps.scopeTenant'),
    offline_access: t('apps.scopeOfflineAccess'),
  }
  const list = (items: Iterable<string>) => new Intl.ListFormat(i18n.locale, { type: 'unit', style: 'short' }).format([...items])
  const items = [...allowed.scopes].map((scope) => scopeText[scope] ?? t('apps.scopeOther', { scope }))
  if (allowed.claims.size) items.push(t('apps.claims', { claims: list(allowed.claims) }))
  for (const [resource, scopes] of allowed.resources) {
    items.push(scopes.size ? t('apps.resourceWith', { resource, scopes: list(scopes) }) : t('apps.resource', { resource }))
  }
  return items
}

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
    const i18n = pages.i18n(ctx, 'account-apps')
    pages.page(ctx, 'account-apps', {
      notice: ctx.query.done === 'revoked' ? i18n.t('apps.revoked') : undefined,
      apps: consents.map((c) => ({
        clientId: c.clientId,
        name: c.clientName,
        items: describeAllowed(i18n, c),
        since: day(i18n, c.grantedAt),
        changed: c.updatedAt.getTime() - c.grantedAt.getTime() > 1000 ? day(i18n, c.updatedAt) : undefined,
      })),
    })
  })

  router.post(`${APPS}/:clientId/revoke`, async (ctx) => {
    const user = await signedIn(ctx)
    if (!user) return
    const id = clientId.safeParse(ctx.params.clientId)
    if (!id.success || !(await revokeConsent(deps, user.id, id.data, ctx))) {
      await audit.record(ctx, { type: 'consent_revoked', outcome: 'failure', userId: user.id, actor: user.id, details: { reason: 'not_found' } })
      return pages.errorPage(ctx, 404, { title: 'apps.notFound', message: 'apps.notFoundMessage', back: 'apps.back' }, APPS)
    }
    ctx.status = 303
    ctx.redirect(`${APPS}?done=revoked`)
  })
}
