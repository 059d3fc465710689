// After a password sign-in, the offer to create a passkey (docs/adr/0400-passwordless-passkeys.md):
// a page between the password and the rest of the sign-in, for people who have no second factor
// yet, whose browser has a passkey built in (the login page's script says so), signing in to an
// application (not the account area, which has its own page for this). "Create a passkey" runs the
// registration ceremony (interactions/assets/webauthn.js) and shows the backup codes; "Not now"
// goes on with the sign-in and the offer is not made again for 30 days.
//
//   POST /interaction/:uid/passkey-offer/options   JSON {csrf}            → PublicKeyCredentialCreationOptionsJSON
//   POST /interaction/:uid/passkey-offer/create    form {csrf, response}  → the backup codes page, or this page with the error
//   POST /interaction/:uid/passkey-offer/continue  form {csrf}            → the client (MFA acr: password and the new passkey)
//   POST /interaction/:uid/passkey-offer/decline   form {csrf}            → the rest of the sign-in (the MFA policy)
//
// The offer never stands in the way: it is made only when everything it needs could be read, and
// "Not now" works without JavaScript. Like the MFA step's enrolment, the passkey is stored only if
// the account still has no second factor when it is written (addVerifiedFactor asFirst): a
// password alone must not add a factor next to an existing one.
import type { Context } from 'koa'
import { z } from 'zod'
import { ACCOUNT_CLIENT_ID } from '../account/relying-party.ts'
import { regenerateBackupCodes } from '../mfa/backup-codes.ts'
import { hasSecondFactor } from '../mfa/factors.ts'
import { registrationOptions, verifyRegistration } from '../mfa/webauthn.ts'
import { findPasskeyOfferDeclinedAt, recordPasskeyOfferDeclined } from '../queries/passkey-offer.ts'
import { findUserById } from '../queries/users.ts'
import type { SecretBox } from '../security/encryption.ts'
import { pageText } from '../pages/page-text.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import { mfaLoginResult } from './mfa.ts'
import type { InteractionState } from './state.ts'
import type { InteractionStep } from './steps.ts'

/** The key of the interaction's result holding the pending offer (the interaction has no state then). */
export const PASSKEY_OFFER_KEY = 'iam:passkey-offer'
/** How long "Not now" holds. */
export const OFFER_AGAIN_AFTER_MS = 30 * 24 * 3600 * 1000

interface PendingOffer {
  accountId: string
  /** What the person proved (['pwd']), for the sign-in that follows. */
  amr: string[]
  /** The passkey was created and the backup codes shown: waiting for Continue. */
  created?: boolean
}

const answerForm = z.object({ response: z.string().max(60_000).optional() })

/** The offer this interaction is at, if any. */
export function offerOf(details: Details): PendingOffer | undefined {
  const value = (details.result as Record<string, unknown> | undefined)?.[PASSKEY_OFFER_KEY] as PendingOffer | undefined
  return value && typeof value.accountId === 'string' && Array.isArray(value.amr) ? value : undefined
}

export interface PasskeyOfferHooks {
  /** After the password: the MFA policy decides (mfa.ts). */
  afterPrimary(ctx: Context, details: Details, accountId: string, amr: string[]): Promise<void>
}

export function createPasskeyOfferStep(kit: InteractionKit, deps: { settings: { webauthnRpId?: string | undefined }; box: SecretBox }, hooks: PasskeyOfferHooks): InteractionStep & {
  /**
   * After a right password (the login step): makes the offer and answers (true) when it applies,
   * else false and the sign-in goes on. `capable`: the login page's script found a passkey built
   * into this device.
   */
  offer(ctx: Context, details: Details, accountId: string, amr: string[], capable: boolean): Promise<boolean>
} {
  const { prisma, audit, provider, page, finish, clientName, siteName } = kit
  const origin = new URL(provider.issuer).origin
  const rpId = deps.settings.webauthnRpId ?? new URL(provider.issuer).hostname

  async function keepOffer(ctx: Context, offer: PendingOffer) {
    await provider.interactionResult(ctx.req, ctx.res, { [PASSKEY_OFFER_KEY]: offer }, { mergeWithLastSubmission: false })
  }

  async function render(ctx: Context, details: Details, error?: string) {
    const uid = details.uid
    page(ctx, 'passkey-offer', {
      client: await clientName(details), error,
      optionsAction: `/interaction/${uid}/passkey-offer/options`, action: `/interaction/${uid}/passkey-offer/create`,
      declineAction: `/interaction/${uid}/passkey-offer/decline`,
    })
  }

  async function applies(details: Details, state: InteractionState | undefined) {
    return details.prompt.name === 'login' && state === undefined && offerOf(details) !== undefined
  }
  const waiting = async (details: Details, state: InteractionState | undefined) => (await applies(details, state)) && !offerOf(details)!.created
  const created = async (details: Details, state: InteractionState | undefined) => (await applies(details, state)) && offerOf(details)!.created === true

  async function shouldOffer(details: Details, accountId: string): Promise<boolean> {
    if (String(details.params.client_id) === ACCOUNT_CLIENT_ID) return false
    if (await hasSecondFactor(prisma, accountId)) return false
    const declined = await findPasskeyOfferDeclinedAt(prisma, accountId)
    return !declined || kit.clock.now() - declined.getTime() >= OFFER_AGAIN_AFTER_MS
  }

  return {
    name: 'passkey-offer',
    applies,
    async offer(ctx, details, accountId, amr, capable) {
      if (!capable) return false
      try {
        if (!(await shouldOffer(details, accountId))) return false
      } catch (err) {
        // The offer is a nicety: when it cannot be worked out, the sign-in goes on without it.
        kit.logger.warn({ err }, 'passkey offer skipped')
        return false
      }
      await keepOffer(ctx, { accountId, amr })
      ctx.status = 303
      ctx.redirect(`/interaction/${details.uid}`)
      return true
    },
    async render(ctx, details) {
      if (offerOf(details)!.created) {
        // The codes were shown once, in the answer to the creation.
        return page(ctx, 'mfa-backup-codes', { codes: undefined, action: `/interaction/${details.uid}/passkey-offer/continue` })
      }
      return render(ctx, details)
    },
    routes: [
      {
        method: 'post', path: '/:uid/passkey-offer/options', when: waiting,
        refuse: (ctx, details) => {
          ctx.set('Cache-Control', 'no-store')
          ctx.status = 409
          ctx.body = { error: 'This step is over. Reload the page to continue.', redirect: `/interaction/${details.uid}` }
        },
        async handle(ctx, details) {
          ctx.set('Cache-Control', 'no-store')
          const user = await findUserById(prisma, offerOf(details)!.accountId)
          if (!user) {
            ctx.status = 409
            ctx.body = { redirect: `/interaction/${details.uid}` }
            return
          }
          ctx.body = await registrationOptions(prisma, { userId: user.id, userName: user.email, userDisplayName: user.displayName ?? user.email, rpId, rpName: siteName }, kit.clock)
        },
      },
      {
        method: 'post', path: '/:uid/passkey-offer/create', when: waiting,
        async handle(ctx, details) {
          const { t } = pageText(ctx)
          const offer = offerOf(details)!
          const clientId = String(details.params.client_id)
          const form = answerForm.safeParse(formBody(ctx))
          if (!form.success || !form.data.response) {
            ctx.status = 400
            return render(ctx, details, t('passkey.offerNoScript'))
          }
          let response: unknown
          try {
            response = JSON.parse(form.data.response)
          } catch {
            response = undefined // answered 'malformed'
          }
          const result = await verifyRegistration(prisma, { userId: offer.accountId, response, rpId, origin, asFirst: true }, kit.clock)
          if (!result.ok) {
            await audit.record(ctx, { type: 'mfa_enrol', outcome: 'failure', userId: offer.accountId, clientId, details: { method: 'webauthn', via: 'passkey_offer', reason: result.reason } })
            // Another second factor appeared meanwhile: this one may not be added on the password alone.
            if (result.reason === 'not_first') return hooks.afterPrimary(ctx, details, offer.accountId, offer.amr)
            ctx.status = 400
            return render(ctx, details, result.reason === 'already_registered' ? t('passkey.offerAlready') : t('passkey.offerFailed'))
          }
          await audit.record(ctx, { type: 'mfa_enrol', outcome: 'success', userId: offer.accountId, clientId, details: { method: 'webauthn', via: 'passkey_offer', factorId: result.factorId } })
          // The first second factor comes with backup codes, shown in this answer only.
          const codes = await regenerateBackupCodes(prisma, deps.box, offer.accountId)
          await audit.record(ctx, { type: 'backup_codes_generated', outcome: 'success', userId: offer.accountId, clientId, details: { reason: 'first_factor', count: codes.length } })
          await keepOffer(ctx, { ...offer, created: true })
          return page(ctx, 'mfa-backup-codes', { codes, action: `/interaction/${details.uid}/passkey-offer/continue` })
        },
      },
      {
        method: 'post', path: '/:uid/passkey-offer/continue', when: created,
        // The password, then a passkey made and used in this very ceremony: two factors, as after
        // the MFA step's enrolment.
        handle: (ctx, details) => finish(ctx, mfaLoginResult(offerOf(details)!, 'webauthn')),
      },
      {
        method: 'post', path: '/:uid/passkey-offer/decline', when: waiting,
        async handle(ctx, details) {
          const offer = offerOf(details)!
          await recordPasskeyOfferDeclined(prisma, offer.accountId, kit.clock.date())
          await audit.record(ctx, { type: 'passkey_offer_declined', outcome: 'success', userId: offer.accountId, clientId: String(details.params.client_id) })
          return hooks.afterPrimary(ctx, details, offer.accountId, offer.amr)
        },
      },
    ],
  }
}
