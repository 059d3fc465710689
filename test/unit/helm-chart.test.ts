// The Helm chart (helm/iam) without a helm binary: the checks a `helm lint` / `helm template` run
// would catch first, done on the template text. Each checker is a small pure function, and each is
// also run on a deliberately broken snippet, so the suite proves it can fail.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { configSchema, loadConfig } from '../../src/config.ts'

const root = path.resolve(import.meta.dirname, '../..')
const chartDir = path.join(root, 'helm/iam')
const templatesDir = path.join(chartDir, 'templates')
const read = (file: string) => readFileSync(file, 'utf8')

const templateFiles = readdirSync(templatesDir).filter((f) => /\.(ya?ml|tpl|txt)$/.test(f)).sort()
const templates = new Map(templateFiles.map((f) => [f, read(path.join(templatesDir, f))]))
const allTemplateText = [...templates.values()].join('\n')
const valuesText = read(path.join(chartDir, 'values.yaml'))
const values = parseYaml(valuesText) as Record<string, unknown>
const helpers = templates.get('_helpers.tpl') ?? ''

// ---------------------------------------------------------------------------------------------
// Checkers

interface Action { body: string; line: number; start: number; end: number }

/** The `{{ … }}` actions of a template (trim markers removed), or the delimiter problems found. */
function scanActions(text: string): { actions: Action[]; problems: string[] } {
  const actions: Action[] = []
  const problems: string[] = []
  const lineAt = (i: number) => text.slice(0, i).split('\n').length
  let i = 0
  for (;;) {
    const open = text.indexOf('{{', i)
    const strayClose = text.indexOf('}}', i)
    if (strayClose !== -1 && (open === -1 || strayClose < open)) problems.push(`line ${lineAt(strayClose)}: '}}' without '{{'`)
    if (open === -1) break
    const close = text.indexOf('}}', open + 2)
    if (close === -1) {
      problems.push(`line ${lineAt(open)}: '{{' never closed`)
      break
    }
    const nextOpen = text.indexOf('{{', open + 2)
    if (nextOpen !== -1 && nextOpen < close) problems.push(`line ${lineAt(open)}: '{{' opened again before '}}'`)
    const body = text.slice(open + 2, close).replace(/^-\s/, '').replace(/\s-$/, '').trim()
    if (body.startsWith('/*') && !body.endsWith('*/')) problems.push(`line ${lineAt(open)}: comment not closed by '*/}}'`)
    actions.push({ body, line: lineAt(open), start: open, end: close + 2 })
    i = close + 2
  }
  return { actions, problems }
}

const isComment = (a: Action) => a.body.startsWith('/*')
const keyword = (a: Action) => (isComment(a) ? '' : (/^([a-z]+)\b/.exec(a.body)?.[1] ?? ''))
const OPENERS = new Set(['if', 'range', 'with', 'define', 'block'])

/** Every if/range/with/define/block has its end, every end and else its opener. */
function checkBlocks(text: string): string[] {
  const { actions, problems } = scanActions(text)
  const stack: Action[] = []
  for (const a of actions) {
    const k = keyword(a)
    if (OPENERS.has(k)) stack.push(a)
    else if (k === 'else' && !stack.some((s) => ['if', 'with', 'range'].includes(keyword(s)))) problems.push(`line ${a.line}: else outside if/with/range`)
    else if (k === 'end' && !stack.pop()) problems.push(`line ${a.line}: end without an opener`)
  }
  for (const a of stack) problems.push(`line ${a.line}: '${keyword(a)}' never ended`)
  return problems
}

/** `define "name"` → the text between the define and its end. */
function defines(text: string): Map<string, string> {
  const { actions } = scanActions(text)
  const result = new Map<string, string>()
  const stack: Array<{ a: Action; name?: string }> = []
  for (const a of actions) {
    const k = keyword(a)
    if (OPENERS.has(k)) stack.push({ a, name: k === 'define' ? /^define\s+"([^"]+)"/.exec(a.body)?.[1] : undefined })
    else if (k === 'end') {
      const top = stack.pop()
      if (top?.name) result.set(top.name, text.slice(top.a.end, a.start))
    }
  }
  return result
}

/** `.Values.a.b` paths used in actions (comments skipped). */
function valuesPaths(text: string): string[] {
  const paths = new Set<string>()
  for (const a of scanActions(text).actions) {
    if (isComment(a)) continue
    for (const m of a.body.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) paths.add(m[1]!.slice(1))
  }
  return [...paths].sort()
}

/** The paths that do not exist in the values object. */
function missingValuesPaths(paths: string[], vals: unknown): string[] {
  return paths.filter((p) => {
    let node: unknown = vals
    for (const key of p.split('.')) {
      if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, key)) return true
      node = (node as Record<string, unknown>)[key]
    }
    return false
  })
}

/** Keys of values.yaml without a comment line right above them (or at the end of their line). */
function undocumentedKeys(text: string): string[] {
  const lines = text.split('\n')
  const missing: string[] = []
  lines.forEach((line, i) => {
    const m = /^(\s*)(?:- )?([A-Za-z0-9_./-]+):(\s|$)/.exec(line)
    if (!m || line.trimStart().startsWith('#')) return
    if (/\s#\s/.test(line)) return
    let j = i - 1
    while (j >= 0 && lines[j]!.trim() === '') j--
    if (j < 0 || !lines[j]!.trimStart().startsWith('#')) missing.push(`line ${i + 1}: ${m[2]}`)
  })
  return missing
}

/** Leaf paths of values (stopping at lists, empty maps and scalars). */
function leafPaths(node: unknown, prefix = ''): string[] {
  if (node === null || typeof node !== 'object' || Array.isArray(node) || Object.keys(node).length === 0) return [prefix]
  return Object.entries(node).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k))
}

/** Environment variable names of src/config.ts's schema (the keys of its `z.object({…})`). */
const schemaKeys = new Set(Object.keys(configSchema.shape))
const configData = defines(helpers).get('iam.configData') ?? ''
const secretData = defines(helpers).get('iam.secretData') ?? ''
const podSpec = defines(helpers).get('iam.podSpec') ?? ''
const validate = defines(helpers).get('iam.validate') ?? ''

/** `NAME:` keys written at the start of a line of a define (ConfigMap / Secret data). */
const dataKeys = (text: string) => [...text.matchAll(/^([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!)

// ---------------------------------------------------------------------------------------------

describe('the checkers fail on broken templates', () => {
  it('delimiters', () => {
    expect(scanActions('a {{ .Values.x }} b').problems).toEqual([])
    expect(scanActions('a {{ .Values.x } b').problems).toEqual([`line 1: '{{' never closed`])
    expect(scanActions('a {{ .Values.x {{ .y }} }}').problems.length).toBeGreaterThan(0)
    expect(scanActions('a .Values.x }}').problems).toEqual([`line 1: '}}' without '{{'`])
  })
  it('blocks', () => {
    expect(checkBlocks('{{- if .a }}\nx\n{{- else if .b }}\ny\n{{- end }}')).toEqual([])
    expect(checkBlocks('{{- if .a }}\n{{- range .b }}\n{{- end }}')).toEqual([`line 1: 'if' never ended`])
    expect(checkBlocks('{{- with .a }}{{ end }}\n{{- end }}')).toEqual([`line 2: end without an opener`])
    expect(checkBlocks('{{/* if this were code */}}{{ define "x" }}{{ end }}')).toEqual([])
  })
  it('values paths', () => {
    const paths = valuesPaths('{{ .Values.image.tag }} {{ $root.Values.image.nope }} {{/* .Values.commented */}}')
    expect(paths).toEqual(['image.nope', 'image.tag'])
    expect(missingValuesPaths(paths, { image: { tag: '' } })).toEqual(['image.nope'])
    expect(missingValuesPaths(['a.b'], { a: [] })).toEqual(['a.b'])
  })
  it('undocumented values', () => {
    expect(undocumentedKeys('# -- doc\na: 1\n# -- doc\nb:\n  c: 2 # doc\n')).toEqual([])
    expect(undocumentedKeys('# -- doc\na:\n  b: 1\n')).toEqual(['line 3: b'])
  })
  it('config schema keys', () => {
    for (const name of ['PORT', 'ISSUER', 'DATABASE_URL', 'COOKIE_KEYS']) expect(schemaKeys.has(name), name).toBe(true)
    expect(schemaKeys.size).toBeGreaterThan(30)
  })
})

describe('helm/iam templates', () => {
  it('has the templates the chart promises', () => {
    for (const f of ['_helpers.tpl', 'NOTES.txt', 'deployment.yaml', 'service.yaml', 'ingress.yaml', 'configmap.yaml', 'secret.yaml',
      'migrate-job.yaml', 'hpa.yaml', 'pdb.yaml', 'servicemonitor.yaml', 'networkpolicy.yaml']) {
      expect(templates.has(f), f).toBe(true)
    }
  })

  it.each(templateFiles)('%s: {{ }} balance and every block has its end', (file) => {
    expect(checkBlocks(templates.get(file)!)).toEqual([])
  })

  it('uses only .Values paths that exist in values.yaml', () => {
    const used = valuesPaths(allTemplateText)
    expect(used.length).toBeGreaterThan(30)
    expect(missingValuesPaths(used, values)).toEqual([])
  })

  it('uses every value of values.yaml (no dead keys)', () => {
    const used = valuesPaths(allTemplateText)
    const unused = leafPaths(values).filter((leaf) => !used.some((u) => leaf === u || leaf.startsWith(`${u}.`)))
    expect(unused).toEqual([])
  })

  it('only includes defines that exist', () => {
    const defined = new Set(templateFiles.flatMap((f) => [...defines(templates.get(f)!).keys()]))
    const included = new Set([...allTemplateText.matchAll(/include "([^"]+)"/g)].map((m) => m[1]!))
    expect([...included].filter((n) => !defined.has(n))).toEqual([])
  })

  it('is plain YAML outside the actions: 2-space indentation, no tabs', () => {
    for (const [file, text] of templates) {
      expect(text.includes('\t'), file).toBe(false)
      // template comments ({{/* … */}}) are prose
      const code = scanActions(text).actions.filter(isComment).reduceRight((t, a) => t.slice(0, a.start) + t.slice(a.end), text)
      const odd = code.split('\n').filter((l) => l.trim() && (l.length - l.trimStart().length) % 2 !== 0)
      expect(odd, file).toEqual([])
    }
  })
})

describe('helm/iam values and Chart.yaml', () => {
  it('Chart.yaml: apiVersion v2, appVersion = package.json version', () => {
    const chart = parseYaml(read(path.join(chartDir, 'Chart.yaml'))) as Record<string, unknown>
    const pkg = JSON.parse(read(path.join(root, 'package.json'))) as { version: string }
    expect(chart.apiVersion).toBe('v2')
    expect(chart.name).toBe('iam')
    expect(chart.appVersion).toBe(pkg.version)
  })

  it('values.yaml: every key has a comment', () => {
    expect(undocumentedKeys(valuesText)).toEqual([])
  })

  it('values.yaml holds no secret values', () => {
    const secrets = values.secrets as Record<string, string>
    for (const [key, value] of Object.entries(secrets)) expect(value, `secrets.${key}`).toBe('')
  })

  it('the chart runs as the image user and listens on the image port', () => {
    const dockerfile = read(path.join(root, 'Dockerfile'))
    const uid = Number(/^USER (\d+)/m.exec(dockerfile)?.[1])
    const pod = values.podSecurityContext as Record<string, unknown>
    const container = values.securityContext as Record<string, unknown>
    expect(pod.runAsUser).toBe(uid)
    expect(container.runAsUser).toBe(uid)
    expect(container.readOnlyRootFilesystem).toBe(true)
    expect(container.allowPrivilegeEscalation).toBe(false)
    expect(values.containerPort).toBe(Number(/^EXPOSE (\d+)/m.exec(dockerfile)?.[1]))
    expect(values.containerPort).toBe(loadConfig({}).port)
  })
})

describe('helm/iam environment', () => {
  it('sets only environment variables src/config.ts knows', () => {
    const names = new Set([
      ...dataKeys(configData),
      ...Object.keys(values.config as object),
      ...Object.keys(values.env as object),
      ...dataKeys(secretData),
      ...[...allTemplateText.matchAll(/- name: ([A-Z][A-Z0-9_]*)\s*$/gm)].map((m) => m[1]!),
      ...[...validate.matchAll(/"([A-Z][A-Z0-9_]*)"/g)].map((m) => m[1]!),
    ])
    expect(names.size).toBeGreaterThan(50)
    expect([...names].filter((n) => !schemaKeys.has(n))).toEqual([])
  })

  it('a typo in a setting name would be caught', () => {
    expect(schemaKeys.has('LOCKOUT_TRESHOLD')).toBe(false)
    expect(schemaKeys.has('LOCKOUT_THRESHOLD')).toBe(true)
  })

  it('the Secret has every key the pods read; required ones are always rendered', () => {
    const secretKeys = new Set(dataKeys(secretData))
    const refs = [...podSpec.matchAll(/key: ([A-Z][A-Z0-9_]*)\n(\s+optional: true)?/g)].map((m) => ({ key: m[1]!, optional: Boolean(m[2]) }))
    expect(refs.map((r) => r.key).sort()).toEqual(['COOKIE_KEYS', 'DATABASE_URL', 'ENCRYPTION_KEYS', 'FEDERATION', 'JWKS', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD', 'REDIS_URL', 'SMTP_PASSWORD', 'VONAGE_API_SECRET'])
    for (const ref of refs) {
      expect(secretKeys.has(ref.key), ref.key).toBe(true)
      if (!ref.optional && ref.key !== 'FEDERATION') {
        expect(new RegExp(`^${ref.key}: \\{\\{ required `, 'm').test(secretData), `${ref.key} is required`).toBe(true)
      }
    }
    // Both Secrets (the release's and the migration hook's copy) render the same data.
    expect(templates.get('secret.yaml')).toContain('include "iam.secretData"')
    expect(templates.get('migrate-job.yaml')).toContain('include "iam.secretData"')
  })

  it('the ConfigMap sets production, the issuer and the port, and TRUST_PROXY with an ingress', () => {
    expect(configData).toMatch(/^NODE_ENV: "production"$/m)
    expect(configData).toMatch(/^ISSUER: \{\{ .Values.issuer/m)
    expect(configData).toMatch(/^PORT: \{\{ .Values.containerPort/m)
    expect(configData).toMatch(/if or .Values.ingress.enabled .Values.trustProxy \}\}\nTRUST_PROXY: "true"/)
  })

  it('the values that become settings parse with loadConfig', () => {
    const env: Record<string, string> = {
      NODE_ENV: 'production', PORT: String(values.containerPort), ISSUER: 'https://id.example.com', TRUST_PROXY: 'true',
      DATABASE_URL: 'postgresql://iam:pw@db/iam', REDIS_URL: 'redis://redis:6379',
      COOKIE_KEYS: 'k'.repeat(32), ENCRYPTION_KEYS: `k1:${Buffer.alloc(32).toString('base64')}`,
    }
    for (const [k, v] of Object.entries({ ...(values.config as object), ...(values.env as object) })) if (v !== '' && v !== null) env[k] = String(v)
    expect(() => loadConfig(env)).not.toThrow()
  })
})

describe('helm/iam pods', () => {
  it('probes use the health endpoints the app serves', () => {
    const app = read(path.join(root, 'src/app.ts'))
    for (const [probe, p] of [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
      expect(podSpec).toMatch(new RegExp(`${probe}:\\n\\s+httpGet:\\n\\s+path: ${p}\\n`))
      expect(app).toContain(`'${p}'`)
    }
  })

  it('the server and migration pods share one pod spec; the Service selects only the server', () => {
    expect(templates.get('deployment.yaml')).toMatch(/include "iam.podSpec" \(dict .* "args" \(list "serve"\)/)
    expect(templates.get('migrate-job.yaml')).toMatch(/include "iam.podSpec" \(dict .* "args" \(list "migrate"\)/)
    expect(templates.get('service.yaml')).toContain('include "iam.serverSelectorLabels"')
    expect(templates.get('deployment.yaml')).toContain('include "iam.serverSelectorLabels"')
    expect(read(path.join(root, 'src/main.ts'))).toContain(`argv[0] === 'serve'`)
    expect(read(path.join(root, 'src/cli/migrate.ts'))).toContain(`name: 'migrate'`)
  })

  it('writable places are emptyDirs at /var/lib/iam (DATA_DIR, KEYS_DIR) and /tmp', () => {
    expect(podSpec).toMatch(/- name: data\n\s+mountPath: \/var\/lib\/iam\n/)
    expect(podSpec).toMatch(/- name: tmp\n\s+mountPath: \/tmp\n/)
    expect(podSpec).toMatch(/- name: data\n\s+emptyDir: \{\}/)
    expect(podSpec).toMatch(/- name: tmp\n\s+emptyDir: \{\}/)
    expect(podSpec).toContain('automountServiceAccountToken: false')
  })

  it('migration hook: its ConfigMap and Secret copies are hooks that run before the Job', () => {
    const docs = templates.get('migrate-job.yaml')!.split(/^---$/m)
    const hook = (kind: string) => {
      const doc = docs.find((d) => new RegExp(`^kind: ${kind}$`, 'm').test(d))
      expect(doc, kind).toBeDefined()
      expect(doc).toMatch(/helm\.sh\/hook: pre-install,pre-upgrade/)
      return { weight: Number(/helm\.sh\/hook-weight: "(-?\d+)"/.exec(doc!)?.[1]), policy: /hook-delete-policy: (.*)/.exec(doc!)?.[1] ?? '' }
    }
    const job = hook('Job')
    const configMap = hook('ConfigMap')
    const secret = hook('Secret')
    expect(configMap.weight).toBeLessThan(job.weight)
    expect(secret.weight).toBeLessThan(job.weight)
    expect(configMap.policy).toContain('hook-succeeded')
    expect(secret.policy).toContain('hook-succeeded')
    expect(job.policy).toContain('before-hook-creation')
  })
})
