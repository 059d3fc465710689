import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRecentReads } from '../../src/store/recent-reads.ts'

afterEach(() => vi.useRealTimers())

describe('createRecentReads', () => {
  it('keeps a copy for ttlMs, then reads as missing', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const reads = createRecentReads<string | null>({ ttlMs: 1_000, maxEntries: 10 })
    reads.set('spa', 'metadata')
    reads.set('unknown', null)
    vi.advanceTimersByTime(999)
    expect(reads.get('spa')).toEqual({ value: 'metadata' })
    // a remembered "not there" is a hit too
    expect(reads.get('unknown')).toEqual({ value: null })
    expect(reads.get('never-set')).toBeUndefined()
    vi.advanceTimersByTime(1)
    expect(reads.get('spa')).toBeUndefined()
    expect(reads.size).toBe(1)
  })

  it('holds at most maxEntries: past it the oldest copy goes, and a refreshed copy counts as new', () => {
    const reads = createRecentReads<number>({ ttlMs: 60_000, maxEntries: 3 })
    reads.set('a', 1)
    reads.set('b', 2)
    reads.set('c', 3)
    reads.set('a', 10) // a is now the newest
    reads.set('d', 4) // b, the oldest, goes
    expect(reads.size).toBe(3)
    expect(reads.get('b')).toBeUndefined()
    expect([reads.get('a'), reads.get('c'), reads.get('d')]).toEqual([{ value: 10 }, { value: 3 }, { value: 4 }])
  })

  it('a flood of made-up keys stays within the bound; overlong keys are never kept', () => {
    const reads = createRecentReads<null>({ ttlMs: 60_000, maxEntries: 100, maxKeyLength: 64 })
    for (let i = 0; i < 10_000; i++) reads.set(`client-${i}`, null)
    expect(reads.size).toBe(100)
    reads.set('x'.repeat(65), null)
    expect(reads.get('x'.repeat(65))).toBeUndefined()
    expect(reads.size).toBe(100)
  })

  it('delete forgets a copy', () => {
    const reads = createRecentReads<string>({ ttlMs: 60_000, maxEntries: 10 })
    reads.set('https://api.example.test', 'old')
    reads.delete('https://api.example.test')
    expect(reads.get('https://api.example.test')).toBeUndefined()
  })
})
