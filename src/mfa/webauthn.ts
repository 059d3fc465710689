// WebAuthn (passkeys and security keys) over @simplewebauthn/server: as a second factor, and alone
// (passwordless: discoverableAuthenticationOptions / verifyDiscoverableAuthentication, whose
// challenge the caller binds to its interaction, src/interaction/passkey-login.ts).
// Challenges live in MfaChallenge (purpose 'enrol-webauthn' while registering, 'webauthn' while
// signing in; the challenge itself is stored, it is not secret): one outstanding per person and
// purpose, valid for five minutes, consumed once with a conditional update before the response is
// judged, so a replayed or raced answer is refused. Failures are values, never exceptions.
import type {
  verifyAuthenticationResponse, verifyRegistrationResponse,
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server'
import { z } from 'zod'
import type { Db } from '../queries/db.ts'
import { consumeMfaChallenge, findMfaChallengeByCode, replaceMfaChallenge } from '../queries/mfa-challenges.ts'
import { credentialIdTaken, findFactorByCredentialId, listWebauthnCredentials, recordWebauthnUse } from '../queries/mfa-factors.ts'
import { isUniqueViolation } from '../queries/errors.ts'
import { systemClock, type Clock } from '../security/clock.ts'
import { addVerifiedFactor } from './factors.ts'

export type WebauthnPurpose = 'webauthn' | 'enrol-webauthn'

const CHALLENGE_TTL_MS = 5 * 60 * 1000
/** How long the browser waits for the person (the challenge outlives it). */
const CEREMONY_TIMEOUT_MS = 2 * 60 * 1000
const DEFAULT_LABEL = 'Passkey'

// Loaded on the first passkey ceremony, not at start: the library and its CBOR/ASN.1 decoders are
// ~5 MB of heap that a process without passkey sign-ins never needs.
const webauthn = () => import('@simplewebauthn/server')

const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'])

export type WebauthnFailure =
  /** The response is not a WebAuthn response of the expected shape. */
  | 'malformed'
  /** No such challenge for this person (never issued, expired and purged, or replaced by a newer one). */
  | 'challenge_unknown'
  | 'challenge_expired'
  /** The challenge was already answered (a replay or a second submission). */
  | 'challenge_used'
  /** The credential is not one of this person's (sign-in). */
  | 'unknown_credential'
  /** The signature, origin, rp id, flags or counter did not check out. */
  | 'not_verified'
  /** This authenticator is already registered (registration). */
  | 'already_registered'
  /** Allowed only as the person's first second factor, and they have one by now (registration). */
  | 'not_first'

export type WebauthnResult<T> = ({ ok: true } & T) | { ok: false; reason: WebauthnFailure; detail?: string | undefined }

export interface RelyingParty {
  /** The rp id: config.mfa.webauthnRpId (the issuer's host by default). */
  rpId: string
  /** The issuer's origin: where the ceremonies run. */
  origin: string
}

// Responses arrive as JSON from the page; their shape is checked here, at the edge, before the
// library reads them.
const b64url = z.string().max(64 * 1024).regex(/^[A-Za-z0-9_-]*$/, 'not base64url')
const credentialId = b64url.min(1).max(1366) // a credential id is at most 1023 bytes
const common = {
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
}
const registrationSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url,
    attestationObject: b64url,
    authenticatorData: b64url.optional(),
    publicKey: b64url.optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
})
const authenticationSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url,
    authenticatorData: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
})

/** The challenge the browser signed, read from clientDataJSON (undefined when unreadable). */
function clientChallenge(clientDataJSON: string): string | undefined {
  try {
    const data: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'))
    const challenge = (data as { challenge?: unknown } | null)?.challenge
    return typeof challenge === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(challenge) ? challenge : undefined
  } catch {
    return undefined
  }
}

/** Stores `challenge` as the one outstanding challenge of this person for `purpose`. */
async function storeChallenge(prisma: Db, clock: Clock, userId: string, purpose: WebauthnPurpose, challenge: string): Promise<void> {
  // A new ceremony replaces the previous one (also the consumed one: replays then read 'unknown').
  await replaceMfaChallenge(prisma, { userId, purpose, codeHash: challenge, maxAttempts: 1, expiresAt: new Date(clock.now() + CHALLENGE_TTL_MS) })
}

/** Finds and consumes the challenge the response answers; exactly one caller can win it. */
async function consumeChallenge(prisma: Db, clock: Clock, userId: string, purpose: WebauthnPurpose, challenge: string | undefined): Promise<WebauthnResult<{ challenge: string }>> {
  if (!challenge) return { ok: false, reason: 'malformed', detail: 'no challenge in clientDataJSON' }
  const row = await findMfaChallengeByCode(prisma, userId, purpose, challenge)
  if (!row) return { ok: false, reason: 'challenge_unknown' }
  if (row.consumedAt) return { ok: false, reason: 'challenge_used' }
  if (row.expiresAt.getTime() <= clock.now()) return { ok: false, reason: 'challenge_expired' }
  if (!await consumeMfaChallenge(prisma, row.id, clock.date(), { countAttempt: true })) return { ok: false, reason: 'challenge_used' }
  return { ok: true, challenge }
}

function transportsOf(stored: string | null): string[] | undefined {
  const list = stored?.split(',').filter((t) => TRANSPORTS.has(t))
  return list?.length ? list : undefined
}

async function credentialsOf(prisma: Db, userId: string) {
  const rows = await listWebauthnCredentials(prisma, userId)
  return rows.map((f) => ({ id: f.credentialId!, transports: transportsOf(f.transports) }))
}

/** Options for navigator.credentials.create(): registers a new passkey or security key for the person. */
export async function registrationOptions(
  prisma: Db,
  input: { userId: string; userName: string; userDisplayName?: string | undefined; rpId: string; rpName: string },
  clock: Clock = systemClock,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const options = await (await webauthn()).generateRegistrationOptions({
    rpName: input.rpName,
    rpID: input.rpId,
    userName: input.userName,
    userDisplayName: input.userDisplayName ?? input.userName,
    // The user handle is our opaque id, not the email (authenticators may show or sync it).
    userID: new TextEncoder().encode(input.userId),
    attestationType: 'none',
    timeout: CEREMONY_TIMEOUT_MS,
    // An authenticator registered already is refused by the browser, not registered twice.
    excludeCredentials: await credentialsOf(prisma, input.userId),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  })
  await storeChallenge(prisma, clock, input.userId, 'enrol-webauthn', options.challenge)
  return options
}

/** Checks the browser's answer to registrationOptions() and stores the credential as a verified factor. */
export async function verifyRegistration(
  prisma: Db,
  input: RelyingParty & { userId: string; response: unknown; label?: string | undefined; asFirst: boolean },
  clock: Clock = systemClock,
): Promise<WebauthnResult<{ factorId: string; label: string }>> {
  const parsed = registrationSchema.safeParse(input.response)
  if (!parsed.success) return { ok: false, reason: 'malformed', detail: parsed.error.issues[0]?.message }
  const response = parsed.data as RegistrationResponseJSON
  const consumed = await consumeChallenge(prisma, clock, input.userId, 'enrol-webauthn', clientChallenge(response.response.clientDataJSON))
  if (!consumed.ok) return consumed
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>
  try {
    verification = await (await webauthn()).verifyRegistrationResponse({
      response, expectedChallenge: consumed.challenge, expectedOrigin: input.origin, expectedRPID: input.rpId,
      // 'preferred': a key without a PIN or biometric still counts as something the person has.
      requireUserVerification: false,
    })
  } catch (err) {
    return { ok: false, reason: 'not_verified', detail: (err as Error).message }
  }
  if (!verification.verified) return { ok: false, reason: 'not_verified' }
  const { credential } = verification.registrationInfo
  if (await credentialIdTaken(prisma, credential.id)) return { ok: false, reason: 'already_registered' }
  const label = input.label?.trim().slice(0, 64) || DEFAULT_LABEL
  const transports = (credential.transports ?? response.response.transports ?? []).filter((t) => TRANSPORTS.has(t))
  try {
    // asFirst: see addVerifiedFactor (stored only while the person still has no second factor).
    const factor = await addVerifiedFactor(prisma, {
      userId: input.userId, kind: 'webauthn', label,
      credentialId: credential.id, publicKey: Buffer.from(credential.publicKey), signCount: credential.counter,
      transports: transports.length ? transports.join(',') : null,
    }, { asFirst: input.asFirst })
    if (!factor) return { ok: false, reason: 'not_first' }
    return { ok: true, factorId: factor.id, label }
  } catch (err) {
    // Two registrations of one authenticator racing: the unique credentialId lets one through.
    if (isUniqueViolation(err)) return { ok: false, reason: 'already_registered' }
    throw err
  }
}

/** Options for navigator.credentials.get(): any of the person's registered credentials will do. */
export async function authenticationOptions(prisma: Db, input: { userId: string; rpId: string }, clock: Clock = systemClock): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const options = await (await webauthn()).generateAuthenticationOptions({
    rpID: input.rpId,
    allowCredentials: await credentialsOf(prisma, input.userId),
    userVerification: 'preferred',
    timeout: CEREMONY_TIMEOUT_MS,
  })
  await storeChallenge(prisma, clock, input.userId, 'webauthn', options.challenge)
  return options
}

/**
 * Checks the browser's answer to authenticationOptions(): the challenge is this person's current
 * one (consumed here, once), the credential is theirs, and the signature, origin, rp id and counter
 * check out. Records the new counter and the time of use.
 */
export async function verifyAuthentication(
  prisma: Db,
  input: RelyingParty & { userId: string; response: unknown },
  clock: Clock = systemClock,
): Promise<WebauthnResult<{ factorId: string; label: string }>> {
  const parsed = authenticationSchema.safeParse(input.response)
  if (!parsed.success) return { ok: false, reason: 'malformed', detail: parsed.error.issues[0]?.message }
  const response = parsed.data as AuthenticationResponseJSON
  // The challenge goes first: every answer, good or bad, uses it up.
  const consumed = await consumeChallenge(prisma, clock, input.userId, 'webauthn', clientChallenge(response.response.clientDataJSON))
  if (!consumed.ok) return consumed
  const factor = await findFactorByCredentialId(prisma, response.id)
  if (!factor || factor.userId !== input.userId || factor.kind !== 'webauthn' || !factor.verified || !factor.publicKey) {
    return { ok: false, reason: 'unknown_credential' }
  }
  const checked = await checkAssertion(prisma, factor, response, consumed.challenge, input, clock)
  if (!checked.ok) return checked
  return { ok: true, factorId: factor.id, label: factor.label }
}

type StoredFactor = NonNullable<Awaited<ReturnType<typeof findFactorByCredentialId>>>

/**
 * The signature, origin, rp id and counter of an assertion made with `factor`'s credential for
 * `challenge`; records the new counter and the time of use. `userVerified`: the authenticator
 * checked a PIN or biometric (the UV flag).
 */
async function checkAssertion(prisma: Db, factor: StoredFactor, response: AuthenticationResponseJSON, challenge: string, rp: RelyingParty, clock: Clock): Promise<WebauthnResult<{ userVerified: boolean }>> {
  let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>
  try {
    verification = await (await webauthn()).verifyAuthenticationResponse({
      response, expectedChallenge: challenge, expectedOrigin: rp.origin, expectedRPID: rp.rpId,
      credential: { id: factor.credentialId!, publicKey: new Uint8Array(factor.publicKey!), counter: factor.signCount, transports: transportsOf(factor.transports) },
      requireUserVerification: false,
    })
  } catch (err) {
    return { ok: false, reason: 'not_verified', detail: (err as Error).message }
  }
  if (!verification.verified) return { ok: false, reason: 'not_verified' }
  // Conditional on the counter we checked against, so two uses cannot both move it.
  if (!await recordWebauthnUse(prisma, factor.id, factor.signCount, verification.authenticationInfo.newCounter, clock.date())) return { ok: false, reason: 'not_verified', detail: 'counter moved concurrently' }
  return { ok: true, userVerified: verification.authenticationInfo.userVerified }
}

/**
 * Options for navigator.credentials.get() before anyone is named (passwordless sign-in): no
 * allowCredentials, so the authenticator offers its discoverable credentials (passkeys) for this
 * rp id. The caller binds the challenge to its interaction; nothing is stored here.
 */
export async function discoverableAuthenticationOptions(input: { rpId: string }): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return (await webauthn()).generateAuthenticationOptions({ rpID: input.rpId, userVerification: 'preferred', timeout: CEREMONY_TIMEOUT_MS })
}

/**
 * Checks a passwordless assertion: it answers `expectedChallenge` (the one the caller issued and
 * has used up), its credential is a verified passkey of someone here, its user handle (when
 * sent) is that person's, and the signature, origin, rp id and counter check out. Says who it is
 * and whether the authenticator verified the person (UV).
 */
export async function verifyDiscoverableAuthentication(
  prisma: Db,
  input: RelyingParty & { response: unknown; expectedChallenge: string },
  clock: Clock = systemClock,
): Promise<WebauthnResult<{ userId: string; factorId: string; label: string; userVerified: boolean }>> {
  const parsed = authenticationSchema.safeParse(input.response)
  if (!parsed.success) return { ok: false, reason: 'malformed', detail: parsed.error.issues[0]?.message }
  const response = parsed.data as AuthenticationResponseJSON
  const challenge = clientChallenge(response.response.clientDataJSON)
  if (!challenge) return { ok: false, reason: 'malformed', detail: 'no challenge in clientDataJSON' }
  if (challenge !== input.expectedChallenge) return { ok: false, reason: 'challenge_unknown' }
  const factor = await findFactorByCredentialId(prisma, response.id)
  if (!factor || factor.kind !== 'webauthn' || !factor.verified || !factor.publicKey) return { ok: false, reason: 'unknown_credential' }
  // The user handle is our user id (registrationOptions): a credential claiming another's is refused.
  const userHandle = response.response.userHandle
  if (userHandle && Buffer.from(userHandle, 'base64url').toString('utf8') !== factor.userId) return { ok: false, reason: 'unknown_credential', detail: 'user handle mismatch' }
  const checked = await checkAssertion(prisma, factor, response, challenge, input, clock)
  if (!checked.ok) return checked
  return { ok: true, userId: factor.userId, factorId: factor.id, label: factor.label, userVerified: checked.userVerified }
}

/** What to tell the person, for each failure (sign-in and registration). */
export function describeWebauthnFailure(reason: WebauthnFailure): string {
  switch (reason) {
    case 'malformed': return 'The answer from your security key or passkey was not understood. Try again.'
    case 'challenge_unknown': return 'This request is no longer valid: it was replaced by a newer one or has expired. Try again.'
    case 'challenge_expired': return 'This request has expired. Try again.'
    case 'challenge_used': return 'This answer from your security key or passkey was already used. Try again.'
    case 'unknown_credential': return 'That security key or passkey is not registered to your account. Use another one, or another method.'
    case 'not_verified': return 'Your security key or passkey could not be verified. Try again.'
    case 'already_registered': return 'This security key or passkey is already registered.'
    case 'not_first': return 'You have a second step already: confirm it’s you with it first, then add this one.'
  }
}
