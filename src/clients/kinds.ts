// The kinds of client, their grants and authentication methods: what each kind may use. No imports,
// so the admin console's form (src/admin/console/pages/client-model.ts) offers exactly what the
// server's model (settings.ts) allows, from the same table.
export const clientKinds = ['web', 'spa', 'native', 'service'] as const
export type ClientKind = (typeof clientKinds)[number]

export const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code'
export const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE] as const
export type GrantType = (typeof grantTypes)[number]

export const authMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const
export const signingAlgs = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const

/** What each kind may use and gets by default. `public` kinds authenticate with `none` only. */
export const KIND_RULES: Record<ClientKind, { public: boolean; grants: readonly GrantType[]; defaultGrants: readonly GrantType[] }> = {
  web: { public: false, grants: grantTypes, defaultGrants: ['authorization_code', 'refresh_token'] },
  spa: { public: true, grants: ['authorization_code', 'refresh_token'], defaultGrants: ['authorization_code', 'refresh_token'] },
  native: { public: true, grants: ['authorization_code', 'refresh_token', DEVICE_CODE], defaultGrants: ['authorization_code', 'refresh_token', DEVICE_CODE] },
  service: { public: false, grants: ['client_credentials'], defaultGrants: ['client_credentials'] },
}
