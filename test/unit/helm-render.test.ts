// Renders helm/iam with test/support/go-template.ts (the subset of Go templates the chart uses; no
// helm binary here) under several sets of values, parses every manifest as YAML and checks what
// Kubernetes and the server would get: objects, pod security, env, hook ordering, and that the
// settings the chart produces pass src/config.ts's validation.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config.ts'
import { TemplateFailure, TemplateSet } from '../support/go-template.ts'

const chartDir = path.resolve(import.meta.dirname, '../../helm/iam')
const templateNames = readdirSync(path.join(chartDir, 'templates')).sort()
const chart = parseYaml(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, string>
const defaults = parseYaml(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>
/** The image's ENTRYPOINT (the Dockerfile's exec form). */
const dockerEntrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(path.resolve(chartDir, '../../Dockerfile'), 'utf8'))![1]!) as string[]

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any }

/** Helm's value merge: maps merge key by key, anything else replaces. */
function merge(base: unknown, over: unknown): unknown {
  if (over && typeof over === 'object' && !Array.isArray(over) && base && typeof base === 'object' && !Array.isArray(base)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) }
    for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v)
    return out
  }
  return over
}

function render(overrides: Record<string, unknown>): { manifests: Manifest[]; notes: string } {
  const set = new TemplateSet()
  for (const name of templateNames) set.add(name, readFileSync(path.join(chartDir, 'templates', name), 'utf8'))
  const ctx = {
    Values: merge(defaults, overrides),
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
    Release: { Name: 'prod', Namespace: 'identity', Service: 'Helm', IsInstall: true, IsUpgrade: false },
  }
  // Like helm: render every template first (a `fail` anywhere stops the install), then parse.
  const rendered = templateNames.filter((n) => !n.startsWith('_')).map((name) => [name, set.render(name, ctx)] as const)
  const manifests: Manifest[] = []
  let notes = ''
  for (const [name, text] of rendered) {
    if (name === 'NOTES.txt') { notes = text; continue }
    for (const doc of parseAllDocuments(text, { version: '1.1' })) {
      expect(doc.errors, `${name}: ${doc.errors.map((e) => e.message).join('; ')}`).toEqual([])
      const value = doc.toJS() as Manifest | null
      if (value) manifests.push(value)
    }
  }
  return { manifests, notes }
}

const find = (ms: Manifest[], kind: string, name: string) => ms.find((m) => m.kind === kind && m.metadata.name === name)
const kinds = (ms: Manifest[]) => ms.map((m) => `${m.kind}/${m.metadata.name}`).sort()

const secrets = {
  databaseUrl: 'postgresql://iam:pw@db:5432/iam',
  cookieKeys: `${'a'.repeat(32)},${'b'.repeat(32)}`,
  jwks: '{"keys":[]}',
  encryptionKeys: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
}
const minimal = { issuer: 'https://id.example.com', secrets }

/** The environment a container would get from the rendered ConfigMap and Secret. */
function containerEnv(ms: Manifest[], container: any, files: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const from of container.envFrom ?? []) Object.assign(env, find(ms, 'ConfigMap', from.configMapRef.name)!.data)
  for (const e of container.env ?? []) {
    if ('value' in e) env[e.name] = files[e.value] ?? e.value
    else {
      const ref = e.valueFrom.secretKeyRef
      const data = find(ms, 'Secret', ref.name)?.data ?? {}
      if (!(ref.key in data) && !ref.optional) throw new Error(`${e.name}: Secret ${ref.name} has no ${ref.key}`)
      if (ref.key in data) env[e.name] = Buffer.from(data[ref.key], 'base64').toString()
    }
  }
  return env
}

const tmp = mkdtempSync(path.join(tmpdir(), 'iam-helm-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('helm/iam rendered with the minimal values', () => {
  const { manifests, notes } = render(minimal)
  const deployment = find(manifests, 'Deployment', 'prod-iam')!
  const job = find(manifests, 'Job', 'prod-iam-migrate')!

  it('renders the expected objects, each once', () => {
    expect(kinds(manifests)).toEqual([
      'ConfigMap/prod-iam', 'ConfigMap/prod-iam-migrate', 'Deployment/prod-iam', 'Job/prod-iam-migrate',
      'Secret/prod-iam', 'Secret/prod-iam-migrate', 'Service/prod-iam',
    ])
    expect(notes).toContain('https://id.example.com/.well-known/openid-configuration')
  })

  it('runs the pods non-root on a read-only root filesystem, writable emptyDirs only', () => {
    for (const spec of [deployment.spec.template.spec, job.spec.template.spec]) {
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } })
      expect(spec.automountServiceAccountToken).toBe(false)
      const [c] = spec.containers
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true, runAsUser: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
      })
      expect(c.volumeMounts.map((m: any) => m.mountPath).sort()).toEqual(['/tmp', '/var/lib/iam'])
      expect(spec.volumes.every((v: any) => 'emptyDir' in v)).toBe(true)
    }
  })

  it('Deployment: serve with probes on /healthz and /readyz; the Service selects it alone', () => {
    const spec = deployment.spec.template.spec
    const [c] = spec.containers
    expect(deployment.spec.replicas).toBe(1)
    expect(c.image).toBe(`iam:${chart.appVersion}`)
    expect(c.args).toEqual(['serve'])
    // Node runs the sources itself, as the image's ENTRYPOINT and `npm start` do: no TypeScript loader.
    expect(c.command).toEqual(dockerEntrypoint)
    expect(c.command).toEqual(['node', 'src/main.ts'])
    expect(c.ports).toEqual([{ name: 'http', containerPort: 3000, protocol: 'TCP' }])
    // Exact keys: a wrong indentation in a template moves fields to another level.
    expect(Object.keys(spec).sort()).toEqual(['automountServiceAccountToken', 'containers', 'securityContext', 'terminationGracePeriodSeconds', 'volumes'])
    expect(Object.keys(c).sort()).toEqual(['args', 'command', 'env', 'envFrom', 'image', 'imagePullPolicy', 'lifecycle', 'livenessProbe', 'name', 'ports',
      'readinessProbe', 'resources', 'securityContext', 'startupProbe', 'volumeMounts'])
    expect(c.startupProbe).toEqual({ httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 36 })
    expect(c.livenessProbe).toEqual({ httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 })
    expect(c.readinessProbe).toEqual({ httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 })
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } })
    expect(c.lifecycle.preStop.exec.command).toEqual(['sleep', '5'])
    expect(spec.terminationGracePeriodSeconds).toBe(30)
    const service = find(manifests, 'Service', 'prod-iam')!
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels)
    expect(service.spec.selector['app.kubernetes.io/component']).toBe('server')
    expect(job.spec.template.metadata.labels['app.kubernetes.io/component']).toBe('migrate')
  })

  it('the server gets a configuration src/config.ts accepts (production, https issuer, keys)', () => {
    const env = containerEnv(manifests, deployment.spec.template.spec.containers[0], {})
    expect(env).toMatchObject({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', PORT: '3000', DATABASE_URL: secrets.databaseUrl })
    expect(env.TRUST_PROXY).toBeUndefined()
    const config = loadConfig(env)
    expect(config.production).toBe(true)
    expect(config.cookieKeys).toEqual(secrets.cookieKeys.split(','))
    expect(config.redisUrl).toBeUndefined()
  })

  it('migration hook: copies of the ConfigMap and Secret run first and carry the same data', () => {
    const hook = (m: Manifest) => m.metadata.annotations ?? {}
    const cm = find(manifests, 'ConfigMap', 'prod-iam-migrate')!
    const secret = find(manifests, 'Secret', 'prod-iam-migrate')!
    for (const m of [cm, secret, job]) expect(hook(m)['helm.sh/hook']).toBe('pre-install,pre-upgrade')
    expect(Number(hook(cm)['helm.sh/hook-weight'])).toBeLessThan(Number(hook(job)['helm.sh/hook-weight']))
    expect(Number(hook(secret)['helm.sh/hook-weight'])).toBeLessThan(Number(hook(job)['helm.sh/hook-weight']))
    expect(hook(secret)['helm.sh/hook-delete-policy']).toContain('hook-succeeded')
    expect(cm.data).toEqual(find(manifests, 'ConfigMap', 'prod-iam')!.data)
    expect(secret.data).toEqual(find(manifests, 'Secret', 'prod-iam')!.data)
    // The release's own ConfigMap and Secret are not hooks (they belong to the release).
    expect(find(manifests, 'Secret', 'prod-iam')!.metadata.annotations).toBeUndefined()
    const [c] = job.spec.template.spec.containers
    expect(c.args).toEqual(['migrate'])
    expect(c.command).toEqual(dockerEntrypoint)
    expect(c.image).toBe(deployment.spec.template.spec.containers[0].image)
    expect(c.envFrom[0].configMapRef.name).toBe('prod-iam-migrate')
    expect(c.env.every((e: any) => !e.valueFrom || e.valueFrom.secretKeyRef.name === 'prod-iam-migrate')).toBe(true)
    expect(job.spec.template.spec.restartPolicy).toBe('Never')
    expect(loadConfig(containerEnv(manifests, c, {})).databaseUrl).toBe(secrets.databaseUrl)
  })
})

describe('helm/iam rendered for production behind an ingress', () => {
  const federation = JSON.stringify([{ id: 'corp', type: 'oidc', name: 'Corp', clientId: 'iam', clientSecret: 's'.repeat(32), issuer: 'https://sso.corp.example' }])
  const { manifests, notes } = render({
    issuer: 'https://id.example.com',
    secrets: { ...secrets, redisUrl: 'rediss://redis:6380', smtpPassword: 'smtp-pw', federation },
    config: { SMTP_HOST: 'smtp.example.com', SMTP_USER: 'iam', REFRESH_TOKEN_TTL: 2592000, AUDIT_RETENTION_DAYS: 0, SMTP_SECURE: true },
    ingress: { enabled: true, className: 'nginx', hosts: [{ host: 'id.example.com', paths: [{ path: '/', pathType: 'Prefix' }] }], tls: [{ secretName: 'id-tls', hosts: ['id.example.com'] }] },
    autoscaling: { enabled: true },
    networkPolicy: { enabled: true, egress: { smtp: { enabled: true } } },
    serviceMonitor: { enabled: true },
  })
  const deployment = find(manifests, 'Deployment', 'prod-iam')!
  const [container] = deployment.spec.template.spec.containers

  it('adds Ingress, HPA, PDB, NetworkPolicy and ServiceMonitor', () => {
    expect(kinds(manifests)).toEqual(expect.arrayContaining([
      'HorizontalPodAutoscaler/prod-iam', 'Ingress/prod-iam', 'NetworkPolicy/prod-iam', 'PodDisruptionBudget/prod-iam', 'ServiceMonitor/prod-iam',
    ]))
    expect(deployment.spec.replicas).toBeUndefined() // the HPA owns it
    const ingress = find(manifests, 'Ingress', 'prod-iam')!
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'prod-iam', port: { name: 'http' } })
    expect(ingress.spec.tls[0].secretName).toBe('id-tls')
    expect(find(manifests, 'ServiceMonitor', 'prod-iam')!.spec.endpoints[0].path).toBe('/metrics')
    const policy = find(manifests, 'NetworkPolicy', 'prod-iam')!
    expect(policy.spec.egress.flatMap((r: any) => r.ports.map((p: any) => p.port))).toEqual([53, 53, 5432, 6379, 587, 465, 443])
    expect(notes).toContain('Ingress:    id.example.com')
  })

  it('sets TRUST_PROXY, mounts FEDERATION as a file, and the result passes src/config.ts', () => {
    const fedFile = path.join(tmp, 'federation.json')
    writeFileSync(fedFile, Buffer.from(find(manifests, 'Secret', 'prod-iam')!.data.FEDERATION, 'base64'))
    const env = containerEnv(manifests, container, { '/etc/iam/federation/federation.json': fedFile })
    expect(env).toMatchObject({ TRUST_PROXY: 'true', REDIS_URL: 'rediss://redis:6380', SMTP_PASSWORD: 'smtp-pw', REFRESH_TOKEN_TTL: '2592000', AUDIT_RETENTION_DAYS: '0', SMTP_SECURE: 'true' })
    expect(env.FEDERATION).toBeUndefined()
    const config = loadConfig(env)
    expect(config.trustProxy).toBe(true)
    expect(config.federation.map((u) => u.id)).toEqual(['corp'])
    expect(config.smtp?.auth).toEqual({ user: 'iam', pass: 'smtp-pw' })
    expect(config.ttl.refreshToken).toBe(2592000)
    const federationVolume = deployment.spec.template.spec.volumes.find((v: any) => v.name === 'federation')
    expect(federationVolume.secret).toEqual({ secretName: 'prod-iam', defaultMode: 0o440, items: [{ key: 'FEDERATION', path: 'federation.json' }] })
  })
})

describe('helm/iam with an existing Secret', () => {
  const { manifests, notes } = render({ issuer: 'https://id.example.com', secrets: { existingSecret: 'iam-secrets' }, federation: { enabled: true }, replicaCount: 2 })

  it('makes no Secret; the pods and the migration Job read the existing one', () => {
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([])
    for (const m of [find(manifests, 'Deployment', 'prod-iam')!, find(manifests, 'Job', 'prod-iam-migrate')!]) {
      const spec = m.spec.template.spec
      const names = new Set(spec.containers[0].env.filter((e: any) => e.valueFrom).map((e: any) => e.valueFrom.secretKeyRef.name))
      expect([...names]).toEqual(['iam-secrets'])
      expect(spec.volumes.find((v: any) => v.name === 'federation').secret.secretName).toBe('iam-secrets')
    }
    expect(find(manifests, 'Deployment', 'prod-iam')!.spec.template.metadata.annotations['checksum/secret']).toBeUndefined()
    expect(find(manifests, 'PodDisruptionBudget', 'prod-iam')).toBeDefined()
    expect(notes).toContain('make sure that Secret has REDIS_URL')
  })
})

describe('helm/iam refuses bad values', () => {
  const refused = (overrides: Record<string, unknown>) => {
    try {
      render(overrides)
    } catch (err) {
      expect(err).toBeInstanceOf(TemplateFailure)
      return (err as Error).message
    }
    throw new Error('rendered without complaint')
  }
  it.each([
    ['no issuer', { secrets }, /issuer is required/],
    ['an http issuer', { ...minimal, issuer: 'http://id.example.com' }, /must start with https/],
    ['no signing keys', { ...minimal, secrets: { ...secrets, jwks: '' } }, /secrets.jwks is required/],
    ['no database', { ...minimal, secrets: { ...secrets, databaseUrl: '' } }, /secrets.databaseUrl is required/],
    ['two replicas without Redis', { ...minimal, replicaCount: 2 }, /more than one replica needs Redis/],
    ['autoscaling without Redis', { ...minimal, autoscaling: { enabled: true } }, /more than one replica needs Redis/],
    ['secret values beside existingSecret', { issuer: 'https://id.example.com', secrets: { existingSecret: 'x', jwks: '{}' } }, /leave the other secrets/],
    ['a chart-owned setting in config', { ...minimal, config: { NODE_ENV: 'development' } }, /NODE_ENV is set by the chart/],
    ['a secret setting in env', { ...minimal, env: { DATABASE_URL: 'postgresql://x' } }, /DATABASE_URL is set by the chart/],
    ['a setting in both config and env', { ...minimal, env: { LOG_LEVEL: 'debug' } }, /LOG_LEVEL is in both config and env/],
  ])('%s', (_name, overrides, message) => {
    expect(refused(overrides)).toMatch(message)
  })
})

describe('the template renderer (test/support/go-template.ts) follows Go and Helm', () => {
  const run = (text: string, data: unknown = {}) => {
    const set = new TemplateSet()
    set.add('t', text)
    return set.render('t', data)
  }
  it('trims, branches, ranges and includes', () => {
    expect(run('a  {{- " b" -}}  c')).toBe('a bc')
    expect(run('{{ if .x }}yes{{ else if .y }}maybe{{ else }}no{{ end }}', { y: 1 })).toBe('maybe')
    expect(run('{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } })).toBe('a=1;b=2;')
    expect(run('{{ define "x" }}[{{ .n }}]{{ end }}{{ include "x" (dict "n" 3) | quote }}')).toBe('"[3]"')
    expect(run('{{ with .a }}{{ .b }}{{ end }}', { a: { b: 'in' } })).toBe('in')
    expect(run('x:{{ toYaml .l | nindent 2 }}', { l: ['a'] })).toBe('x:\n  - a')
  })
  it('prints numbers like Go and keeps the strictness', () => {
    expect(run('{{ .n }} {{ int64 .n }} {{ .s }}', { n: 1209600, s: 3000 })).toBe('1.2096e+06 1209600 3000')
    expect(() => run('{{ .a.b }}', {})).toThrow(/nil pointer/)
    expect(() => run('{{ tpl "x" . }}')).toThrow(/not in the supported subset/)
    expect(() => run('{{ if .x }}open')).toThrow(/missing \{\{ end \}\}/)
  })
})
