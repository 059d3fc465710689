// The federation step of the login prompt: "Sign in with {upstream}" buttons and home-realm
// discovery send the browser upstream; the callback validates the answer, finds or provisions the
// local account (or asks for its password once, to link it), syncs mapped roles, and hands over to
// the MFA step like a password would.
//
// Routes:
//   POST /interaction/:uid/federation/:id        start (button, "Try again")
//   GET  /federation/:id/callback                the registered redirect URI: 303 into the interaction
//   GET  /interaction/:uid/federation/callback   the callback inside the interaction
//   POST /interaction/:uid/federation/:id/link   proves the local account's password, links it
//   POST /interaction/:uid/use-password          "Use your password": the password form, no home-realm redirect
//
// The upstream's redirect URI is outside /interaction/:uid because the interaction cookie is
// path-scoped there; the state `{uid}.{random}` says which interaction to go back to, and the random
// part must match the one this interaction stored (server-side) before anything is redeemed.
import { timingSafeEqual } from 'node:crypto'
import Router from '@koa/router'
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import { z } from 'zod'
import type { AuditWriter } from '../audit/audit.ts'
import { pageContext, renderPage } from '../pages/render.ts'
import { pageText } from '../pages/page-text.ts'
import { spellWait } from '../i18n/durations.ts'
import { translator, type Translator } from '../i18n/catalogs.ts'
import { authenticateWithPassword, MAX_PASSWORD_LENGTH } from '../identity/users.ts'
import { passwordGuard } from '../security/lockout.ts'
import { tooManyRequests } from '../security/rate-limits.ts'
import { FederationFailure, safeCode } from '../federation/failure.ts'
import { createLink, recordFederatedSignIn, resolveAccount } from '../federation/linking.ts'
import { newAuthorizationSecrets } from '../federation/protocol.ts'
import { mappedRoleNames, syncFederatedRoles } from '../federation/role-sync.ts'
import { emailDomain, normalizeDomain, type Federation } from '../federation/upstreams.ts'
import { federationRedirectUri, type Upstream, type UpstreamIdentity } from '../federation/upstream.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import type { SecretBox } from '../security/encryption.ts'
import { verifyTotp } from '../mfa/totp.ts'
import { isUniqueViolation } from '../queries/errors.ts'
import { findFederatedLink } from '../queries/federated-identities.ts'
import { findVerifiedTotpFactor } from '../queries/mfa-factors.ts'
import { findUserById, setLastLoginAt } from '../queries/users.ts'
import { ofKind, stateOfResult, type FederationState, type InteractionState, type PendingAuthorization, type PendingLink } from './state.ts'
import type { InteractionStep } from './steps.ts'

/** Wrong passwords on the link page before it closes (the person starts again). */
const MAX_LINK_ATTEMPTS = 5
const NO_RETRY = new Set(['no_account', 'account_disabled', 'tenant_not_allowed'])

export interface FederationHooks {
  afterPrimary(ctx: Context, details: Details, accountId: string, amr: string[]): Promise<void>
  /** Opens authenticator-app seeds, for linking an account that has no password. */
  box: SecretBox
}

// A refused field is answered with federation.enterPassword or federation.enterCode, in the page's language.
const linkForm = z.object({ password: z.string().min(1).max(MAX_PASSWORD_LENGTH) })
const linkCodeForm = z.object({ code: z.string().trim().min(1).max(16) })

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** What a person is told for each failure (the reason is also audited). */
function describeFailure(tr: Translator, failure: FederationFailure, name: string): { status: number; title: string; message: string; detail?: string | undefined } {
  switch (failure.reason) {
    case 'upstream_error': {
      const error = typeof failure.details.error === 'string' ? failure.details.error : undefined
      return error === 'access_denied'
        ? { status: 400, title: tr.t('federation.notSignedInTitle'), message: tr.t('federation.cancelledMessage', { name }), detail: error }
        : { status: 400, title: tr.t('federation.notSignedInTitle'), message: tr.t('federation.upstreamErrorMessage', { name }), detail: error }
    }
    case 'state_mismatch':
      return { status: 400, title: tr.t('federation.notAcceptedTitle'), message: tr.t('federation.stateMismatchMessage', { name }) }
    case 'tenant_not_allowed':
      return { status: 403, title: tr.t('federation.tenantTitle'), message: tr.t('federation.tenantMessage') }
    case 'issuer_mismatch':
    case 'token_invalid':
      return { status: 400, title: tr.t('federation.notVerifiedTitle'), message: tr.t('federation.notVerifiedMessage', { name }) }
    case 'upstream_unreachable':
      return { status: 502, title: tr.t('federation.unreachableTitle', { name }), message: tr.t('federation.unreachableMessage', { name }) }
    case 'graph_failed':
      return { status: 502, title: tr.t('federation.graphTitle'), message: tr.t('federation.graphMessage', { name }) }
    case 'no_account':
      return { status: 403, title: tr.t('federation.noAccountTitle'), message: tr.t('federation.noAccountMessage') }
    case 'account_disabled':
      return { status: 403, title: tr.t('federation.disabledTitle'), message: tr.t('federation.disabledMessage') }
    case 'link_required':
      return failure.details.why === 'too_many_attempts'
        ? { status: 400, title: tr.t('federation.notLinkedTitle'), message: tr.t('federation.notLinkedMessage') }
        : { status: 409, title: tr.t('federation.linkTitle'), message: tr.t('federation.linkNoProofMessage', { name }) }
  }
}

const atLogin = (details: Details) => details.prompt.name === 'login'

/**
 * The federation step of the login prompt: its routes send the browser upstream and take the
 * answer back; its page is the link page, while an upstream identity waits for the local
 * account's proof.
 */
export function createFederationStep(kit: InteractionKit, federation: Federation, hooks: FederationHooks): InteractionStep & {
  /** The buttons on the login page. */
  buttons(details: Details, tr?: Translator): Array<{ label: string; action: string }>
  /** Whether typing a work email leads to an upstream (the login page says so). */
  homeRealmByEmail: boolean
  /** A login_hint or domain_hint of an upstream's domain goes straight there, once per interaction. */
  startFromHints(ctx: Context, details: Details): Promise<boolean>
  /** An email typed on the login page whose domain belongs to an upstream goes there, not to the password check. */
  startFromTypedLogin(ctx: Context, details: Details, login: string): Promise<boolean>
} {
  const { provider, prisma, audit, page, readState, logger } = kit

  const stateOf = (details: Details): FederationState => ofKind(readState(details), 'federation') ?? { step: 'federation' }
  const linkOf = (state: InteractionState | undefined) => ofKind(state, 'federation')?.link
  const clientIdOf = (details: Details) => String(details.params.client_id)
  const redirectUriOf = (upstream: Upstream) => federationRedirectUri(provider.issuer, upstream.settings.id)

  /** Stores the federation state in the interaction (server-side) without leaving this response. */
  const persist = (ctx: Context, next: FederationState) => kit.keepState(ctx, next)

  /** Audits the failure and shows what happened, with Try again / Use your password / Cancel. */
  async function fail(ctx: Context, details: Details, upstream: Upstream | undefined, failure: FederationFailure, userId?: string) {
    const tr = pageText(ctx)
    const name = upstream?.settings.name ?? tr.t('federation.someUpstream')
    await audit.record(ctx, {
      type: 'federation_failure', outcome: 'failure', userId, clientId: clientIdOf(details),
      details: { upstream: upstream?.settings.id, reason: failure.reason, ...failure.details },
    })
    // The library's message helps operators (it never holds tokens or codes); people get the page.
    logger.warn({ reqId: ctx.state.requestId, upstream: upstream?.settings.id, reason: failure.reason, error: failure.message }, 'federated sign-in failed')
    const view = describeFailure(tr, failure, name)
    ctx.status = view.status
    page(ctx, 'federation-error', {
      title: view.title, message: view.message, detail: view.detail, requestId: ctx.state.requestId,
      upstreamName: name,
      // Trying the same upstream again helps with transient failures, not with a refusal.
      retryAction: upstream && !NO_RETRY.has(failure.reason) && failure.details.why !== 'no_password'
        ? `/interaction/${details.uid}/federation/${upstream.settings.id}` : undefined,
      passwordAction: `/interaction/${details.uid}/use-password`,
      abortAction: `/interaction/${details.uid}/abort`,
    })
  }

  function wantsFreshLogin(details: Details): boolean {
    return String(details.params.prompt ?? '').split(' ').includes('login') || String(details.params.max_age ?? '') === '0'
  }

  /** Sends the browser to the upstream with a fresh state, nonce and PKCE verifier kept in the interaction. */
  async function start(ctx: Context, details: Details, upstream: Upstream, via: string, hints: { loginHint?: string | undefined; domainHint?: string | undefined } = {}) {
    const secrets = await newAuthorizationSecrets()
    let url: URL
    try {
      url = await upstream.authorizationUrl({
        redirectUri: redirectUriOf(upstream), state: `${details.uid}.${secrets.state}`, nonce: secrets.nonce, codeChallenge: secrets.codeChallenge,
        loginHint: hints.loginHint, domainHint: hints.domainHint, forceLogin: wantsFreshLogin(details),
      })
    } catch (err) {
      if (!(err instanceof FederationFailure)) throw err
      await persist(ctx, { ...stateOf(details), pending: undefined, link: undefined, hintUsed: true })
      return fail(ctx, details, upstream, err)
    }
    const pending: PendingAuthorization = { upstream: upstream.settings.id, state: secrets.state, nonce: secrets.nonce, codeVerifier: secrets.codeVerifier }
    await persist(ctx, { ...stateOf(details), pending, link: undefined, hintUsed: true })
    await audit.record(ctx, { type: 'federation_start', outcome: 'success', clientId: clientIdOf(details), details: { upstream: upstream.settings.id, via } })
    ctx.status = 303
    ctx.redirect(url.href)
  }

  /** After the upstream (and, for a link, the password): roles, audit, then the MFA step. */
  async function complete(ctx: Context, details: Details, upstream: Upstream, input: { userId: string; roles: string[]; mfa: boolean; auditFacts: Record<string, string>; method: string; amr: string[] }) {
    const clientId = clientIdOf(details)
    const changes = await syncFederatedRoles(prisma, input.userId, upstream.settings.id, input.roles)
    if (changes.added.length || changes.removed.length) {
      await audit.record(ctx, { type: 'federation_roles_synced', outcome: 'success', userId: input.userId, clientId, details: { upstream: upstream.settings.id, ...changes } })
    }
    // The upstream's MFA counts only when this upstream is trusted for it (trustMfa).
    const upstreamMfa = upstream.settings.trustMfa && input.mfa
    await audit.record(ctx, { type: 'federation_success', outcome: 'success', userId: input.userId, clientId, details: { upstream: upstream.settings.id, method: input.method, upstreamMfa, ...input.auditFacts } })
    return hooks.afterPrimary(ctx, details, input.userId, [...new Set(['fed', ...input.amr, ...(upstreamMfa ? ['mfa'] : [])])])
  }

  /** The upstream said who this is: find the account, or provision it, or ask to link. */
  async function continueWith(ctx: Context, details: Details, upstream: Upstream, identity: UpstreamIdentity) {
    const roles = mappedRoleNames(upstream.settings.roleMapping, identity)
    const facts = { ...identity.auditFacts, subject: identity.subject }
    const resolution = await resolveAccount(prisma, upstream.settings, identity, kit.clock)
    switch (resolution.kind) {
      case 'disabled':
        return fail(ctx, details, upstream, new FederationFailure('account_disabled', 'linked account is disabled', facts), resolution.userId)
      case 'no_account':
        return fail(ctx, details, upstream, new FederationFailure('no_account', 'no local account', { ...facts, why: resolution.why }))
      case 'link_required': {
        if (resolution.proof === 'none') return fail(ctx, details, upstream, new FederationFailure('link_required', 'local account has no password or authenticator app to prove', { ...facts, why: 'no_password' }), resolution.userId)
        await audit.record(ctx, { type: 'federation_failure', outcome: 'failure', userId: resolution.userId, clientId: clientIdOf(details), details: { upstream: upstream.settings.id, reason: 'link_required', ...facts } })
        const link: PendingLink = {
          upstream: upstream.settings.id, subject: identity.subject, userId: resolution.userId, email: resolution.email,
          upstreamEmail: identity.email, roles, mfa: identity.mfa, auditFacts: identity.auditFacts, attempts: 0, proof: resolution.proof,
        }
        await persist(ctx, { ...stateOf(details), pending: undefined, link })
        ctx.status = 303
        return ctx.redirect(`/interaction/${details.uid}`)
      }
      case 'provisioned':
        await audit.record(ctx, { type: 'federation_jit_created', outcome: 'success', userId: resolution.userId, clientId: clientIdOf(details), details: { upstream: upstream.settings.id, tenant: resolution.tenant, roles: resolution.roles, emailVerified: identity.emailVerified, ...facts } })
        return complete(ctx, details, upstream, { userId: resolution.userId, roles, mfa: identity.mfa, auditFacts: facts, method: 'provisioned', amr: [] })
      case 'linked':
        await recordFederatedSignIn(prisma, resolution.linkId, resolution.userId, identity.email, kit.clock)
        return complete(ctx, details, upstream, { userId: resolution.userId, roles, mfa: identity.mfa, auditFacts: facts, method: 'linked', amr: [] })
    }
  }

  function renderLink(ctx: Context, details: Details, link: PendingLink, error?: string) {
    page(ctx, 'federation-link', {
      upstreamName: federation.nameOf(link.upstream), email: link.email, error, proof: link.proof ?? 'password',
      action: `/interaction/${details.uid}/federation/${link.upstream}/link`,
      passwordAction: `/interaction/${details.uid}/use-password`,
      abortAction: `/interaction/${details.uid}/abort`,
    })
  }

  async function startByButton(ctx: Context, details: Details) {
    const upstream = federation.get(ctx.params.id!)
    if (!upstream) return ctx.throw(404, pageText(ctx).t('federation.unknownOption'))
    return start(ctx, details, upstream, 'button')
  }

  async function callback(ctx: Context, details: Details) {
    const saved = stateOf(details)
    const pending = saved.pending
    const upstream = pending ? federation.get(pending.upstream) : undefined
    const returnedState = typeof ctx.query.state === 'string' ? ctx.query.state : ''
    if (!pending || !upstream || !sameString(returnedState, `${details.uid}.${pending.state}`)) {
      return fail(ctx, details, upstream, new FederationFailure('state_mismatch', 'callback state is not the pending one', { check: pending ? 'state' : 'nothing_pending' }))
    }
    // Used once: a replay of this callback finds nothing pending.
    await persist(ctx, { ...saved, pending: undefined })

    if (ctx.query.error !== undefined) {
      return fail(ctx, details, upstream, new FederationFailure('upstream_error', 'the upstream returned an error', { error: safeCode(ctx.query.error) ?? 'unreadable' }))
    }
    const redirectUri = redirectUriOf(upstream)
    const callbackUrl = new URL(redirectUri)
    callbackUrl.search = ctx.querystring
    let identity: UpstreamIdentity
    try {
      identity = await upstream.signIn(callbackUrl, redirectUri, { state: returnedState, nonce: pending.nonce, codeVerifier: pending.codeVerifier })
    } catch (err) {
      if (!(err instanceof FederationFailure)) throw err
      return fail(ctx, details, upstream, err)
    }
    return continueWith(ctx, details, upstream, identity)
  }

  async function proveAndLink(ctx: Context, details: Details) {
    const saved = stateOf(details)
    const link = saved.link!
    const upstream = federation.get(link.upstream)
    if (!upstream || link.upstream !== ctx.params.id) return ctx.redirect(`/interaction/${details.uid}`)
    const clientId = clientIdOf(details)
    const byCode = link.proof === 'totp'
    const parsed = byCode ? linkCodeForm.safeParse(formBody(ctx)) : linkForm.safeParse(formBody(ctx))
    if (!parsed.success) {
      ctx.status = 400
      return renderLink(ctx, details, link, byCode ? pageText(ctx).t('federation.enterCode') : pageText(ctx).t('federation.enterPassword'))
    }
    const user = await findUserById(prisma, link.userId)
    if (!user || user.status !== 'active') {
      await persist(ctx, { ...saved, link: undefined })
      return fail(ctx, details, upstream, new FederationFailure('account_disabled', 'account to link is disabled or gone'), link.userId)
    }
    // Guessing here is guessing the account's password (or code): the same limits as signing in.
    const limitKeys = { ip: ctx.ip, account: byCode ? user.id : user.email }
    const limited = await kit.limits.consume(byCode ? 'codeVerify' : 'signIn', limitKeys, { ctx, userId: user.id, clientId })
    if (!limited.ok) {
      tooManyRequests(ctx, limited.retryAfter)
      const tr = pageText(ctx)
      const wait = spellWait(limited.retryAfter, tr.locale)
      return renderLink(ctx, details, link, byCode ? tr.t('federation.tooManyCodes', { wait }) : tr.t('federation.tooManyAttempts', { wait }))
    }
    const proof = await proveLocalAccount(ctx, user, parsed.data, clientId)
    if (proof !== 'proven') {
      const attempts = link.attempts + 1
      await audit.record(ctx, { type: 'federation_link_created', outcome: 'failure', userId: user.id, clientId, details: { upstream: link.upstream, reason: proof, attempts } })
      if (attempts >= MAX_LINK_ATTEMPTS) {
        await persist(ctx, { ...saved, link: undefined })
        return fail(ctx, details, upstream, new FederationFailure('link_required', 'too many wrong passwords on the link page', { why: 'too_many_attempts' }), user.id)
      }
      await persist(ctx, { ...saved, link: { ...link, attempts } })
      ctx.status = 400
      // A locked account reads like a wrong password, as on the sign-in page.
      return renderLink(ctx, details, { ...link, attempts }, byCode ? pageText(ctx).t('federation.codeWrong') : pageText(ctx).t('federation.linkPasswordRefused'))
    }
    await kit.limits.succeeded(byCode ? 'codeVerify' : 'signIn', limitKeys)
    try {
      await createLink(prisma, { provider: link.upstream, subject: link.subject, userId: user.id, email: link.upstreamEmail })
    } catch (err) {
      // A double submit linked it already; anything else (linked to someone else meanwhile) is an error.
      const existing = isUniqueViolation(err) ? await findFederatedLink(prisma, link.upstream, link.subject) : null
      if (existing?.userId !== user.id) throw err
    }
    await audit.record(ctx, { type: 'federation_link_created', outcome: 'success', userId: user.id, clientId, details: { upstream: link.upstream, subject: link.subject, ...link.auditFacts } })
    await setLastLoginAt(prisma, user.id, kit.clock.date())
    return complete(ctx, details, upstream, { userId: user.id, roles: link.roles, mfa: link.mfa, auditFacts: { ...link.auditFacts, subject: link.subject }, method: 'link', amr: byCode ? ['otp', 'mfa'] : ['pwd'] })
  }

  /**
   * The password, or for an account without one its authenticator app's current code (accepted
   * once). A code is a second factor on top of the upstream sign-in, so that link finishes as MFA.
   */
  async function proveLocalAccount(ctx: Context, user: { id: string }, form: { password?: string; code?: string }, clientId: string): Promise<'proven' | 'invalid_password' | 'locked' | 'invalid_code'> {
    if (form.password !== undefined) {
      // Counts towards the account's lockout, and a locked account is refused here too.
      const result = await authenticateWithPassword(prisma, { userId: user.id }, form.password, passwordGuard(kit, ctx, clientId))
      return result.ok ? 'proven' : result.reason === 'locked' ? 'locked' : 'invalid_password'
    }
    const factor = await findVerifiedTotpFactor(prisma, user.id)
    return factor && form.code !== undefined && (await verifyTotp(prisma, hooks.box, factor, form.code)).ok ? 'proven' : 'invalid_code'
  }

  async function usePassword(ctx: Context, details: Details) {
    if (atLogin(details)) await persist(ctx, { step: 'federation', passwordChosen: true, hintUsed: true })
    ctx.status = 303
    ctx.redirect(`/interaction/${details.uid}`)
  }

  return {
    name: 'federation',
    applies: (details, state) => atLogin(details) && linkOf(state) !== undefined,
    /** The link page, while an upstream identity waits for the local account's proof. */
    async render(ctx, details, state) {
      renderLink(ctx, details, linkOf(state)!)
    },
    routes: [
      { method: 'post', path: '/:uid/federation/:id', when: atLogin, handle: startByButton },
      { method: 'get', path: '/:uid/federation/callback', when: atLogin, handle: callback },
      { method: 'post', path: '/:uid/federation/:id/link', when: 'step', handle: proveAndLink },
      // Always answers with the interaction; remembers the choice at the login prompt.
      { method: 'post', path: '/:uid/use-password', when: () => true, handle: usePassword },
    ],

    /** `tr`: the login page's language (English by default). */
    buttons(details: Details, tr: Translator = translator('en')) {
      return federation.upstreams.map((u) => ({ label: tr.t('federation.signInWith', { name: u.settings.name }), action: `/interaction/${details.uid}/federation/${u.settings.id}` }))
    },
    homeRealmByEmail: federation.upstreams.some((u) => u.settings.domains.length > 0),

    async startFromHints(ctx: Context, details: Details): Promise<boolean> {
      const saved = stateOf(details)
      if (saved.hintUsed || saved.passwordChosen || details.prompt.name !== 'login') return false
      const loginHint = typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined
      const domainHint = typeof details.params.domain_hint === 'string' ? details.params.domain_hint : undefined
      const byDomain = domainHint ? federation.forDomain(domainHint) : undefined
      const upstream = byDomain ?? (loginHint ? federation.forEmail(loginHint) : undefined)
      if (!upstream) return false
      await start(ctx, details, upstream, byDomain ? 'domain_hint' : 'login_hint', {
        loginHint: loginHint && emailDomain(loginHint) ? loginHint : undefined,
        domainHint: (domainHint && normalizeDomain(domainHint)) ?? (loginHint ? emailDomain(loginHint) : undefined),
      })
      return true
    },

    async startFromTypedLogin(ctx: Context, details: Details, login: string): Promise<boolean> {
      if (stateOf(details).passwordChosen) return false
      const upstream = federation.forEmail(login)
      if (!upstream) return false
      await start(ctx, details, upstream, 'typed_email', { loginHint: login.trim(), domainHint: emailDomain(login) })
      return true
    },

  }
}

export interface FederationReturnDeps {
  provider: Provider
  federation: Federation
  audit: AuditWriter
  siteName: string
}

const STATE_FORMAT = /^([A-Za-z0-9_-]{1,128})\.[A-Za-z0-9_-]{1,256}$/

/**
 * The redirect URI registered upstream, GET /federation/:id/callback. It carries no cookie of the
 * interaction (that is scoped to /interaction/:uid), so it only finds the interaction from the
 * state and sends the browser there with the same query; the interaction validates everything.
 */
export function createFederationReturnRouter(deps: FederationReturnDeps): Router {
  const { provider, federation, audit, siteName } = deps
  const router = new Router()

  router.get('/federation/:id/callback', async (ctx) => {
    const upstream = federation.get(ctx.params.id!)
    const match = typeof ctx.query.state === 'string' ? STATE_FORMAT.exec(ctx.query.state) : null
    const refuse = async (check: string, clientId?: string) => {
      await audit.record(ctx, { type: 'federation_failure', outcome: 'failure', clientId, details: { upstream: upstream?.settings.id ?? ctx.params.id!.slice(0, 32), reason: 'state_mismatch', check } })
      ctx.status = 400
      ctx.set('Cache-Control', 'no-store')
      ctx.type = 'html'
      const tr = pageText(ctx)
      ctx.body = renderPage('error', pageContext(ctx, siteName), {
        title: tr.t('error.expiredTitle'),
        message: tr.t('federation.responseExpiredMessage'),
        requestId: ctx.state.requestId,
      })
    }
    if (!upstream || !match) return refuse(upstream ? 'state_format' : 'unknown_upstream')
    const uid = match[1]!
    // A replay after the sign-in finished finds no interaction: refused (and audited) here.
    const interaction = await provider.Interaction.find(uid)
    if (!interaction) return refuse('no_interaction')
    // Mix-up defence: the answer must come back through the upstream this sign-in was sent to.
    const pending = ofKind(stateOfResult(interaction.result), 'federation')?.pending
    if (pending && pending.upstream !== upstream.settings.id) return refuse('upstream_mismatch', String(interaction.params.client_id))
    ctx.status = 303
    ctx.redirect(`/interaction/${encodeURIComponent(uid)}/federation/callback?${ctx.querystring}`)
  })

  return router
}
