// CSP nonces, one per response. Asking the CSPRNG for 16 bytes per response cost ~2.5 % of the
// server's CPU under load (docs/performance.md); bytes are drawn 4 KiB at a time instead and cut
// into nonces, each used once (Node buffers randomUUID the same way).
import { randomFillSync } from 'node:crypto'

const NONCE_BYTES = 16
const pool = Buffer.alloc(NONCE_BYTES * 256)
let offset = pool.length

/** A fresh base64 nonce (128 bits), never handed out twice. */
export function cspNonce(): string {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const nonce = pool.toString('base64', offset, offset + NONCE_BYTES)
  offset += NONCE_BYTES
  return nonce
}
