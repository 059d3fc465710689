// What an interaction remembers between its requests, declared once. It lives in the interaction
// itself (server-side, expires with it), under one key of the interaction's result; each write
// replaces the whole of it, so the interaction is in exactly one of these states, or none
// (docs/adr/0220-interaction-steps.md).
import type { SecondFactorMethod } from '../mfa/acr.ts'

/** Between the one-time password and the new one: the person proved the one-time password. */
export interface PasswordChangeState {
  step: 'password-change'
  accountId: string
}

/** The account held at sign-in because its email is not verified (for the "send a new link" button). */
export interface VerifyHoldState {
  step: 'verify-hold'
  accountId: string
}

/** The second-factor step (src/interaction/mfa.ts works out its sub-step from this and the account). */
export interface MfaState {
  step: 'mfa'
  accountId: string
  /** What the person proved so far (['pwd'], or the session's amr when stepping up). */
  amr: string[]
  /** The factor id being used, or 'backup'. */
  method?: string | undefined
  /** Enrolment in progress (MFA required, no factor yet). */
  enrol?: { kind: 'totp'; sealedSecret: string } | { kind: 'email' } | undefined
  /** Enrolled; the backup codes were shown; waiting for Continue. */
  enrolled?: SecondFactorMethod | undefined
}

/** An authorization request sent upstream, waiting for its callback. */
export interface PendingAuthorization { upstream: string; state: string; nonce: string; codeVerifier: string }

/** An upstream identity that matched a local account which must be proven before it is linked. */
export interface PendingLink {
  upstream: string
  subject: string
  /** The local account's id and email (the one to prove). */
  userId: string
  email: string
  /** What the upstream said, kept for after the proof. */
  upstreamEmail?: string | undefined
  roles: string[]
  mfa: boolean
  auditFacts: Record<string, string>
  attempts: number
  /** What proves the local account: its password, or (no password) its authenticator app. */
  proof: 'password' | 'totp'
}

/** The federation step at the login prompt (src/interaction/federation.ts). */
export interface FederationState {
  step: 'federation'
  /** No automatic home-realm redirect (again) in this interaction. */
  hintUsed?: boolean
  /** The person chose "Use your password": typed emails are checked as passwords, not sent upstream. */
  passwordChosen?: boolean
  pending?: PendingAuthorization | undefined
  link?: PendingLink | undefined
}

export type InteractionState = PasswordChangeState | VerifyHoldState | MfaState | FederationState
export type StateOf<K extends InteractionState['step']> = Extract<InteractionState, { step: K }>

/** The key of the interaction's result that holds the state. */
export const STATE_KEY = 'iam:state'

/** The state an interaction's result holds (written only by `stateResult`), if any. */
export function stateOfResult(result: Record<string, unknown> | undefined): InteractionState | undefined {
  return result?.[STATE_KEY] as InteractionState | undefined
}

/** The state if it is of one kind, or undefined when the interaction is in another (or none). */
export function ofKind<K extends InteractionState['step']>(state: InteractionState | undefined, step: K): StateOf<K> | undefined {
  return state?.step === step ? state as StateOf<K> : undefined
}

/** `ofKind` for one kind, as a function (what a step reads its own state with). */
export function stateOfKindIn<K extends InteractionState['step']>(step: K): (state: InteractionState | undefined) => StateOf<K> | undefined {
  return (state) => ofKind(state, step)
}

/** The interaction result that stores `state` (replacing whatever was stored). */
export function stateResult(state: InteractionState): Record<string, unknown> {
  return { [STATE_KEY]: state }
}
