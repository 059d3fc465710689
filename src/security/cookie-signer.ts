// Cookie signatures exactly as Keygrip makes them (the `.sig` cookie: HMAC-SHA1 of "name=value"
// under the newest key, base64url), checked with less work. Koa and oidc-provider take any object
// with Keygrip's sign/verify/index (oidc-provider's `cookies.keys`: "you may also pass your own
// KeyGrip instance"). Keygrip compares with tsscmp, which draws random bytes and computes two more
// HMACs per comparison, and passes each key as a string to every HMAC; a sign-in checks about 25
// signed cookies, and that was ~1 ms of the server's CPU per sign-in. Here the keys are KeyObjects
// made once and the comparison is crypto.timingSafeEqual. The signatures are Keygrip's, so
// cookies signed by either verify with the other (test/unit/cookie-signer.test.ts).
//
// KeyObjects, not Buffers: Node 24's createHmac tells a Buffer key from a KeyObject by catching two
// exceptions (isKeyObject, isCryptoKey), ~9 µs per HMAC against ~1.5 µs with a KeyObject.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto'
import type Keygrip from 'keygrip'

export class CookieSigner implements Keygrip {
  readonly #keys: KeyObject[]

  /** `keys`: newest first; the first signs, all verify (rotate by prepending). */
  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('CookieSigner needs at least one key')
    this.#keys = keys.map((k) => createSecretKey(Buffer.from(k, 'utf8')))
  }

  sign(data: string): string {
    return createHmac('sha1', this.#keys[0]!).update(data).digest('base64url')
  }

  verify(data: string, digest: string): boolean {
    return this.index(data, digest) !== -1
  }

  /** Which key signed `data` into `digest`, or -1. */
  index(data: string, digest: string): number {
    if (typeof digest !== 'string') return -1
    const given = Buffer.from(digest, 'utf8')
    for (let i = 0; i < this.#keys.length; i++) {
      const expected = Buffer.from(createHmac('sha1', this.#keys[i]!).update(data).digest('base64url'), 'utf8')
      // Lengths are public (every signature has the same one); only equal-length buffers are compared.
      if (expected.length === given.length && timingSafeEqual(expected, given)) return i
    }
    return -1
  }
}
