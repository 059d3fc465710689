import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { ApiProblem, apiGet, apiSend, type Client, type ClientSecret, type CreatedClient } from '../api.ts'
import { Link, navigate } from '../router.tsx'
import { useCan, useMe } from '../me.ts'
import { Field, Loading, Notice, PageHeading, Pager, ProblemBox, fieldAttrs, formValues, formatDate, lines, useLoad, usePagedList, useSubmit } from '../ui.tsx'

const path = (id: string) => `/clients/${encodeURIComponent(id)}`

/** A secret shown once: a copy button and a warning that it will not be shown again. */
function SecretOnce({ secret }: { secret: string }): JSX.Element {
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle')
  const copyIt = async () => {
    try {
      // The Clipboard API may be missing (http) or refused (permissions): say so, do not throw.
      if (!navigator.clipboard) throw new Error('no clipboard')
      await navigator.clipboard.writeText(secret)
      setCopy('copied')
    } catch {
      setCopy('failed')
    }
  }
  return (
    <div class="secret" role="alert">
      <p><strong>Copy this client secret now.</strong> It is shown only once; the server keeps only a hash of it.</p>
      <div class="secret-row">
        <input type="text" readOnly value={secret} aria-label="Client secret" onFocus={(e) => e.currentTarget.select()} />
        <button type="button" onClick={() => void copyIt()}>{copy === 'copied' ? 'Copied' : 'Copy'}</button>
      </div>
      {copy === 'failed' && <p role="status">The browser did not allow copying: select the secret and copy it yourself.</p>}
    </div>
  )
}

/**
 * The admin API permissions a service client's tokens may hold. Offered: what the signed-in admin
 * holds (the API refuses to hand out more), plus what the client already has (it can be removed).
 */
function AdminPermissionsField({ client, err }: { client?: Client; err: unknown }): JSX.Element {
  const me = useMe()
  const has = new Set(client?.adminPermissions ?? [])
  const offered = [...me.permissions, ...(client?.adminPermissions ?? []).filter((p) => !me.permissions.includes(p))]
  const message = err instanceof ApiProblem ? err.fieldError('adminPermissions') : undefined
  return (
    <fieldset class={message ? 'invalid' : undefined} aria-describedby="admin-perms-hint">
      <legend>Admin API permissions</legend>
      <p class="hint" id="admin-perms-hint">What this service may do in the admin API with client-credentials tokens. You can give only permissions you hold yourself.</p>
      <div class="checks-grid">
        {offered.map((p) => (
          <div class="check" key={p}>
            <input type="checkbox" id={`ap-${p}`} name="adminPermissions" value={p} defaultChecked={has.has(p)} />
            <label for={`ap-${p}`}><code>{p}</code>{!me.permissions.includes(p) && <span class="muted"> (you do not hold it)</span>}</label>
          </div>
        ))}
      </div>
      {message && <p class="field-error">{message}</p>}
    </fieldset>
  )
}

function ClientFields({ client, err }: { client?: Client; err: unknown }): JSX.Element {
  const [kind, setKind] = useState<string>(client?.kind ?? 'web')
  // First-party standing and admin permissions are a global administrator's to give (the API refuses others).
  const global = useMe().scope === 'global'
  return (
    <>
      <Field label="Name" name="name" error={err}><input type="text" required defaultValue={client?.name ?? ''} {...fieldAttrs('name', err)} /></Field>
      {!client && (
        <Field label="Kind" name="kind" error={err} hint="web: server-side app with a secret; spa / native: public, PKCE; service: client credentials.">
          <select {...fieldAttrs('kind', err)} value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="web">Web application (confidential)</option>
            <option value="spa">Single-page application (public)</option>
            <option value="native">Native application (public)</option>
            <option value="service">Service (client credentials)</option>
          </select>
        </Field>
      )}
      <Field label="Redirect URIs" name="redirectUris" error={err} hint="One per line.">
        <textarea rows={3} defaultValue={(client?.redirectUris ?? []).join('\n')} {...fieldAttrs('redirectUris', err)} />
      </Field>
      <Field label="Post-logout redirect URIs" name="postLogoutRedirectUris" error={err} hint="One per line.">
        <textarea rows={2} defaultValue={(client?.postLogoutRedirectUris ?? []).join('\n')} {...fieldAttrs('postLogoutRedirectUris', err)} />
      </Field>
      <Field label="OpenID scopes (optional)" name="scope" error={err} hint="Space-separated, e.g. openid profile email; empty: the default for the kind.">
        <input type="text" defaultValue={client?.scope ?? ''} {...fieldAttrs('scope', err)} />
      </Field>
      {global && (kind === 'service' || (client?.adminPermissions.length ?? 0) > 0) && <AdminPermissionsField client={client} err={err} />}
      <Field label="Second factor" name="mfaPolicy" error={err}>
        <select defaultValue={client?.mfaPolicy ?? 'none'} {...fieldAttrs('mfaPolicy', err)}>
          <option value="none">As the person's roles and factors say</option>
          <option value="required">Always required for this client</option>
        </select>
      </Field>
      {global && (
        <div class="check">
          <input type="checkbox" id="f-firstParty" name="firstParty" defaultChecked={client?.firstParty ?? false} />
          <label for="f-firstParty">First-party (our own application: no consent page)</label>
        </div>
      )}
      {client && (
        <div class="check">
          <input type="checkbox" id="f-disabled" name="disabled" defaultChecked={client.disabled} />
          <label for="f-disabled">Disabled (the server refuses it)</label>
        </div>
      )}
    </>
  )
}

function bodyOf(form: HTMLFormElement, creating: boolean) {
  const v = formValues(form)
  const scope = (v.scope ?? '').trim().split(/\s+/).filter(Boolean).join(' ')
  // Only when the form shows the permissions (service clients, or a client that has some).
  const permissionsShown = form.querySelector('input[name="adminPermissions"]') !== null
  return {
    name: v.name,
    ...(creating ? { kind: v.kind } : { disabled: v.disabled === 'on' }),
    redirectUris: lines(v.redirectUris),
    postLogoutRedirectUris: lines(v.postLogoutRedirectUris),
    ...(creating ? (scope ? { scope } : {}) : { scope: scope || null }),
    ...(permissionsShown ? { adminPermissions: new FormData(form).getAll('adminPermissions').map(String) } : {}),
    mfaPolicy: v.mfaPolicy,
    ...(form.querySelector('input[name="firstParty"]') !== null ? { firstParty: v.firstParty === 'on' } : {}),
  }
}

export function ClientList(): JSX.Element {
  const can = useCan()
  const list = usePagedList<Client>('/clients', {})
  const [creating, setCreating] = useState(false)
  const [created, setCreated] = useState<{ client: Client; clientSecret?: string } | undefined>()
  const submit = useSubmit(async (form: HTMLFormElement) => {
    const result = await apiSend<CreatedClient>('POST', '/clients', bodyOf(form, true))
    setCreating(false)
    setCreated(result)
    list.reload()
  })
  return (
    <section>
      <PageHeading actions={can('clients:write') && !creating && <button type="button" onClick={() => { setCreated(undefined); setCreating(true) }}>New client</button>}>Clients</PageHeading>
      {created && (
        <div class="panel">
          <Notice>Client <Link to={path(created.client.id)}>{created.client.name}</Link> created, id <code>{created.client.id}</code>.</Notice>
          {created.clientSecret && <SecretOnce secret={created.clientSecret} />}
        </div>
      )}
      {creating && (
        <form class="panel form" aria-labelledby="new-client-h" onSubmit={(e) => { e.preventDefault(); void submit.run(e.currentTarget) }} noValidate>
          <h2 id="new-client-h">New client</h2>
          <ProblemBox error={submit.error} />
          <ClientFields err={submit.error} />
          <div class="actions">
            <button type="submit" disabled={submit.busy}>Create client</button>
            <button type="button" class="secondary" onClick={() => setCreating(false)}>Cancel</button>
          </div>
        </form>
      )}
      <ProblemBox error={list.error} />
      {list.loading && !list.data && <Loading what="clients" />}
      {list.data && (list.data.items.length === 0 ? <p class="muted">No clients yet.</p> : (
        <table class="stack">
          <thead><tr><th scope="col">Client</th><th scope="col">Kind</th><th scope="col">Id</th><th scope="col">State</th></tr></thead>
          <tbody>
            {list.data.items.map((c) => (
              <tr key={c.id}>
                <td data-label="Client"><Link to={path(c.id)}>{c.name}</Link>{c.firstParty && <span class="badge">first-party</span>}</td>
                <td data-label="Kind">{c.kind}</td>
                <td data-label="Id"><code>{c.id}</code></td>
                <td data-label="State">{c.disabled ? <span class="badge bad">disabled</span> : <span class="badge ok">active</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      <Pager page={list.page} next={list.next} previous={list.previous} />
    </section>
  )
}

export function ClientDetail({ id }: { id: string }): JSX.Element {
  const can = useCan()
  const client = useLoad(() => apiGet<Client>(path(id)), [id])
  const [saved, setSaved] = useState(false)
  const [secret, setSecret] = useState<string | undefined>()
  const save = useSubmit(async (form: HTMLFormElement) => {
    await apiSend('PATCH', path(id), bodyOf(form, false))
    setSaved(true)
    client.reload()
  })
  const rotate = useSubmit(async () => {
    const r = await apiSend<ClientSecret>('POST', `${path(id)}/secret`)
    setSecret(r?.clientSecret)
  })
  const remove = useSubmit(async () => {
    await apiSend('DELETE', path(id))
    navigate('/clients')
  })
  if (!client.data) return <section><PageHeading>Client</PageHeading><ProblemBox error={client.error} />{client.loading && <Loading what="the client" />}<p><Link to="/clients">Back to clients</Link></p></section>
  const c = client.data
  return (
    <section>
      <PageHeading>{c.name}</PageHeading>
      <p><Link to="/clients">Back to clients</Link></p>
      {saved && <Notice>Client saved.</Notice>}
      <dl class="facts panel">
        <div><dt>Client id</dt><dd><code>{c.id}</code></dd></div>
        <div><dt>Kind</dt><dd>{c.kind}</dd></div>
        <div><dt>Grant types</dt><dd>{c.grantTypes.join(', ') || '—'}</dd></div>
        <div><dt>OpenID scopes</dt><dd>{c.scope || '—'}</dd></div>
        <div><dt>Admin API permissions</dt><dd>{c.adminPermissions.length ? c.adminPermissions.map((p) => <code key={p} class="tag">{p}</code>) : '—'}</dd></div>
        <div><dt>Secret</dt><dd>{c.hasSecret ? 'set (stored hashed)' : 'none (public client)'}</dd></div>
        <div><dt>Updated</dt><dd>{formatDate(c.updatedAt)}</dd></div>
      </dl>
      {can('clients:write') && (
        <form class="panel form" aria-labelledby="edit-client-h" onSubmit={(e) => { e.preventDefault(); void save.run(e.currentTarget) }} noValidate>
          <h2 id="edit-client-h">Settings</h2>
          <ProblemBox error={save.error} />
          <ClientFields key={c.updatedAt} client={c} err={save.error} />
          <div class="actions"><button type="submit" disabled={save.busy}>Save client</button></div>
        </form>
      )}
      {can('clients:write') && c.hasSecret && (
        <section class="panel" aria-labelledby="secret-h">
          <h2 id="secret-h">Client secret</h2>
          <p>Rotating makes a new secret and the old one stops working at once. You may be asked to confirm with your second factor.</p>
          <ProblemBox error={rotate.error} />
          {secret && <SecretOnce secret={secret} />}
          <button type="button" class="danger" disabled={rotate.busy} onClick={() => void rotate.run()}>Rotate secret</button>
        </section>
      )}
      {can('clients:write') && (
        <section class="panel">
          <h2>Delete client</h2>
          <ProblemBox error={remove.error} />
          <button type="button" class="danger" disabled={remove.busy} onClick={() => void remove.run()}>Delete client {c.name}</button>
        </section>
      )}
    </section>
  )
}
