// The layering rules of docs/architecture.md, checked over the sources as text: imports point down,
// one data path (only src/queries/ and the connection factories in src/store/ reach PostgreSQL),
// one module that knows oidc-provider's internals, and nothing but the server imports the app.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = path.resolve(import.meta.dirname, '../..')
const SRC = path.join(ROOT, 'src')

interface Source { file: string; code: string }

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(full)
    return /\.(ts|tsx|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [full] : []
  })
}

/** The text with comments blanked (strings kept; line numbers kept), so a comment naming a rule does not break it. */
function withoutComments(text: string): string {
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    const next = text[i + 1]
    if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++
    } else if (c === '/' && next === '*') {
      i += 2
      while (i < text.length && !(text[i] === '*' && text[i + 1] === '/')) out += text[i++] === '\n' ? '\n' : ''
      i += 2
    } else if (c === '\'' || c === '"' || c === '`') {
      out += c
      i++
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\') out += text[i++]
        if (c !== '`' && text[i] === '\n') break
        out += text[i++] ?? ''
      }
      if (i < text.length) out += text[i++]
    } else {
      out += c
      i++
    }
  }
  return out
}

const SOURCES: Source[] = sourceFiles(SRC).map((file) => ({ file, code: withoutComments(readFileSync(file, 'utf8')) }))

const rel = (file: string) => path.relative(ROOT, file).split(path.sep).join('/')

/** Every module specifier a file imports or re-exports (static, dynamic, type-only). */
function specifiers(code: string): Array<{ spec: string; line: number }> {
  const found: Array<{ spec: string; line: number }> = []
  const pattern = /(?:\bimport\s*(?:type\s+)?(?:[\w*{}\s,$]+\s+from\s+)?|\bexport\s+(?:type\s+)?[\w*{}\s,$]+\s+from\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)(['"])([^'"]+)\1/g
  for (const m of code.matchAll(pattern)) found.push({ spec: m[2]!, line: code.slice(0, m.index).split('\n').length })
  return found
}

function lineOf(code: string, index: number): number {
  return code.slice(0, index).split('\n').length
}

/** Where `pattern` matches outside comments, as `file:line: text`. */
function uses(source: Source, pattern: RegExp): string[] {
  const global = new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`)
  return [...source.code.matchAll(global)].map((m) => `${rel(source.file)}:${lineOf(source.code, m.index)}: ${m[0]}`)
}

const under = (file: string, ...folders: string[]) => folders.some((folder) => rel(file).startsWith(`src/${folder}/`))

describe('layers (docs/architecture.md)', () => {
  it('finds the sources', () => {
    expect(SOURCES.length).toBeGreaterThan(50)
    expect(SOURCES.some((s) => rel(s.file) === 'src/app.ts')).toBe(true)
  })

  const DATA_FOLDERS = ['queries', 'store', 'generated']
  const DATABASE_MODULE = /(^|\/)generated\/prisma(\/|$)|^@prisma\/client(\/|$)|^pg(\/|$)|^kysely(\/|$)/

  it('only src/queries/ (and src/store/, src/generated/) imports the Prisma client, pg or Kysely', () => {
    const offending = SOURCES.filter((s) => !under(s.file, ...DATA_FOLDERS)).flatMap((s) =>
      specifiers(s.code).filter(({ spec }) => DATABASE_MODULE.test(spec)).map(({ spec, line }) => `${rel(s.file)}:${line}: ${spec}`))
    expect(offending, 'database modules imported outside src/queries/').toEqual([])
  })

  it('only src/queries/ (and src/store/, src/generated/) runs SQL or transactions', () => {
    const SQL_CALL = /\$transaction\b|\$queryRaw\w*|\$executeRaw\w*|\bqueryRows\b|\bexecuteSql\b/
    const offending = SOURCES.filter((s) => !under(s.file, ...DATA_FOLDERS)).flatMap((s) => uses(s, SQL_CALL))
    expect(offending, 'SQL or transactions outside src/queries/').toEqual([])
  })

  it('only src/queries/ (and src/store/) calls the Prisma client\'s model methods', () => {
    const MODEL_CALL = /\b(?:prisma|db|tx)\??\.\w+\??\.(?:findUnique|findUniqueOrThrow|findFirst|findFirstOrThrow|findMany|create|createMany|createManyAndReturn|update|updateMany|updateManyAndReturn|upsert|delete|deleteMany|count|aggregate|groupBy)\(/
    const offending = SOURCES.filter((s) => !under(s.file, ...DATA_FOLDERS)).flatMap((s) => uses(s, MODEL_CALL))
    expect(offending, 'Prisma model calls outside src/queries/').toEqual([])
  })

  it('only src/oidc/provider-internals.ts reaches into oidc-provider beyond its documented API', () => {
    const internals = (s: Source) => rel(s.file) === 'src/oidc/provider-internals.ts'
    const offending = SOURCES.filter((s) => !internals(s)).flatMap((s) => [
      ...uses(s, /\b_matchedRoute\b/),
      ...specifiers(s.code).filter(({ spec }) => spec.startsWith('oidc-provider/lib/')).map(({ spec, line }) => `${rel(s.file)}:${line}: ${spec}`),
    ])
    expect(offending, 'oidc-provider internals outside src/oidc/provider-internals.ts').toEqual([])
  })

  it('no module imports src/app.ts but the server that starts it', () => {
    const app = path.join(SRC, 'app')
    const offending = SOURCES.filter((s) => rel(s.file) !== 'src/server.ts').flatMap((s) =>
      specifiers(s.code)
        .filter(({ spec }) => spec.startsWith('.') && path.resolve(path.dirname(s.file), spec).replace(/\.(ts|js)$/, '') === app)
        .map(({ spec, line }) => `${rel(s.file)}:${line}: ${spec}`))
    expect(offending, 'modules importing src/app.ts').toEqual([])
  })

  it('reads imports and ignores comments (self-check)', () => {
    const code = withoutComments(`// import x from 'pg'\nimport type { A } from '../generated/prisma/client.ts'\nconst u = 'http://x' /* $transaction */\nexport { b } from "./app.ts"\nawait import('oidc-provider/lib/x.js')`)
    expect(specifiers(code).map((s) => s.spec)).toEqual(['../generated/prisma/client.ts', './app.ts', 'oidc-provider/lib/x.js'])
    expect(code).toContain("'http://x'")
    expect(code).not.toContain('$transaction')
  })
})
