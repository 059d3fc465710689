// The client form, for registering and for editing: every setting of the one client model,
// grouped (basics, authentication, grants, security, logout, branding, tokens, access) and shown
// only when it applies to the chosen kind and grants. What the form sends is what the admin API's
// POST /clients and PATCH /clients/:id take; the API's field errors land next to their field.
import type { ComponentChildren, JSX } from 'preact'
import { useState } from 'preact/hooks'
import { ApiProblem } from '../api.ts'
import { useMe } from '../me.ts'
import { Field, fieldAttrs, formValues, lines } from '../ui.tsx'
import {
  AUTHORIZATION_CODE, AUTH_METHODS, CLIENT_CREDENTIALS, DEVICE_CODE, GRANTS, KINDS, KIND_GRANTS, REFRESH_TOKEN, REQUEST_OBJECT_ALGS,
  isConfidential, kindLabel, type Client, type Grant, type Kind,
} from './client-model.ts'

/** What decides which fields show; kept in state so the form re-renders as it changes. */
export interface FormState {
  kind: Kind
  grants: Grant[]
  authMethod: string
  requirePkce: boolean
  requireSignedRequestObject: boolean
  requestObjectSigningAlg: string
  keySource: 'jwks' | 'jwksUri'
}

export function initialState(client?: Client): FormState {
  const kind = client?.kind ?? 'web'
  return {
    kind,
    grants: (client?.grantTypes ?? KIND_GRANTS[kind].initial).filter((g): g is Grant => (KIND_GRANTS[kind].allowed as string[]).includes(g)),
    authMethod: client?.tokenEndpointAuthMethod ?? (isConfidential(kind) ? 'client_secret_basic' : 'none'),
    requirePkce: client?.requirePkce ?? true,
    requireSignedRequestObject: client?.requireSignedRequestObject ?? false,
    requestObjectSigningAlg: client?.requestObjectSigningAlg ?? '',
    keySource: client?.jwksUri ? 'jwksUri' : 'jwks',
  }
}

/** The parts of the form that apply, from the state: one place, used to render and to send. */
function applies(s: FormState, client: Client | undefined, global: boolean) {
  const code = s.grants.includes(AUTHORIZATION_CODE)
  const device = s.grants.includes(DEVICE_CODE)
  const people = code || device
  const confidential = isConfidential(s.kind)
  return {
    code,
    people,
    refresh: s.grants.includes(REFRESH_TOKEN),
    confidential,
    secretMethod: confidential && s.authMethod !== 'private_key_jwt',
    // Only a confidential client has keys of its own (a public one could not keep the private key).
    keys: confidential && (s.authMethod === 'private_key_jwt' || s.requireSignedRequestObject || s.requestObjectSigningAlg !== '' || Boolean(client?.jwks || client?.jwksUri)),
    requestObjects: confidential && code,
    // PKCE can be turned off only by a confidential client that signs people in with a code.
    pkceChoice: confidential && code,
    adminPermissions: global && (s.grants.includes(CLIENT_CREDENTIALS) || (client?.adminPermissions?.length ?? 0) > 0),
    firstParty: global,
  }
}

/** A titled group of settings with a sentence that says what the group is about. */
function Group({ title, hint, children }: { title: string; hint?: string; children: ComponentChildren }): JSX.Element {
  return (
    <fieldset class="group">
      <legend>{title}</legend>
      {hint && <p class="hint group-hint">{hint}</p>}
      {children}
    </fieldset>
  )
}

function Check({ name, label, checked, onChange, hint, value }: { name: string; label: ComponentChildren; checked: boolean; onChange?: (on: boolean) => void; hint?: string; value?: string }): JSX.Element {
  const id = `f-${name}${value ? `-${value.replace(/[^a-z0-9]/gi, '-')}` : ''}`
  return (
    <div class="check">
      <input
        type="checkbox" id={id} name={name} value={value ?? 'on'}
        {...(onChange ? { checked, onChange: (e: Event) => onChange((e.currentTarget as HTMLInputElement).checked) } : { defaultChecked: checked })}
        {...(hint ? { 'aria-describedby': `${id}-hint` } : {})}
      />
      <label for={id}>{label}{hint && <span class="hint" id={`${id}-hint`}>{hint}</span>}</label>
    </div>
  )
}

const fieldMessage = (err: unknown, name: string) => (err instanceof ApiProblem ? err.fieldError(name) : undefined)

/** The admin API permissions a client-credentials client's tokens may hold; offered: what the admin holds, plus what the client has. */
function AdminPermissionsField({ client, err }: { client?: Client | undefined; err: unknown }): JSX.Element {
  const me = useMe()
  const current: string[] = client?.adminPermissions ?? []
  const offered = [...me.permissions, ...current.filter((p) => !me.permissions.includes(p))]
  const message = fieldMessage(err, 'adminPermissions')
  return (
    <fieldset class={message ? 'invalid' : undefined} aria-describedby="admin-perms-hint">
      <legend>Admin API permissions</legend>
      <p class="hint" id="admin-perms-hint">What this client may do in the admin API with client-credentials tokens. You can give only permissions you hold yourself.</p>
      <div class="checks-grid">
        {offered.map((p) => (
          <div class="check" key={p}>
            <input type="checkbox" id={`ap-${p}`} name="adminPermissions" value={p} defaultChecked={current.includes(p)} />
            <label for={`ap-${p}`}><code>{p}</code>{!me.permissions.includes(p) && <span class="muted"> (you do not hold it)</span>}</label>
          </div>
        ))}
      </div>
      {message && <p class="field-error">{message}</p>}
    </fieldset>
  )
}

/** The warning shown while PKCE is off: what it costs and when it is the right call. */
export function PkceOffBanner(): JSX.Element {
  return (
    <div class="warning-banner" role="note">
      <p><strong>Warning: PKCE is off for this client.</strong> An authorization code stolen on its way back (a leaky log, a malicious browser extension, a misconfigured proxy) can be redeemed by whoever holds the client’s secret. Turn it off only for an application that cannot send PKCE (for example mod_auth_openidc in its default configuration or an older library), and turn it back on when it can.</p>
    </div>
  )
}

export function ClientFields({ client, err, state, setState }: { client?: Client | undefined; err: unknown; state: FormState; setState: (s: FormState) => void }): JSX.Element {
  const global = useMe().scope === 'global'
  const creating = !client
  const a = applies(state, client, global)
  const allowed = KIND_GRANTS[state.kind].allowed
  const setKind = (kind: Kind) => setState({ ...initialState(), kind, grants: KIND_GRANTS[kind].initial, authMethod: isConfidential(kind) ? 'client_secret_basic' : 'none' })
  const toggleGrant = (g: Grant, on: boolean) => setState({ ...state, grants: on ? [...state.grants, g] : state.grants.filter((x) => x !== g) })
  const grantsMessage = fieldMessage(err, 'grantTypes')
  const ttl = (name: 'accessTokenTtl' | 'idTokenTtl' | 'refreshTokenTtl', label: string, min: number, max: number, hint: string) => (
    <Field label={label} name={name} error={err} hint={hint}>
      <input type="number" inputMode="numeric" min={min} max={max} step={1} defaultValue={client?.[name] != null ? String(client[name]) : ''} {...fieldAttrs(name, err)} />
    </Field>
  )
  return (
    <>
      <Group title="Basics">
        <Field label="Name" name="name" error={err} hint="Shown to people on the consent page and in the audit log.">
          <input type="text" required maxLength={200} defaultValue={client?.name ?? ''} {...fieldAttrs('name', err)} />
        </Field>
        {creating ? (
          <Field label="Kind" name="kind" error={err} hint={KINDS.find((k) => k.value === state.kind)?.hint}>
            <select {...fieldAttrs('kind', err)} value={state.kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
              {KINDS.map((k) => <option key={k.value} value={k.value}>{k.label}</option>)}
            </select>
          </Field>
        ) : (
          <p class="fact-line"><strong>Kind:</strong> {kindLabel(state.kind)} <span class="muted">(a client’s kind cannot change; register a new client instead)</span></p>
        )}
        {creating && (
          <Field label="Client id (optional)" name="clientId" error={err} hint="Empty: one is generated. Bringing a client over from another server? Enter the id it already uses (printable characters, up to 200).">
            <input type="text" maxLength={200} autoComplete="off" spellcheck={false} {...fieldAttrs('clientId', err)} />
          </Field>
        )}
        {a.code && (
          <Field label="Redirect URIs" name="redirectUris" error={err} hint={state.kind === 'native' ? 'One per line: where people are sent back after signing in. A native app may use its own scheme (com.example.app:/callback) or http://127.0.0.1.' : 'One per line: where people are sent back after signing in (exact match).'}>
            <textarea rows={3} defaultValue={(client?.redirectUris ?? []).join('\n')} {...fieldAttrs('redirectUris', err)} />
          </Field>
        )}
      </Group>

      {a.confidential && (
        <Group title="Authentication" hint="How the client proves it is itself when it asks this server for tokens.">
          <Field label="Token endpoint authentication" name="tokenEndpointAuthMethod" error={err} hint={AUTH_METHODS.find((m) => m.value === state.authMethod)?.hint}>
            <select {...fieldAttrs('tokenEndpointAuthMethod', err)} value={state.authMethod} onChange={(e) => setState({ ...state, authMethod: e.currentTarget.value })}>
              {AUTH_METHODS.map((m) => <option key={m.value} value={m.value}>{m.label}</option>)}
            </select>
          </Field>
          {creating && a.secretMethod && (
            <Field label="Existing secret (optional)" name="secret" error={err} hint="Empty: a new secret is made and shown once. Bringing a client over? Paste the secret it already uses and it keeps working unchanged (stored hashed; a secret shorter than 32 characters is accepted with a warning).">
              <input type="password" autoComplete="off" maxLength={512} {...fieldAttrs('secret', err)} />
            </Field>
          )}
        </Group>
      )}
      {!a.confidential && (
        <Group title="Authentication">
          <p class="hint">A {state.kind === 'spa' ? 'single-page' : 'native'} application cannot keep a secret: it has none, and PKCE protects its sign-ins.</p>
        </Group>
      )}
      {a.keys && (
        <Group title="The client’s public keys" hint="For signed assertions (private_key_jwt) and signed request objects: this server checks the client’s signatures with these. Public keys only.">
          <div class="radios" role="radiogroup" aria-label="Where the keys come from">
            <div class="check">
              <input type="radio" id="f-keySource-jwks" name="keySource" value="jwks" checked={state.keySource === 'jwks'} onChange={() => setState({ ...state, keySource: 'jwks' })} />
              <label for="f-keySource-jwks">Paste a JWK Set</label>
            </div>
            <div class="check">
              <input type="radio" id="f-keySource-jwksUri" name="keySource" value="jwksUri" checked={state.keySource === 'jwksUri'} onChange={() => setState({ ...state, keySource: 'jwksUri' })} />
              <label for="f-keySource-jwksUri">Fetch them from a URL (jwks_uri)</label>
            </div>
          </div>
          {state.keySource === 'jwks' ? (
            <Field label="JWK Set (JSON)" name="jwks" error={err} hint={'{"keys": [ … ]} with public keys only.'}>
              <textarea rows={6} spellcheck={false} class="mono" defaultValue={client?.jwks ? JSON.stringify(client.jwks, null, 2) : ''} {...fieldAttrs('jwks', err)} />
            </Field>
          ) : (
            <Field label="JWK Set URL" name="jwksUri" error={err} hint="An https URL where the client publishes its public keys; the server fetches it and follows key rotation.">
              <input type="url" defaultValue={client?.jwksUri ?? ''} {...fieldAttrs('jwksUri', err)} />
            </Field>
          )}
        </Group>
      )}

      <Group title="Grants" hint="The ways this client may get tokens. Only those its kind allows are offered.">
        {state.kind === 'service' ? (
          <p class="fact-line"><strong>Client credentials</strong> <span class="muted">— a service gets tokens for itself; that is its one grant.</span></p>
        ) : (
          <div class={grantsMessage ? 'invalid' : undefined} role="group" aria-label="Grant types">
            {GRANTS.filter((g) => allowed.includes(g.value)).map((g) => (
              <Check key={g.value} name="grantTypes" value={g.value} label={g.label} hint={g.hint} checked={state.grants.includes(g.value)} onChange={(on) => toggleGrant(g.value, on)} />
            ))}
            {grantsMessage && <p class="field-error">{grantsMessage}</p>}
          </div>
        )}
      </Group>

      {a.code && (
        <Group title="Security" hint="How sign-in requests are protected.">
          {a.pkceChoice ? (
            <>
              <Check name="requirePkce" label="Require PKCE (recommended)" hint="The client proves at the token endpoint that it started the sign-in. Turn off only for an application that cannot send it." checked={state.requirePkce} onChange={(on) => setState({ ...state, requirePkce: on })} />
              {fieldMessage(err, 'requirePkce') && <p class="field-error">{fieldMessage(err, 'requirePkce')}</p>}
              {!state.requirePkce && <PkceOffBanner />}
            </>
          ) : (
            <p class="hint">PKCE is always required for a public client.</p>
          )}
          {a.requestObjects && (
            <>
              <Field label="Request object signing algorithm (optional)" name="requestObjectSigningAlg" error={err} hint="The algorithm the client signs request objects (JAR, RFC 9101) with; checked with its public keys. Not set: request objects are not expected.">
                <select {...fieldAttrs('requestObjectSigningAlg', err)} value={state.requestObjectSigningAlg} onChange={(e) => setState({ ...state, requestObjectSigningAlg: e.currentTarget.value })}>
                  <option value="">Not set</option>
                  {REQUEST_OBJECT_ALGS.map((alg) => <option key={alg} value={alg}>{alg}</option>)}
                </select>
              </Field>
              <Check name="requireSignedRequestObject" label="Require signed request objects" hint="Every sign-in request must come as a request object signed with the client’s keys (give its public keys above)." checked={state.requireSignedRequestObject} onChange={(on) => setState({ ...state, requireSignedRequestObject: on })} />
              {fieldMessage(err, 'requireSignedRequestObject') && <p class="field-error">{fieldMessage(err, 'requireSignedRequestObject')}</p>}
            </>
          )}
          <Check name="requirePushedAuthorizationRequests" label="Require pushed authorization requests (PAR)" hint="The client first posts its request to the PAR endpoint, so its parameters never travel in the browser’s address bar." checked={client?.requirePushedAuthorizationRequests ?? false} />
        </Group>
      )}

      {a.code && (
        <Group title="Logout" hint="Where people may go after signing out, and how the client hears that they did.">
          <Field label="Post-logout redirect URIs" name="postLogoutRedirectUris" error={err} hint="One per line.">
            <textarea rows={2} defaultValue={(client?.postLogoutRedirectUris ?? []).join('\n')} {...fieldAttrs('postLogoutRedirectUris', err)} />
          </Field>
          <Field label="Back-channel logout URI (optional)" name="backchannelLogoutUri" error={err} hint="This server posts a logout token here when a person signs out, so the app can end its own session.">
            <input type="url" defaultValue={client?.backchannelLogoutUri ?? ''} {...fieldAttrs('backchannelLogoutUri', err)} />
          </Field>
          <Check name="backchannelLogoutSessionRequired" label="Logout tokens name the session (sid)" checked={client?.backchannelLogoutSessionRequired ?? true} />
        </Group>
      )}

      {a.people && (
        <Group title="Branding on the consent page" hint="What people see when this client asks for their consent. Links must be https (http only for localhost).">
          <div class="grid">
            <Field label="Home page URL" name="clientUri" error={err}><input type="url" defaultValue={client?.clientUri ?? ''} {...fieldAttrs('clientUri', err)} /></Field>
            <Field label="Logo URL" name="logoUri" error={err}><input type="url" defaultValue={client?.logoUri ?? ''} {...fieldAttrs('logoUri', err)} /></Field>
            <Field label="Privacy policy URL" name="policyUri" error={err}><input type="url" defaultValue={client?.policyUri ?? ''} {...fieldAttrs('policyUri', err)} /></Field>
            <Field label="Terms of service URL" name="tosUri" error={err}><input type="url" defaultValue={client?.tosUri ?? ''} {...fieldAttrs('tosUri', err)} /></Field>
          </div>
          <Field label="Contacts" name="contacts" error={err} hint="Email addresses of the people responsible for the app, one per line (up to 10).">
            <textarea rows={2} defaultValue={(client?.contacts ?? []).join('\n')} {...fieldAttrs('contacts', err)} />
          </Field>
        </Group>
      )}

      <Group title="Tokens" hint="Lifetimes in seconds; empty: the server’s default.">
        <div class="grid">
          {ttl('accessTokenTtl', 'Access token lifetime', 60, 86_400, '60 to 86400 (1 day).')}
          {a.people && ttl('idTokenTtl', 'ID token lifetime', 60, 86_400, '60 to 86400 (1 day).')}
          {a.refresh && ttl('refreshTokenTtl', 'Refresh token lifetime', 300, 31_536_000, '300 to 31536000 (1 year).')}
        </div>
        <Field label="Access token format" name="accessTokenFormat" error={err} hint="For APIs other than the admin API. A JWT can be checked by the API alone; an opaque token only by asking this server (introspection), and can be revoked at once.">
          <select defaultValue={client?.accessTokenFormat ?? ''} {...fieldAttrs('accessTokenFormat', err)}>
            <option value="">As the API (resource server) says</option>
            <option value="jwt">JWT</option>
            <option value="opaque">Opaque</option>
          </select>
        </Field>
      </Group>

      <Group title="Access" hint="What the client may ask for, and what people must do to use it.">
        <Field label="OpenID scopes (optional)" name="scope" error={err} hint="Space-separated, e.g. openid profile email; empty: the default for the kind.">
          <input type="text" defaultValue={client?.scope ?? ''} {...fieldAttrs('scope', err)} />
        </Field>
        {a.people && (
          <div class="grid">
            <Field label="Second factor" name="mfaPolicy" error={err}>
              <select defaultValue={client?.mfaPolicy ?? 'none'} {...fieldAttrs('mfaPolicy', err)}>
                <option value="none">As the person’s roles and factors say</option>
                <option value="required">Always required for this client</option>
              </select>
            </Field>
            <Field label="Ask for the second factor again after (seconds, optional)" name="mfaMaxAge" error={err} hint="Empty: a second factor used once counts for the whole session.">
              <input type="number" inputMode="numeric" min={0} step={1} defaultValue={client?.mfaMaxAge != null ? String(client.mfaMaxAge) : ''} {...fieldAttrs('mfaMaxAge', err)} />
            </Field>
          </div>
        )}
        {a.adminPermissions && <AdminPermissionsField client={client} err={err} />}
        {a.firstParty && a.people && (
          <Check name="firstParty" label="First-party (our own application: no consent page)" checked={client?.firstParty ?? false} />
        )}
      </Group>
    </>
  )
}

/** A field error made in the browser (a JWK Set that is not JSON), shown like the API's. */
function localProblem(path: string, message: string): ApiProblem {
  return new ApiProblem(400, 'Your request is not valid', 'Check the marked field.', [{ path, message }])
}

/**
 * The request body for POST /clients (creating) or PATCH /clients/:id. A setting whose field is not
 * shown is left out, except where leaving it would break a rule of the model on an edit (redirect
 * URIs without the code grant, PKCE off without it). An emptied optional field is null on an edit
 * (clears it) and left out on a registration.
 */
export function bodyOf(form: HTMLFormElement, s: FormState, client: Client | undefined, global: boolean): Record<string, unknown> {
  const creating = !client
  const a = applies(s, client, global)
  const v = formValues(form)
  const has = (name: string) => form.querySelector(`[name="${name}"]`) !== null
  const body: Record<string, unknown> = { name: v.name?.trim() ?? '' }
  const optional = (key: string, value: unknown) => {
    if (value !== undefined && value !== '') body[key] = value
    else if (!creating) body[key] = null
  }
  const num = (text: string | undefined) => (text && text.trim() !== '' ? Number(text) : undefined)
  if (creating) {
    body.kind = s.kind
    if (v.clientId) body.clientId = v.clientId
    if (has('secret') && v.secret) body.secret = v.secret
  }
  body.grantTypes = s.kind === 'service' ? [CLIENT_CREDENTIALS] : s.grants
  if (a.confidential) body.tokenEndpointAuthMethod = s.authMethod
  body.redirectUris = a.code ? lines(v.redirectUris) : []
  if (a.keys) {
    if (s.keySource === 'jwks') {
      const text = (v.jwks ?? '').trim()
      if (text) {
        let jwks: unknown
        try {
          jwks = JSON.parse(text)
        } catch {
          throw localProblem('jwks', 'This is not JSON: paste the JWK Set as the client publishes it ({"keys": [ … ]}).')
        }
        body.jwks = jwks
      } else if (!creating) body.jwks = null
      if (!creating) body.jwksUri = null
    } else {
      optional('jwksUri', v.jwksUri?.trim())
      if (!creating) body.jwks = null
    }
  }
  body.requirePkce = a.pkceChoice ? s.requirePkce : true
  if (a.code) {
    if (a.requestObjects) {
      optional('requestObjectSigningAlg', s.requestObjectSigningAlg)
      body.requireSignedRequestObject = s.requireSignedRequestObject
    }
    body.requirePushedAuthorizationRequests = v.requirePushedAuthorizationRequests === 'on'
    body.postLogoutRedirectUris = lines(v.postLogoutRedirectUris)
    optional('backchannelLogoutUri', v.backchannelLogoutUri?.trim())
    body.backchannelLogoutSessionRequired = v.backchannelLogoutSessionRequired === 'on'
  } else if (!creating) {
    body.postLogoutRedirectUris = []
    body.requireSignedRequestObject = false
    body.requirePushedAuthorizationRequests = false
  }
  if (a.people) {
    for (const key of ['clientUri', 'logoUri', 'policyUri', 'tosUri'] as const) optional(key, v[key]?.trim())
    body.contacts = lines(v.contacts)
    body.mfaPolicy = v.mfaPolicy
    optional('mfaMaxAge', num(v.mfaMaxAge))
  }
  optional('accessTokenTtl', num(v.accessTokenTtl))
  if (a.people) optional('idTokenTtl', num(v.idTokenTtl))
  if (a.refresh) optional('refreshTokenTtl', num(v.refreshTokenTtl))
  optional('accessTokenFormat', v.accessTokenFormat)
  const scope = (v.scope ?? '').trim().split(/\s+/).filter(Boolean).join(' ')
  optional('scope', scope)
  if (has('adminPermissions')) body.adminPermissions = new FormData(form).getAll('adminPermissions').map(String)
  else if (global && !creating && (client?.adminPermissions?.length ?? 0) > 0 && !s.grants.includes(CLIENT_CREDENTIALS)) body.adminPermissions = []
  if (has('firstParty')) body.firstParty = v.firstParty === 'on'
  return body
}
