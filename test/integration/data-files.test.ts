// The embedded database (DATA_DIR) and the generated keys (KEYS_DIR) hold password hashes, sealed
// factor secrets and signing keys: no other local user may read or write them. Directories are
// 0700 and files 0600 from the first start on, including files the database writes later (its
// WAL, new relations), and a folder left readable by others is made private at start, with a log
// line that names what was changed.
import { chmodSync, lstatSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser } from '../support/browser.ts'
import { authorizeAndSignIn, discoverSpa } from '../support/code-flow.ts'
import { createFixtures } from '../support/fixtures.ts'

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
