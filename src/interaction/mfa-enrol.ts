// The enrolment routes of the second-factor step: when MFA is required and the person has no
// second factor at all, they add an authenticator app or e-mail codes, see their backup codes,
// and continue. Which sub-step applies, and the pages, are the MFA step's (mfa.ts, ADR 0101);
// a factor is stored only while the account still has none (`asFirst`).
import { z } from 'zod'
import type { SecondFactorMethod } from '../mfa/acr.ts'
import { addVerifiedFactor } from '../mfa/factors.ts'
import { confirmTotpEnrolment, newTotpSecret } from '../mfa/totp.ts'
import { verifyCode } from '../mfa/codes.ts'
import { regenerateBackupCodes } from '../mfa/backup-codes.ts'
import { findUserById } from '../queries/users.ts'
import { formBody, type InteractionKit } from './kit.ts'
import { atMfaStep, codeForm, codeRefusal, enrolRefused, wrongCode, type MfaDeps, type MfaMachine } from './mfa.ts'
import { pageText } from '../pages/page-text.ts'
import type { MfaState } from './state.ts'
import type { InteractionStep } from './steps.ts'

const enrolForm = z.object({ kind: z.enum(['totp', 'email']) })

/** Its page is one of the MFA step's sub-steps (mfa.ts renders it), so it has none of its own here. */
export function createMfaEnrolStep(kit: InteractionKit, deps: MfaDeps, machine: MfaMachine): InteractionStep {
  const { prisma, audit, saveState, keepState: persist } = kit
  const { box } = deps
  const { route, render, sendCode, withinCodeVerifyLimit, finishWithMfa } = machine

  const enrol = route('/:uid/mfa/enrol', 'enrol', async (ctx, details, state) => {
    const parsed = enrolForm.safeParse(formBody(ctx))
    if (!parsed.success || (parsed.data.kind === 'email' && !deps.email)) {
      ctx.status = 400
      return render(ctx, details, state, { error: pageText(ctx).t('mfa.enrolChoose') })
    }
    if (parsed.data.kind === 'totp') {
      return saveState(ctx, details, { ...state, enrol: { kind: 'totp', sealedSecret: box.seal(newTotpSecret(), `enrol:${state.accountId}`) } })
    }
    const user = await findUserById(prisma, state.accountId)
    if (!(await sendCode(ctx, details, state, { ...state, enrol: { kind: 'email' } }, { purpose: 'enrol-email', destination: user!.email, kind: 'email' }))) return
    return saveState(ctx, details, { ...state, enrol: { kind: 'email' } })
  })

  const enrolVerify = route('/:uid/mfa/enrol/verify', 'enrolVerify', async (ctx, details, state) => {
    const clientId = String(details.params.client_id)
    const parsed = codeForm.safeParse(formBody(ctx))
    if (!state.enrol) return saveState(ctx, details, state)
    if (!parsed.success) {
      ctx.status = 400
      return render(ctx, details, state, { error: codeRefusal(ctx) })
    }
    if (!(await withinCodeVerifyLimit(ctx, details, state))) return
    let method: SecondFactorMethod
    // Stored only if the account still has no second factor (one may have been added meanwhile).
    const refuseNotFirst = async () => {
      await audit.record(ctx, { type: 'mfa_enrol', outcome: 'failure', userId: state.accountId, clientId, details: { method: state.enrol!.kind, reason: 'has_second_factor' } })
      ctx.status = 409
      return render(ctx, details, { ...state, enrol: undefined }, { error: enrolRefused(ctx) })
    }
    if (state.enrol.kind === 'totp') {
      const confirmed = await confirmTotpEnrolment(prisma, box, state.accountId, box.open(state.enrol.sealedSecret, `enrol:${state.accountId}`), parsed.data.code, { asFirst: true })
      if (!confirmed.ok && confirmed.reason === 'not_first') return refuseNotFirst()
      if (!confirmed.ok) {
        await audit.record(ctx, { type: 'mfa_enrol', outcome: 'failure', userId: state.accountId, clientId, details: { method: 'totp', reason: 'invalid' } })
        ctx.status = 400
        return render(ctx, details, state, { error: pageText(ctx).t('mfa.enrolTotpWrong') })
      }
      method = 'totp'
    } else {
      const result = await verifyCode(prisma, box, { userId: state.accountId, purpose: 'enrol-email', code: parsed.data.code }, kit.clock)
      if (!result.ok) {
        await audit.record(ctx, { type: 'mfa_enrol', outcome: 'failure', userId: state.accountId, clientId, details: { method: 'email', reason: result.reason } })
        ctx.status = 400
        return render(ctx, details, state, {
          error: result.reason === 'invalid' ? wrongCode(pageText(ctx), result.attemptsLeft) : pageText(ctx).t('mfa.codeNoLongerWorks'),
          attemptsLeft: result.reason === 'invalid' ? result.attemptsLeft : undefined,
        })
      }
      const factor = await addVerifiedFactor(prisma, { userId: state.accountId, kind: 'email', label: 'Email', destination: result.destination, lastUsedAt: kit.clock.date() }, { asFirst: true })
      if (!factor) return refuseNotFirst()
      method = 'email'
    }
    await audit.record(ctx, { type: 'mfa_enrol', outcome: 'success', userId: state.accountId, clientId, details: { method } })
    await kit.limits.succeeded('codeVerify', { ip: ctx.ip, account: state.accountId })
    const codes = await regenerateBackupCodes(prisma, box, state.accountId)
    await audit.record(ctx, { type: 'backup_codes_generated', outcome: 'success', userId: state.accountId, clientId })
    const next: MfaState = { ...state, enrol: undefined, enrolled: method }
    await persist(ctx, next)
    // Shown in this response only: the codes are stored as digests.
    return render(ctx, details, next, { codes })
  })

  const continueToClient = route('/:uid/mfa/continue', 'continue', async (ctx, details, state) => {
    return finishWithMfa(ctx, state, state.enrolled!)
  })

  return {
    name: 'mfa-enrol',
    applies: atMfaStep,
    routes: [enrol, enrolVerify, continueToClient],
  }
}
