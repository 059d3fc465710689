// The statements written out as SQL (see findActiveAccount in src/identity/users.ts for why) name
// tables and columns in strings, which the type check cannot see. This holds every name they use
// to prisma/schema.prisma, so a renamed model or field fails here rather than at run time.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.resolve(import.meta.dirname, '../..')

/** model name → its field names, from the schema. */
function schemaModels(): Map<string, Set<string>> {
  const models = new Map<string, Set<string>>()
  let current: Set<string> | undefined
  for (const line of readFileSync(path.join(root, 'prisma/schema.prisma'), 'utf8').split('\n')) {
    const start = /^model (\w+) \{/.exec(line)
    if (start) models.set(start[1]!, (current = new Set()))
    else if (line.startsWith('}')) current = undefined
    else if (current) {
      const field = /^\s+(\w+)\s+\S/.exec(line)
      if (field && !line.trim().startsWith('//')) current.add(field[1]!)
    }
  }
  return models
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name)
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(full)
    return e.name.endsWith('.ts') ? [full] : []
  })
}

/** Every SQL template in src/, placeholders removed, with where it is. */
function writtenOutStatements(): Array<{ where: string; sql: string }> {
  return sourceFiles(path.join(root, 'src')).flatMap((file) => {
    const text = readFileSync(file, 'utf8')
    return [...text.matchAll(/(?:\$queryRaw|\$executeRaw|Prisma\.sql)(?:<[^`]*?>)?`([^`]*)`/g)].map((m) => ({
      where: `${path.relative(root, file)}:${text.slice(0, m.index).split('\n').length}`,
      sql: m[1]!.replace(/\$\{[^}]*\}/g, '?'),
    }))
  })
}

describe('SQL written out in src/', () => {
  const models = schemaModels()
  const allFields = new Set([...models.values()].flatMap((f) => [...f]))
  const statements = writtenOutStatements()

  it('finds the statements (the sign-in path has a dozen)', () => {
    expect(statements.length).toBeGreaterThanOrEqual(10)
  })

  it('names only tables and columns the schema has', () => {
    const unknown: string[] = []
    for (const { where, sql } of statements) {
      // Quoted names: tables ("User") or columns ("lastLoginAt"), not result names (AS "_count");
      // alias.column references.
      for (const [, name] of sql.replace(/\bAS "\w+"/g, '').matchAll(/"(\w+)"/g)) if (!models.has(name!) && !allFields.has(name!)) unknown.push(`${where}: "${name}"`)
      for (const [, name] of sql.matchAll(/\b[a-z]{1,2}\.(\w+)/g)) if (!allFields.has(name!)) unknown.push(`${where}: .${name}`)
      // INSERT column lists and UPDATE … SET targets: columns of that very table.
      for (const [, table, cols] of sql.matchAll(/INSERT INTO "(\w+)" \(([^)]*)\)/g)) {
        for (const col of cols!.split(',').map((c) => c.trim().replace(/"/g, ''))) if (!models.get(table!)?.has(col)) unknown.push(`${where}: ${table}.${col}`)
      }
      for (const [, table, sets] of sql.matchAll(/UPDATE "(\w+)" SET ([\s\S]*?)(?:WHERE|$)/g)) {
        for (const [, col] of sets!.matchAll(/"?(\w+)"?\s*=/g)) if (!models.get(table!)?.has(col!)) unknown.push(`${where}: ${table}.${col}`)
      }
    }
    expect(unknown).toEqual([])
  })
})
