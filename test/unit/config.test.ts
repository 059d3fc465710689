import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.ts'

const KEY_A = 'a'.repeat(32)
const KEY_B = 'b'.repeat(40)

/** Runs loadConfig expecting a ConfigError and returns it. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error(`expected loadConfig(${JSON.stringify(env)}) to throw`)
}

describe('loadConfig defaults', () => {
  it('uses documented defaults for an empty environment', () => {
    const c = loadConfig({})
    expect(c.env).toBe('development')
    expect(c.production).toBe(false)
    expect(c.port).toBe(3000)
    expect(c.host).toBe('0.0.0.0')
    expect(c.issuer).toBe('http://localhost:3000')
    expect(c.logLevel).toBe('info')
    expect(c.trustProxy).toBe(false)
    expect(c.siteName).toBe('Identity')
    expect(c.databaseUrl).toBeUndefined()
    expect(c.preparedStatements).toBe(true)
    expect(c.redisUrl).toBeUndefined()
    expect(c.jwks).toBeUndefined()
    expect(c.jwksFile).toBeUndefined()
    expect(c.cookieKeys).toBeUndefined()
    expect(c.outboundAllowedHosts).toEqual([])
    expect(c.ttl).toEqual({
      accessToken: 3600,
      clientCredentials: 600,
      authorizationCode: 60,
      idToken: 3600,
      refreshToken: 14 * 24 * 3600,
      session: 14 * 24 * 3600,
      grant: 14 * 24 * 3600,
      interaction: 3600,
      deviceCode: 600,
    })
  })

  it('resolves dataDir and keysDir to absolute paths', () => {
    const c = loadConfig({})
    expect(path.isAbsolute(c.dataDir)).toBe(true)
    expect(c.dataDir).toBe(path.resolve('data'))
    expect(c.keysDir).toBe(path.resolve('keys'))
    expect(loadConfig({ DATA_DIR: 'some/where' }).dataDir).toBe(path.join(process.cwd(), 'some/where'))
  })

  it('derives the default issuer from PORT and strips a trailing slash from ISSUER', () => {
    expect(loadConfig({ PORT: '8080' }).issuer).toBe('http://localhost:8080')
    expect(loadConfig({ ISSUER: 'https://id.example.com/' }).issuer).toBe('https://id.example.com')
    expect(loadConfig({ ISSUER: 'https://id.example.com/tenant/' }).issuer).toBe('https://id.example.com/tenant')
  })

  it('treats empty strings as unset', () => {
    const c = loadConfig({
      PORT: '', ISSUER: '', LOG_LEVEL: '', DATABASE_URL: '', REDIS_URL: '', JWKS: '', JWKS_FILE: '',
      COOKIE_KEYS: '', TRUST_PROXY: '', ACCESS_TOKEN_TTL: '', NODE_ENV: '', DATA_DIR: '',
    })
    expect(c.port).toBe(3000)
    expect(c.issuer).toBe('http://localhost:3000')
    expect(c.logLevel).toBe('info')
    expect(c.databaseUrl).toBeUndefined()
    expect(c.redisUrl).toBeUndefined()
    expect(c.jwks).toBeUndefined()
    expect(c.cookieKeys).toBeUndefined()
    expect(c.trustProxy).toBe(false)
    expect(c.ttl.accessToken).toBe(3600)
    expect(c.env).toBe('development')
    expect(c.dataDir).toBe(path.resolve('data'))
  })

  it('reads valid values', () => {
    const c = loadConfig({
      PORT: '4000', HOST: '127.0.0.1', LOG_LEVEL: 'debug', TRUST_PROXY: 'yes', SITE_NAME: 'Acme',
      DATABASE_URL: 'postgresql://u:p@db/iam', REDIS_URL: 'rediss://cache:6380', ACCESS_TOKEN_TTL: '120',
    })
    expect(c.port).toBe(4000)
    expect(c.host).toBe('127.0.0.1')
    expect(c.logLevel).toBe('debug')
    expect(c.trustProxy).toBe(true)
    expect(c.siteName).toBe('Acme')
    expect(c.databaseUrl).toBe('postgresql://u:p@db/iam')
    expect(c.redisUrl).toBe('rediss://cache:6380')
    expect(c.ttl.accessToken).toBe(120)
    expect(loadConfig({ DATABASE_URL: 'postgres://db/iam', TRUST_PROXY: '0' })).toMatchObject({ databaseUrl: 'postgres://db/iam', trustProxy: false })
    expect(loadConfig({ DATABASE_PREPARED_STATEMENTS: 'false' }).preparedStatements).toBe(false)
    expect(loadConfig({}).heapGrowthPercent).toBe(0)
    expect(loadConfig({ HEAP_GROWTH_PERCENT: '100' }).heapGrowthPercent).toBe(100)
    expect(loadConfig({}).argon2Simd).toBe('auto')
    expect(loadConfig({ ARGON2_SIMD: 'avx2' }).argon2Simd).toBe('avx2')
    expect(loadConfig({ ARGON2_SIMD: 'off' }).argon2Simd).toBe('off')
  })
})

describe('loadConfig rejects bad variables, naming them', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '3.5'],
    ['REDIS_URL', 'http://x'],
    ['DATABASE_URL', 'mysql://db/iam'],
    ['LOG_LEVEL', 'loud'],
    ['ACCESS_TOKEN_TTL', '-1'],
    ['ACCESS_TOKEN_TTL', '0'],
    ['REFRESH_TOKEN_TTL', 'soon'],
    ['NODE_ENV', 'staging'],
    ['ISSUER', 'ftp://id.example.com'],
    ['ISSUER', 'not a url'],
    ['TRUST_PROXY', 'maybe'],
    ['DATABASE_PREPARED_STATEMENTS', 'off'],
    ['ARGON2_SIMD', 'avx512'],
    ['HEAP_GROWTH_PERCENT', '-1'],
    ['HEAP_GROWTH_PERCENT', 'fast'],
  ])('%s=%s', (name, value) => {
    const err = configError({ [name]: value })
    expect(err.name).toBe('ConfigError')
    expect(err.message).toMatch(new RegExp(`^\\s+${name}: `, 'm'))
  })

  it('names only the bad variable among good ones', () => {
    const err = configError({ PORT: '3000', LOG_LEVEL: 'loud', REDIS_URL: 'redis://r' })
    expect(err.message).toContain('LOG_LEVEL')
    expect(err.message).not.toContain('PORT')
    expect(err.message).not.toContain('REDIS_URL')
  })
})

describe('loadConfig production rules', () => {
  it('requires COOKIE_KEYS in production', () => {
    expect(configError({ NODE_ENV: 'production', ISSUER: 'https://id.example.com' }).message).toMatch(/COOKIE_KEYS: required/)
    expect(configError({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', COOKIE_KEYS: ' , ' }).message).toMatch(/COOKIE_KEYS/)
  })

  it('requires an https ISSUER in production', () => {
    expect(configError({ NODE_ENV: 'production', COOKIE_KEYS: KEY_A }).message).toMatch(/ISSUER: must be https/)
    expect(configError({ NODE_ENV: 'production', COOKIE_KEYS: KEY_A, ISSUER: 'http://id.example.com' }).message).toMatch(/ISSUER/)
  })

  it('requires ENCRYPTION_KEYS in production', () => {
    expect(configError({ NODE_ENV: 'production', COOKIE_KEYS: KEY_A, ISSUER: 'https://id.example.com' }).message).toMatch(/ENCRYPTION_KEYS: required/)
  })

  it('requires VONAGE_API_KEY and VONAGE_API_SECRET together', () => {
    expect(configError({ VONAGE_API_KEY: 'key' }).message).toMatch(/VONAGE_API_SECRET/)
    expect(loadConfig({ VONAGE_API_KEY: 'key', VONAGE_API_SECRET: 'secret' }).vonage).toMatchObject({ apiKey: 'key', apiHost: 'https://api.nexmo.com' })
  })

  it('accepts a complete production configuration', () => {
    const c = loadConfig({ NODE_ENV: 'production', COOKIE_KEYS: `${KEY_A}, ${KEY_B}`, ISSUER: 'https://id.example.com', ENCRYPTION_KEYS: `k1:${Buffer.alloc(32).toString('base64')}` })
    expect(c.production).toBe(true)
    expect(c.issuer).toBe('https://id.example.com')
    expect(c.cookieKeys).toEqual([KEY_A, KEY_B])
  })

  it('allows http and no cookie keys outside production', () => {
    expect(loadConfig({ NODE_ENV: 'test', ISSUER: 'http://id.local' }).issuer).toBe('http://id.local')
  })
})

describe('loadConfig keys', () => {
  it('rejects cookie keys shorter than 32 characters', () => {
    expect(configError({ COOKIE_KEYS: 'short' }).message).toMatch(/COOKIE_KEYS: each key must be at least 32/)
    expect(configError({ COOKIE_KEYS: `${KEY_A},${'c'.repeat(31)}` }).message).toMatch(/COOKIE_KEYS/)
    expect(loadConfig({ COOKIE_KEYS: `${KEY_A},,` }).cookieKeys).toEqual([KEY_A])
  })

  it('rejects JWKS and JWKS_FILE together', () => {
    expect(configError({ JWKS: '{"keys":[]}', JWKS_FILE: '/etc/jwks.json' }).message).toMatch(/JWKS_FILE: set JWKS or JWKS_FILE, not both/)
    expect(loadConfig({ JWKS_FILE: '/etc/jwks.json' }).jwksFile).toBe('/etc/jwks.json')
    expect(loadConfig({ JWKS: '{"keys":[]}' }).jwks).toBe('{"keys":[]}')
  })
})

describe('loadConfig OUTBOUND_ALLOWED_HOSTS', () => {
  it('splits on commas, trims, lowercases and drops empties', () => {
    expect(loadConfig({ OUTBOUND_ALLOWED_HOSTS: ' RP.Example.com , ,localhost:8443,' }).outboundAllowedHosts)
      .toEqual(['rp.example.com', 'localhost:8443'])
    expect(loadConfig({ OUTBOUND_ALLOWED_HOSTS: 'single' }).outboundAllowedHosts).toEqual(['single'])
    expect(loadConfig({ OUTBOUND_ALLOWED_HOSTS: ',' }).outboundAllowedHosts).toEqual([])
  })
})
