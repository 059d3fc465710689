// The embedded database (DATA_DIR) and the generated keys (KEYS_DIR) hold password hashes, sealed
// factor secrets and signing keys: no other local user may read or write them. Directories are
// 0700 and files 0600 from the first start on, including files the database writes later (its
// WAL, new relations), and a folder left readable by others is made private at start, with a log
// line that names what was changed. The first admin's one-time password and the example clients'
// secrets reach a terminal only: run without one (a service manager, a CI log), `seed` writes them
// to a 0600 file and says where, so they never land in a log.
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser } from '../support/browser.ts'
import { authorizeAndSignIn, discoverSpa } from '../support/code-flow.ts'
import { createFixtures } from '../support/fixtures.ts'
import { formWithAction } from '../support/browser.ts'

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../..')

/** Every path under `root` (itself included) whose mode gives group or others any access. */
function openToOthers(root: string): string[] {
  const found: string[] = []
  const walk = (p: string) => {
    const stat = lstatSync(p)
    if (stat.isSymbolicLink()) return
    if (stat.mode & 0o077) found.push(`${(stat.mode & 0o777).toString(8)} ${path.relative(root, p) || '.'}`)
    if (stat.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name))
  }
  walk(root)
  return found
}

/** Gives everyone read and write on every path under `root` (what the review found). */
function openUp(root: string): void {
  const walk = (p: string) => {
    const stat = lstatSync(p)
    chmodSync(p, stat.isDirectory() ? 0o777 : 0o666)
    if (stat.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name))
  }
  walk(root)
}

describe('embedded data and key files are the owner\'s alone', () => {
  let iam: IamInstance

  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
  })
  afterAll(async () => {
    await iam?.close()
  })

  it('keeps DATA_DIR and KEYS_DIR at 0700/0600 after first start and after sign-ins have written the WAL', async () => {
    expect(openToOthers(iam.env.DATA_DIR!)).toEqual([])
    expect(openToOthers(iam.env.KEYS_DIR!)).toEqual([])

    const spa = await discoverSpa(iam.issuer)
    for (let i = 0; i < 3; i++) {
      const browser = new HttpBrowser(iam.issuer)
      const { callback, verifier, state } = await authorizeAndSignIn(spa, browser)
      await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state })
    }
    expect(openToOthers(iam.env.DATA_DIR!)).toEqual([])
    // … and after a clean stop (checkpoint, files closed).
    await iam.stop()
    expect(openToOthers(iam.env.DATA_DIR!)).toEqual([])
    expect(openToOthers(iam.env.KEYS_DIR!)).toEqual([])
    await iam.start()
  })

  it('makes a data and keys folder that others can read private at start, and says which paths it changed', async () => {
    await iam.stop()
    openUp(iam.env.DATA_DIR!)
    openUp(iam.env.KEYS_DIR!)
    const before = iam.logs().length
    await iam.start()

    expect(openToOthers(iam.env.DATA_DIR!)).toEqual([])
    expect(openToOthers(iam.env.KEYS_DIR!)).toEqual([])
    const lines = iam.logs().slice(before).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    const fixed = lines.find((l) => typeof l.msg === 'string' && l.msg.includes('owner-only'))
    expect(fixed, 'a log line about the modes it changed').toBeDefined()
    expect(fixed!.level).toBe(40) // warn
    const paths = fixed!.madePrivate as string[]
    expect(paths).toContain(iam.env.DATA_DIR)
    expect(paths).toContain(iam.env.KEYS_DIR)
    expect(paths).toContain(path.join(iam.env.KEYS_DIR!, 'jwks.json'))
    expect(paths.some((p) => p.startsWith(path.join(iam.env.DATA_DIR!, 'db') + path.sep))).toBe(true)

    // Still working on the same data.
    const spa = await discoverSpa(iam.issuer)
    const { callback, verifier, state } = await authorizeAndSignIn(spa, new HttpBrowser(iam.issuer))
    await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state })
  })
})

describe('seed keeps the first credentials out of logs', () => {
  let iam: IamInstance

  beforeAll(async () => {
    iam = await createIam('embedded')
  })
  afterAll(async () => {
    await iam?.close()
  })

  it('without a terminal: prints no secret, writes them to DATA_DIR/initial-credentials.txt (0600) and says where', async () => {
    // execFile's stdout is a pipe, as under a service manager or `scripts/iam.sh start > log`.
    const { stdout, stderr } = await run(process.execPath, ['src/main.ts', 'seed'], { cwd: root, env: { ...process.env, ...iam.env } })
    const file = path.join(iam.env.DATA_DIR!, 'initial-credentials.txt')
    expect(existsSync(file)).toBe(true)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const saved = readFileSync(file, 'utf8')
    const password = /admin one-time password[^:]*: (\S+)/.exec(saved)?.[1]
    const webSecret = /client example-web secret[^:]*: (\S+)/.exec(saved)?.[1]
    const serviceSecret = /client example-service secret[^:]*: (\S+)/.exec(saved)?.[1]
    expect(password).toBeDefined()
    expect(webSecret).toBeDefined()
    expect(serviceSecret).toBeDefined()
    const output = stdout + stderr
    for (const secret of [password!, webSecret!, serviceSecret!]) expect(output).not.toContain(secret)
    expect(output).not.toMatch(/shown once/)
    expect(output).toContain(file)
    expect(output).toContain('admin user: admin@example.com (username: admin)')

    // What the file holds works: the admin signs in with it (and must choose a password), the
    // service client authenticates with its secret.
    await iam.start()
    const token = await fetch(`${iam.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`example-service:${serviceSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://api.example.com', scope: 'read' }),
    })
    expect(token.status).toBe(200)
    const browser = new HttpBrowser(iam.issuer)
    const account = await browser.navigate(`${iam.issuer}/account`)
    const form = formWithAction(account.body, '/login')
    const signedIn = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: 'admin', password: password! } })
    expect(signedIn.body).toContain('Choose a new password')

    // The server's own log has none of them either.
    for (const secret of [password!, webSecret!, serviceSecret!]) expect(iam.logs()).not.toContain(secret)
    await iam.stop()

    // A second seed creates nothing and writes no secret.
    const again = await run(process.execPath, ['src/main.ts', 'seed'], { cwd: root, env: { ...process.env, ...iam.env } })
    expect(again.stdout).toContain('already exists')
    expect(readFileSync(file, 'utf8')).toBe(saved)
  })

  it('on a terminal: prints them once and writes no file', async () => {
    const fresh = await createIam('embedded')
    try {
      // script(1) gives the command a pseudo-terminal as its stdout.
      const command = `${JSON.stringify(process.execPath)} src/main.ts seed`
      const { stdout } = await run('script', ['-qec', command, '/dev/null'], { cwd: root, env: { ...process.env, ...fresh.env } })
      expect(stdout).toMatch(/admin one-time password \(shown once[^)]*\): \S{10,}/)
      expect(stdout).toMatch(/client example-web secret \(shown once\): \S{20,}/)
      expect(existsSync(path.join(fresh.env.DATA_DIR!, 'initial-credentials.txt'))).toBe(false)
    } finally {
      await fresh.close()
    }
  })
})
