// A small renderer for the subset of Go templates (text/template + the Helm/Sprig functions) that
// helm/iam uses, so the unit tests can render the chart and parse the manifests without a helm
// binary. It is deliberately strict: an unknown function, a field of a missing value or a
// construct outside the subset throws, which also keeps the chart's templates plain.
//
// Semantics followed (Go text/template, Helm 3): `{{-`/`-}}` trim all adjacent whitespace; `$`
// is the data a template was executed (or included) with; range over a map goes in key order;
// if/with/and/or/not use Go's truthiness (false, 0, nil, "", empty list or map are false);
// values.yaml numbers are float64 (printed like Go's %v: 1e+06 from a million up) and int/int64
// make integers; a missing map key is nil and prints as "" (Helm's missingkey handling).
// Not a substitute for `helm template`: it cannot see Kubernetes schema errors.
import { createHash } from 'node:crypto'
import { stringify as yamlStringify } from 'yaml'

export class TemplateError extends Error {
  override name = 'TemplateError'
}
/** `fail` and `required` (Helm aborts the install with this message). */
export class TemplateFailure extends Error {
  override name = 'TemplateFailure'
}

/** A Go integer (int, int64): prints without exponent, compares like a number. */
class GoInt {
  constructor(v: number) { this.v = Math.trunc(v) }
  readonly v: number
}

type Value = unknown
type Scope = Map<string, Value>

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

type Token =
  | { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'ident'; v: string }
  | { t: 'field'; v: string[] } | { t: 'var'; name: string; path: string[] }
  | { t: '(' } | { t: ')' } | { t: '|' } | { t: ':=' } | { t: '=' } | { t: ',' }

function tokenize(src: string, where: string): Token[] {
  const out: Token[] = []
  let i = 0
  const path = (): string[] => {
    const parts: string[] = []
    while (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) {
      i++
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!
      parts.push(m[0])
      i += m[0].length
    }
    return parts
  }
  while (i < src.length) {
    const c = src[i]!
    if (/\s/.test(c)) { i++; continue }
    if (c === '"') {
      const m = /^"(?:[^"\\]|\\.)*"/.exec(src.slice(i))
      if (!m) throw new TemplateError(`${where}: unterminated string`)
      out.push({ t: 'str', v: JSON.parse(m[0]) as string })
      i += m[0].length
    } else if (c === '`') {
      const end = src.indexOf('`', i + 1)
      out.push({ t: 'str', v: src.slice(i + 1, end) })
      i = end + 1
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!
      out.push({ t: 'num', v: Number(m[0]) })
      i += m[0].length
    } else if (c === '.') {
      if (/[A-Za-z_]/.test(src[i + 1] ?? '')) out.push({ t: 'field', v: path() })
      else { out.push({ t: 'field', v: [] }); i++ }
    } else if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(i))!
      i += m[0].length
      out.push({ t: 'var', name: m[0], path: path() })
    } else if (src.startsWith(':=', i)) { out.push({ t: ':=' }); i += 2 }
    else if (c === '=' || c === '(' || c === ')' || c === '|' || c === ',') { out.push({ t: c } as Token); i++ }
    else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!
      out.push({ t: 'ident', v: m[0] })
      i += m[0].length
    } else throw new TemplateError(`${where}: unexpected '${c}'`)
  }
  return out
}

type Expr =
  | { k: 'lit'; v: Value } | { k: 'field'; path: string[] } | { k: 'var'; name: string; path: string[] }
  | { k: 'call'; fn: string; args: Expr[] } | { k: 'pipe'; cmds: Expr[][] }

interface Pipeline { decl?: { names: string[]; assign: boolean }; cmds: Expr[][] }

function parsePipeline(tokens: Token[], where: string): Pipeline {
  let pos = 0
  let decl: Pipeline['decl']
  const vars: string[] = []
  let p = 0
  while (tokens[p]?.t === 'var' && (tokens[p] as { path: string[] }).path.length === 0) {
    vars.push((tokens[p] as { name: string }).name)
    p++
    if (tokens[p]?.t === ',') { p++; continue }
    break
  }
  if (vars.length && (tokens[p]?.t === ':=' || tokens[p]?.t === '=')) {
    decl = { names: vars, assign: tokens[p]!.t === '=' }
    pos = p + 1
  }
  const cmds: Expr[][] = []
  let cmd: Expr[] = []
  const operand = (): Expr => {
    const tok = tokens[pos++]
    if (!tok) throw new TemplateError(`${where}: expression ends early`)
    switch (tok.t) {
      case 'str': case 'num': return { k: 'lit', v: tok.v }
      case 'field': return { k: 'field', path: tok.v }
      case 'var': return { k: 'var', name: tok.name, path: tok.path }
      case 'ident':
        if (tok.v === 'true' || tok.v === 'false') return { k: 'lit', v: tok.v === 'true' }
        if (tok.v === 'nil') return { k: 'lit', v: null }
        return { k: 'call', fn: tok.v, args: [] }
      case '(': {
        let depth = 1
        const start = pos
        while (depth > 0) {
          const t = tokens[pos++]
          if (!t) throw new TemplateError(`${where}: unbalanced parentheses`)
          if (t.t === '(') depth++
          if (t.t === ')') depth--
        }
        const inner = parsePipeline(tokens.slice(start, pos - 1), where)
        return { k: 'pipe', cmds: inner.cmds }
      }
      default: throw new TemplateError(`${where}: unexpected token ${tok.t}`)
    }
  }
  while (pos < tokens.length) {
    if (tokens[pos]!.t === '|') {
      pos++
      cmds.push(cmd)
      cmd = []
      continue
    }
    cmd.push(operand())
  }
  cmds.push(cmd)
  for (const c of cmds) if (c.length === 0) throw new TemplateError(`${where}: empty command in pipeline`)
  return { decl, cmds }
}

type Node =
  | { k: 'text'; v: string }
  | { k: 'out'; p: Pipeline; where: string }
  | { k: 'if'; branches: Array<{ cond?: Pipeline; body: Node[] }>; where: string }
  | { k: 'range'; p: Pipeline; body: Node[]; elseBody: Node[]; where: string }
  | { k: 'with'; p: Pipeline; body: Node[]; elseBody: Node[]; where: string }

export class TemplateSet {
  readonly defines = new Map<string, Node[]>()
  readonly files = new Map<string, Node[]>()

  /** Parses one file; its defines become visible to every file. */
  add(name: string, text: string): void {
    this.files.set(name, this.parse(name, text))
  }

  private parse(file: string, text: string): Node[] {
    // Segments with whitespace trimming applied.
    const segs: Array<{ text: string } | { action: string; line: number }> = []
    let i = 0
    let trimNext = false
    const lineAt = (x: number) => text.slice(0, x).split('\n').length
    while (i < text.length) {
      const open = text.indexOf('{{', i)
      let chunk = text.slice(i, open === -1 ? text.length : open)
      if (trimNext) chunk = chunk.replace(/^\s+/, '')
      trimNext = false
      if (open === -1) { segs.push({ text: chunk }); break }
      const close = text.indexOf('}}', open)
      if (close === -1) throw new TemplateError(`${file}:${lineAt(open)}: unclosed action`)
      let body = text.slice(open + 2, close)
      if (body.startsWith('- ')) { chunk = chunk.replace(/\s+$/, ''); body = body.slice(2) }
      if (body.endsWith(' -')) { trimNext = true; body = body.slice(0, -2) }
      segs.push({ text: chunk })
      body = body.trim()
      if (!(body.startsWith('/*') && body.endsWith('*/'))) segs.push({ action: body, line: lineAt(open) })
      i = close + 2
    }
    // Tree.
    let pos = 0
    const block = (stopAt: string[]): { nodes: Node[]; stop: string; stopBody: string; where: string } => {
      const nodes: Node[] = []
      while (pos < segs.length) {
        const s = segs[pos++]!
        if ('text' in s) { if (s.text) nodes.push({ k: 'text', v: s.text }); continue }
        const where = `${file}:${s.line}`
        const [, kw = '', rest = ''] = /^([a-z]+)\b\s*(.*)$/s.exec(s.action) ?? []
        if (stopAt.includes(kw)) return { nodes, stop: kw, stopBody: rest, where }
        const pipe = (src: string) => parsePipeline(tokenize(src, where), where)
        if (kw === 'if') {
          const branches: Array<{ cond?: Pipeline; body: Node[] }> = []
          let cond: Pipeline | undefined = pipe(rest)
          for (;;) {
            const b = block(['else', 'end'])
            branches.push({ cond, body: b.nodes })
            if (b.stop === 'end') break
            if (b.stopBody.startsWith('if ')) cond = pipe(b.stopBody.slice(3))
            else if (b.stopBody.trim() === '') cond = undefined
            else throw new TemplateError(`${b.where}: unsupported else form`)
          }
          nodes.push({ k: 'if', branches, where })
        } else if (kw === 'range' || kw === 'with') {
          const b = block(['else', 'end'])
          let elseBody: Node[] = []
          if (b.stop === 'else') elseBody = block(['end']).nodes
          nodes.push({ k: kw, p: pipe(rest), body: b.nodes, elseBody, where })
        } else if (kw === 'define') {
          const name = /^"([^"]+)"$/.exec(rest.trim())?.[1]
          if (!name) throw new TemplateError(`${where}: define needs a quoted name`)
          this.defines.set(name, block(['end']).nodes)
        } else if (['end', 'else', 'template', 'block', 'break', 'continue'].includes(kw)) {
          throw new TemplateError(`${where}: '${kw}' not expected here (or outside the supported subset)`)
        } else {
          nodes.push({ k: 'out', p: pipe(s.action), where })
        }
      }
      if (stopAt.length) throw new TemplateError(`${file}: missing {{ end }}`)
      return { nodes, stop: '', stopBody: '', where: file }
    }
    return block([]).nodes
  }

  /** Renders a parsed file with `data` as `.` and `$`. */
  render(file: string, data: Value): string {
    const nodes = this.files.get(file)
    if (!nodes) throw new TemplateError(`no template ${file}`)
    return this.exec(nodes, data, new Map([['$', data]]))
  }

  private exec(nodes: Node[], dot: Value, scope: Scope): string {
    let out = ''
    for (const n of nodes) {
      switch (n.k) {
        case 'text': out += n.v; break
        case 'out': {
          const v = this.pipeline(n.p, dot, scope, n.where)
          if (!n.p.decl) out += printValue(v)
          break
        }
        case 'if': {
          for (const b of n.branches) {
            if (!b.cond || truthy(this.pipeline(b.cond, dot, scope, n.where))) {
              out += this.exec(b.body, dot, new Map(scope))
              break
            }
          }
          break
        }
        case 'with': {
          const v = this.pipeline(n.p, dot, scope, n.where)
          out += truthy(v) ? this.exec(n.body, v, new Map(scope)) : this.exec(n.elseBody, dot, new Map(scope))
          break
        }
        case 'range': {
          const inner = new Map(scope)
          const v = this.pipeline({ cmds: n.p.cmds }, dot, inner, n.where)
          const entries: Array<[Value, Value]> = Array.isArray(v) ? v.map((x, i) => [i, x])
            : isMap(v) ? Object.keys(v).sort().map((k) => [k, v[k]])
            : v === null || v === undefined ? []
            : (() => { throw new TemplateError(`${n.where}: range over ${typeof v}`) })()
          if (entries.length === 0) { out += this.exec(n.elseBody, dot, new Map(scope)); break }
          for (const [key, elem] of entries) {
            const s = new Map(scope)
            const names = n.p.decl?.names ?? []
            if (names.length === 1) s.set(names[0]!, elem)
            if (names.length === 2) { s.set(names[0]!, key); s.set(names[1]!, elem) }
            out += this.exec(n.body, elem, s)
          }
          break
        }
      }
    }
    return out
  }

  private pipeline(p: Pipeline, dot: Value, scope: Scope, where: string): Value {
    let result: Value
    let first = true
    for (const cmd of p.cmds) {
      result = this.command(cmd, dot, scope, where, first ? undefined : { v: result })
      first = false
    }
    if (p.decl) {
      const name = p.decl.names[0]!
      if (p.decl.assign && !scope.has(name)) throw new TemplateError(`${where}: ${name} assigned before it was declared`)
      scope.set(name, result)
    }
    return result
  }

  private command(cmd: Expr[], dot: Value, scope: Scope, where: string, piped?: { v: Value }): Value {
    const [head, ...rest] = cmd
    if (head!.k === 'call') {
      const args = rest.map((e) => this.expr(e, dot, scope, where))
      if (piped) args.push(piped.v)
      return this.call(head!.fn, args, dot, where)
    }
    if (rest.length || piped) throw new TemplateError(`${where}: cannot give arguments to a non-function`)
    return this.expr(head!, dot, scope, where)
  }

  private expr(e: Expr, dot: Value, scope: Scope, where: string): Value {
    switch (e.k) {
      case 'lit': return e.v
      case 'field': return walk(dot, e.path, where)
      case 'var': {
        if (!scope.has(e.name)) throw new TemplateError(`${where}: undefined variable ${e.name}`)
        return walk(scope.get(e.name), e.path, where)
      }
      case 'call': return this.call(e.fn, [], dot, where)
      case 'pipe': return this.pipeline({ cmds: e.cmds }, dot, scope, where)
    }
  }

  private call(fn: string, a: Value[], _dot: Value, where: string): Value {
    const need = (n: number) => { if (a.length !== n) throw new TemplateError(`${where}: ${fn} takes ${n} arguments, got ${a.length}`) }
    switch (fn) {
      case 'include': {
        need(2)
        const body = this.defines.get(String(a[0]))
        if (!body) throw new TemplateError(`${where}: no template "${String(a[0])}"`)
        return this.exec(body, a[1], new Map([['$', a[1]]]))
      }
      case 'required': need(2); if (a[1] === null || a[1] === undefined || a[1] === '') throw new TemplateFailure(String(a[0])); return a[1]
      case 'fail': need(1); throw new TemplateFailure(String(a[0]))
      case 'default': need(2); return truthy(a[1]) ? a[1] : a[0]
      case 'toYaml': need(1); return toYaml(a[0])
      case 'nindent': need(2); return `\n${indentLines(num(a[0]), str(a[1]))}`
      case 'indent': need(2); return indentLines(num(a[0]), str(a[1]))
      case 'quote': return a.map((v) => JSON.stringify(v === null || v === undefined ? '' : str(v))).join(' ')
      case 'toString': need(1); return str(a[0])
      case 'trunc': need(2); return str(a[1]).slice(0, num(a[0]))
      case 'trimSuffix': need(2); return str(a[1]).endsWith(str(a[0])) ? str(a[1]).slice(0, -str(a[0]).length || undefined) : str(a[1])
      case 'trim': need(1); return str(a[0]).trim()
      case 'replace': need(3); return str(a[2]).split(str(a[0])).join(str(a[1]))
      case 'contains': need(2); return str(a[1]).includes(str(a[0]))
      case 'hasPrefix': need(2); return str(a[1]).startsWith(str(a[0]))
      case 'printf': return sprintf(str(a[0]), a.slice(1), where)
      case 'print': return a.map(printValue).join('')
      case 'b64enc': need(1); return Buffer.from(str(a[0])).toString('base64')
      case 'sha256sum': need(1); return createHash('sha256').update(str(a[0])).digest('hex')
      case 'list': return [...a]
      case 'dict': {
        const d: Record<string, Value> = {}
        for (let i = 0; i < a.length; i += 2) d[str(a[i])] = a[i + 1]
        return d
      }
      case 'hasKey': need(2); if (!isMap(a[0])) throw new TemplateError(`${where}: hasKey on a non-map`); return Object.hasOwn(a[0], str(a[1]))
      case 'index': {
        let v = a[0]
        for (const k of a.slice(1)) v = Array.isArray(v) ? v[num(k)] : isMap(v) ? v[str(k)] : (() => { throw new TemplateError(`${where}: index of ${typeof v}`) })()
        return v
      }
      case 'kindIs': need(2); return kindOf(a[1]) === a[0]
      case 'int': case 'int64': need(1); return new GoInt(a[0] instanceof GoInt ? a[0].v : Number(a[0] ?? 0) || 0)
      case 'gt': need(2); return num(a[0]) > num(a[1])
      case 'lt': need(2); return num(a[0]) < num(a[1])
      case 'eq': need(2); return plain(a[0]) === plain(a[1])
      case 'ne': need(2); return plain(a[0]) !== plain(a[1])
      case 'not': need(1); return !truthy(a[0])
      case 'and': { let last: Value = true; for (const v of a) { last = v; if (!truthy(v)) return v } return last }
      case 'or': { let last: Value = false; for (const v of a) { last = v; if (truthy(v)) return v } return last }
      case 'empty': need(1); return !truthy(a[0])
      default: throw new TemplateError(`${where}: function "${fn}" is not in the supported subset`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Values

function isMap(v: Value): v is Record<string, Value> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof GoInt)
}

function walk(v: Value, path: string[], where: string): Value {
  let cur = v
  for (const key of path) {
    if (cur === null || cur === undefined) throw new TemplateError(`${where}: nil pointer evaluating .${path.join('.')} (at ${key})`)
    if (!isMap(cur)) throw new TemplateError(`${where}: can't evaluate field ${key} in ${kindOf(cur)}`)
    cur = Object.hasOwn(cur, key) ? cur[key] : null
  }
  return cur
}

function truthy(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0) return false
  if (v instanceof GoInt) return v.v !== 0
  if (Array.isArray(v)) return v.length > 0
  if (isMap(v)) return Object.keys(v).length > 0
  return true
}

function kindOf(v: Value): string {
  if (v === null || v === undefined) return 'invalid'
  if (v instanceof GoInt) return 'int64'
  if (typeof v === 'number') return 'float64'
  if (typeof v === 'string') return 'string'
  if (typeof v === 'boolean') return 'bool'
  if (Array.isArray(v)) return 'slice'
  return 'map'
}

const plain = (v: Value) => (v instanceof GoInt ? v.v : v)

function num(v: Value): number {
  const n = plain(v)
  if (typeof n !== 'number') throw new TemplateError(`expected a number, got ${kindOf(v)}`)
  return n
}

/** Go's %v of a float64: shortest representation, exponent form from 1e+06 (or below 1e-04). */
function goFloat(n: number): string {
  if (n === 0) return '0'
  const exp = Math.floor(Math.log10(Math.abs(n)))
  if (exp < -4 || exp >= 6) {
    const [m, e] = n.toExponential().split('e') as [string, string]
    const sign = e.startsWith('-') ? '-' : '+'
    return `${m}e${sign}${e.replace(/^[-+]/, '').padStart(2, '0')}`
  }
  return String(n)
}

function str(v: Value): string {
  if (v === null || v === undefined) return ''
  if (v instanceof GoInt) return String(v.v)
  if (typeof v === 'number') return goFloat(v)
  if (typeof v === 'string') return v
  if (typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return `[${v.map(str).join(' ')}]`
  return `map[${Object.keys(v as object).sort().map((k) => `${k}:${str((v as Record<string, Value>)[k])}`).join(' ')}]`
}

const printValue = str

function indentLines(n: number, s: string): string {
  const pad = ' '.repeat(n)
  return s.split('\n').map((l) => pad + l).join('\n')
}

/** Helm's toYaml: sigs.k8s.io/yaml output (keys sorted, sequences not indented), no final newline. */
function toYaml(v: Value): string {
  if (v === null || v === undefined) return 'null'
  const toPlain = (x: Value): Value => (x instanceof GoInt ? x.v : Array.isArray(x) ? x.map(toPlain) : isMap(x) ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, toPlain(y)])) : x)
  return yamlStringify(toPlain(v), { sortMapEntries: true, indentSeq: false, lineWidth: 0 }).replace(/\n$/, '')
}

function sprintf(format: string, args: Value[], where: string): string {
  let i = 0
  return format.replace(/%[sdvq%]/g, (spec) => {
    if (spec === '%%') return '%'
    if (i >= args.length) throw new TemplateError(`${where}: printf: missing argument for ${spec}`)
    const v = args[i++]
    if (spec === '%d') return String(Math.trunc(num(v)))
    if (spec === '%q') return JSON.stringify(str(v))
    return str(v)
  })
}
