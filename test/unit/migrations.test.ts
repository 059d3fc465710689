// The migrator (Prisma's schema engine through the driver adapter) splits a migration script on
// every ';', also inside a `--` comment: a comment with one breaks the migration on PostgreSQL
// (`syntax error at or near …`) while the embedded database may still accept it.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const dir = path.resolve(import.meta.dirname, '../../prisma/migrations')
const scripts = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)

describe('migration scripts', () => {
  it.each(scripts)('%s has no semicolon inside a comment', (name) => {
    const lines = readFileSync(path.join(dir, name, 'migration.sql'), 'utf8').split('\n')
    const bad = lines.map((line, i) => ({ line, n: i + 1 })).filter(({ line }) => /--.*;/.test(line))
    expect(bad.map(({ n, line }) => `${n}: ${line}`)).toEqual([])
  })
})
