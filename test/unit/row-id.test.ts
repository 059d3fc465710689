import { describe, expect, it } from 'vitest'
import { newRowId } from '../../src/queries/row-id.ts'

describe('newRowId', () => {
  it('gives cuid-shaped ids (c + 24 base-36 characters) that do not repeat and sort by time', async () => {
    const first = Array.from({ length: 10_000 }, newRowId)
    expect(first.every((id) => /^c[0-9a-z]{24}$/.test(id))).toBe(true)
    expect(new Set(first).size).toBe(first.length)
    await new Promise((resolve) => setTimeout(resolve, 5))
    const later = newRowId()
    expect(first.every((id) => id.slice(0, 9) <= later.slice(0, 9))).toBe(true)
  })
})
