// `iam keys list|stage|promote|retire`: signing-key rotation on the JWKS file (docs/operations.md,
// "Rotating signing keys"); the server reads the file at start, so each step is followed by a restart.
import type { Config } from '../config.ts'
import type { listKeys } from '../oidc/key-rotation.ts'
import { CommandError, defineCommand, UsageError, type CommandGroup } from './command.ts'

const file = { type: 'string', value: 'F', help: 'the JWKS file (default JWKS_FILE, else KEYS_DIR/jwks.json)' } as const

/** The key file and the rotation functions (loaded only to run). */
async function keysFile(config: Config, given: string | undefined) {
  if (config.jwks && !given) {
    throw new CommandError('the keys come from the JWKS variable: write it to a file, run `keys … --file F` on that file, and put the file back into the secret')
  }
  const [keys, rotation] = await Promise.all([import('../oidc/keys.ts'), import('../oidc/key-rotation.ts')])
  return { path: given ?? config.jwksFile ?? keys.jwksFile(config), KeyError: keys.KeyError, ...rotation }
}

const show = (keys: ReturnType<typeof listKeys>) => keys.forEach((k) => console.log(`${k.kid}  ${k.alg.padEnd(6)} ${k.state.padEnd(8)} ${k.since ?? ''}`.trimEnd()))

const list = defineCommand({
  name: 'keys list',
  summary: 'every key: kid, alg, state (signing | staged | previous), since',
  options: { file },
  async run({ values, config }) {
    const { path, listKeys, readJwksFile } = await keysFile(config, values.file)
    show(listKeys(readJwksFile(path)))
    return 0
  },
})

const stage = defineCommand({
  name: 'keys stage',
  summary: 'add a new ES256 + RS256 pair, published but not signing yet',
  options: { file },
  async run({ values, config }) {
    const { path, readJwksFile, stageKeys, writeJwksFile } = await keysFile(config, values.file)
    const staged = await stageKeys(readJwksFile(path), new Date())
    writeJwksFile(path, staged.jwks)
    console.log(`staged in ${path} (published after a restart, not signing):`)
    show(staged.staged)
    console.log('next: roll out, wait until relying parties have refreshed their JWKS, then `keys promote --staged`')
    return 0
  },
})

const promote = defineCommand({
  name: 'keys promote',
  summary: 'these keys sign from now on; the ones they replace stay published',
  positionals: { usage: '<kid>...', min: 0, max: Infinity },
  options: { file, staged: { type: 'boolean', help: 'promote every staged key (instead of naming them)' } },
  async run({ values, positionals, config }) {
    const { path, listKeys, promoteKey, readJwksFile, writeJwksFile } = await keysFile(config, values.file)
    const jwks = readJwksFile(path)
    if (values.staged && positionals.length) throw new UsageError('name keys or pass --staged, not both')
    const kids = values.staged ? listKeys(jwks).filter((k) => k.state === 'staged').map((k) => k.kid) : positionals
    if (!kids.length) throw new UsageError(values.staged ? 'no staged keys' : 'name the keys to promote, or pass --staged')
    const now = new Date()
    let next = jwks
    for (const kid of kids) {
      const promoted = promoteKey(next, kid, now)
      next = promoted.jwks
      console.log(`${kid} signs after a restart${promoted.demoted.length ? `; ${promoted.demoted.join(', ')} stays published as previous` : ''}`)
    }
    writeJwksFile(path, next)
    return 0
  },
})

const retire = defineCommand({
  name: 'keys retire',
  summary: `remove keys from the JWKS (never a signing key; --force while tokens
they signed may still be valid)`,
  positionals: { usage: '<kid>...', min: 1, max: Infinity },
  options: { file, force: { type: 'boolean', help: 'retire even though tokens they signed may still be valid' } },
  async run({ values, positionals, config }) {
    const { path, readJwksFile, retireKey, writeJwksFile, KeyError } = await keysFile(config, values.file)
    const maxTokenLifetime = Math.max(config.ttl.idToken, config.ttl.accessToken, config.ttl.clientCredentials)
    const now = new Date()
    let next = readJwksFile(path)
    try {
      for (const kid of positionals) {
        const retired = retireKey(next, kid, now, { maxTokenLifetime, force: values.force })
        if (retired.warning) console.error(`warning: ${retired.warning}`)
        next = retired.jwks
        console.log(`${kid} retired: gone from the JWKS after a restart`)
      }
    } catch (err) {
      if (err instanceof KeyError) throw new UsageError(err.message)
      throw err
    }
    writeJwksFile(path, next)
    return 0
  },
})

export const keysCommands: CommandGroup = {
  name: 'keys',
  summary: `signing-key rotation on JWKS_FILE, else KEYS_DIR/jwks.json (docs/operations.md,
"Rotating signing keys"); restart (roll out) after each step`,
  commands: [list, stage, promote, retire],
}
