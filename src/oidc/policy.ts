// The interaction policy: oidc-provider's login and consent prompts, plus an `mfa` prompt between
// them. Because it is a prompt check, it applies to every authorization request, including ones
// inside an existing session (a password-only session steps up when a client asks for MFA), and
// prompt=none answers interaction_required when a second factor is missing.
import { errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { clientMfaFacts, userMfaFacts } from '../mfa/factors.ts'
import { mfaFactsOfAccount } from './account.ts'
import { mfaMaxAge, mfaReason, sessionSatisfiesMfa } from '../mfa/requirement.ts'
import { ACR_VALUES } from '../mfa/acr.ts'

const { Check, Prompt, base } = interactionPolicy

export async function mfaNeeded(prisma: Db, ctx: KoaContextWithOIDC): Promise<boolean> {
  const { session, client, params } = ctx.oidc
  if (!session?.accountId || !client) return false // the login prompt comes first
  const user = mfaFactsOfAccount(ctx.oidc.account, session.accountId) ?? await userMfaFacts(prisma, session.accountId)
  const facts = { ...user, ...clientMfaFacts(client), params: params ?? {} }
  if (!mfaReason(facts)) return false
  return !sessionSatisfiesMfa({ acr: session.acr, authTime: session.authTime() }, mfaMaxAge(facts))
}

/**
 * OIDC Core §5.5.1.1: when the acr claim is requested as essential and none of the values asked
 * for is one we issue, the authentication fails (unmet_authentication_requirements, OpenID Connect
 * Core Unmet Authentication Requirements 1.0), before any page asks the person for anything.
 * acr_values is voluntary and never fails.
 */
function refuseUnsatisfiableEssentialAcr(ctx: KoaContextWithOIDC): boolean {
  const requested = ctx.oidc.claims?.id_token?.acr as { essential?: boolean; value?: unknown; values?: unknown } | null | undefined
  if (!requested?.essential) return Check.NO_NEED_TO_PROMPT
  const asked = [...(Array.isArray(requested.values) ? requested.values : []), ...(requested.value !== undefined ? [requested.value] : [])]
  if (!asked.length || asked.some((v) => (ACR_VALUES as readonly unknown[]).includes(v))) return Check.NO_NEED_TO_PROMPT
  throw new errors.UnmetAuthenticationRequirements('none of the essential acr values requested can be satisfied')
}

/**
 * prompt=login: the person must sign in within this authorization request. oidc-provider's own
 * check counts only the last interaction's result, so after a first consent (a second interaction,
 * started by the sign-in's resume) it asked for the password and the second factor again. The
 * interaction being resumed keeps the sign-in that started it as its lastSubmission: a sign-in of
 * the session's account there resolves the prompt.
 */
function loginPromptPending(ctx: KoaContextWithOIDC): boolean {
  const { oidc } = ctx
  if (!oidc.prompts.has('login') || !oidc.promptPending('login')) return Check.NO_NEED_TO_PROMPT
  const earlier = (oidc.entities.Interaction as { lastSubmission?: { login?: { accountId?: string } } } | undefined)?.lastSubmission?.login
  if (oidc.route.endsWith('resume') && earlier?.accountId !== undefined && earlier.accountId === oidc.session?.accountId) return Check.NO_NEED_TO_PROMPT
  return Check.REQUEST_PROMPT
}

export function createInteractionPolicy(prisma: Db) {
  const policy = base()
  policy.get('login')!.checks.remove('login_prompt')
  policy.get('login')!.checks.unshift(new Check('login_prompt', 'login prompt was not resolved', 'login_required', loginPromptPending))
  policy.get('login')!.checks.unshift(new Check('unsatisfiable_essential_acr', 'none of the essential acr values requested can be satisfied', refuseUnsatisfiableEssentialAcr))
  // Requested acrs are ours to satisfy with the mfa prompt (a password alone never gives the MFA
  // acr); the login prompt would otherwise ask for the password again to no avail.
  policy.get('login')!.checks.remove('essential_acr')
  policy.get('login')!.checks.remove('essential_acrs')
  policy.add(new Prompt(
    { name: 'mfa', requestable: false },
    new Check('mfa_required', 'a second factor is required', 'interaction_required', async (ctx) =>
      (await mfaNeeded(prisma, ctx)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT),
  ), 1)
  return policy
}
