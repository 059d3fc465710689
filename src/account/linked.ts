// /account/linked: the upstream sign-ins (Entra ID, other OIDC providers) linked to the account,
// and removing one.
//
// Removing follows security.ts: a person with second factors confirms one first (a fresh second
// factor, via /account/login?stepup=1); and the last way in cannot be removed — a person with no
// password and a single link would be locked out. Roles that upstream granted ("federation:{id}")
// go with its last link: nothing keeps them current any more.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { z } from 'zod'
import type { Db } from '../queries/db.ts'
import { deleteFederatedLinkOfUser } from '../queries/federated-identities.ts'
import type { Clock } from '../security/clock.ts'
import type { Csrf } from '../security/csrf.ts'
import type { AuditWriter } from '../audit/audit.ts'
import { listVerifiedFactors } from '../mfa/factors.ts'
import { listLinks } from '../federation/linking.ts'
import { removeFederatedRoles } from '../federation/role-sync.ts'
import { ACCOUNT_CLIENT_ID } from './relying-party.ts'
import { hasFreshSecondFactor } from './security.ts'
import { createAccountPages, signedInOrRedirect, when, type AccountSession, type ErrorWords } from './pages.ts'

export interface LinkedDeps {
  prisma: Db
  clock: Clock
  csrf: Csrf
  audit: AuditWriter
  siteName: string
  /** Display name of an upstream by id (configured upstreams; removed ones show their id). */
  federation: { nameOf(id: string): string }
  readSession(ctx: Context): AccountSession | undefined
}

const LINKED = '/account/linked'
const NOTICES = {
  removed: 'account.linkedRemoved',
  confirmed: 'account.linkedConfirmed',
} as const
const NOT_FOUND = { title: 'account.linkedNotFound', message: 'account.linkedNotFoundMessage', back: 'account.linkedBack' }
const linkId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)


export function registerLinkedRoutes(router: Router, deps: LinkedDeps): void {
  const { prisma, csrf, audit, siteName, federation } = deps

  const pages = createAccountPages(csrf, siteName)
  const { page } = pages
  const errorPage = (ctx: Context, status: number, words: ErrorWords) => pages.errorPage(ctx, status, words, LINKED)

  /** The signed-in, active person with what removal rules need; otherwise off to sign in. */
  async function signedIn(ctx: Context) {
    const signedIn = await signedInOrRedirect(ctx, deps, deps.readSession(ctx), LINKED)
    if (!signedIn) return undefined
    const { user, session } = signedIn
    const [links, factors] = await Promise.all([listLinks(prisma, user.id), listVerifiedFactors(prisma, user.id)])
    return { id: user.id, hasPassword: Boolean(user.passwordHash), links, hasFactors: factors.length > 0, fresh: hasFreshSecondFactor(session.idToken) }
  }
  type Person = NonNullable<Awaited<ReturnType<typeof signedIn>>>

  /** The only way in: no password, and this is the single link. */
  const isOnlyWayIn = (person: Person) => !person.hasPassword && person.links.length <= 1

  router.get(LINKED, async (ctx) => {
    const person = await signedIn(ctx)
    if (!person) return
    const done = typeof ctx.query.done === 'string' && ctx.query.done in NOTICES ? ctx.query.done as keyof typeof NOTICES : undefined
    const i18n = pages.i18n(ctx, 'account-linked')
    page(ctx, 'account-linked', {
      notice: done && (done !== 'confirmed' || person.fresh) ? i18n.t(NOTICES[done]) : undefined,
      links: person.links.map((l) => ({
        id: l.id, provider: federation.nameOf(l.provider), email: l.email, linked: when(i18n, l.createdAt), lastUsed: when(i18n, l.lastLoginAt),
        removable: !isOnlyWayIn(person),
      })),
      stepUpFirst: person.hasFactors && !person.fresh,
    })
  })

  router.post(`${LINKED}/:id/remove`, async (ctx) => {
    const person = await signedIn(ctx)
    if (!person) return
    const id = linkId.safeParse(ctx.params.id)
    const link = id.success ? person.links.find((l) => l.id === id.data) : undefined
    const record = (outcome: 'success' | 'failure', details: Record<string, unknown>) =>
      audit.record(ctx, { type: 'federation_link_removed', outcome, userId: person.id, clientId: ACCOUNT_CLIENT_ID, details })
    if (!link) {
      await record('failure', { reason: 'not_found' })
      return errorPage(ctx, 404, NOT_FOUND)
    }
    if (isOnlyWayIn(person)) {
      await record('failure', { upstream: link.provider, reason: 'only_sign_in_method' })
      return errorPage(ctx, 400, { title: 'account.linkedOnlyWayTitle', message: 'account.linkedOnlyWayMessage', back: 'account.linkedBack', values: { provider: federation.nameOf(link.provider) } })
    }
    if (person.hasFactors && !person.fresh) {
      await record('failure', { upstream: link.provider, reason: 'step_up_required' })
      ctx.status = 303
      return ctx.redirect(`/account/login?stepup=1&return=${encodeURIComponent(`${LINKED}?done=confirmed`)}`)
    }
    if (!(await deleteFederatedLinkOfUser(prisma, link.id, person.id))) return errorPage(ctx, 404, NOT_FOUND)
    const stillLinked = person.links.some((l) => l.id !== link.id && l.provider === link.provider)
    const rolesRemoved = stillLinked ? [] : await removeFederatedRoles(prisma, person.id, link.provider)
    await record('success', { upstream: link.provider, subject: link.subject, rolesRemoved })
    ctx.status = 303
    ctx.redirect(`${LINKED}?done=removed`)
  })
}
