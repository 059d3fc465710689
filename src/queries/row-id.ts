// Ids for the rows the hand-written statements insert (the audit trail, session rows), where
// Prisma's @default(cuid()) does not run. The same shape as its cuids, so ids in one table look
// alike: "c", 8 characters of time, a 4-character counter, 12 random ones (base 36, 25 in all).
import { randomBytes } from 'node:crypto'

const COUNTER_SPACE = 36 ** 4
let counter = randomBytes(4).readUInt32BE() % COUNTER_SPACE

export function newRowId(): string {
  counter = (counter + 1) % COUNTER_SPACE
  const time = Date.now().toString(36).padStart(8, '0').slice(-8)
  const random = BigInt(`0x${randomBytes(8).toString('hex')}`).toString(36).padStart(12, '0').slice(-12)
  return `c${time}${counter.toString(36).padStart(4, '0')}${random}`
}
