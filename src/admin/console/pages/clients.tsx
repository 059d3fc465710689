// Clients: the list (kind, grants, state, how each was registered, PKCE-off warnings), registering
// one (client-form.tsx), and a client's page: its settings, its secret (rotation with a grace
// period for the old one), disabling and deleting. Built-in clients are shown, never changed.
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { apiGet, apiSend, type Page } from '../api.ts'
import { Link, navigate } from '../router.tsx'
import { useCan, useMe } from '../me.ts'
import { Loading, Notice, PageHeading, Pager, ProblemBox, formatDate, useLoad, usePagedList, useSubmit } from '../ui.tsx'
import { ClientFields, PkceOffBanner, bodyOf, initialState, type FormState } from './client-form.tsx'
import {
  AUTH_METHODS, GRANTS, ROTATION_CHOICES, grantShort, kindLabel, pkceOff,
  type ChangedClient, type Client, type CreatedClient, type RotatedSecret, type Warning,
} from './client-model.ts'

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

/** Advice the API gave with a change that it did not refuse (a short imported secret, PKCE off, a URI the outbound policy blocks). */
function Warnings({ warnings }: { warnings: Warning[] | undefined }): JSX.Element | null {
  if (!warnings?.length) return null
  return (
    <div class="warning-banner" role="note" aria-label="Warnings">
      <p><strong>{warnings.length === 1 ? 'Warning' : 'Warnings'}</strong></p>
      <ul>{warnings.map((w) => <li key={`${w.path}:${w.message}`}>{w.path && <code>{w.path}</code>}{w.path && ': '}{w.message}</li>)}</ul>
    </div>
  )
}

function ClientBadges({ c }: { c: Client }): JSX.Element {
  return (
    <>
      {c.builtIn && <span class="badge">built-in, protected</span>}
      {c.firstParty && <span class="badge">first-party</span>}
      {c.registeredBy === 'dynamic' && <span class="badge">registered dynamically</span>}
    </>
  )
}

function StateBadges({ c }: { c: Client }): JSX.Element {
  return (
    <>
      {c.disabled ? <span class="badge bad">disabled</span> : <span class="badge ok">active</span>}
      {pkceOff(c) && <span class="badge warn" title="PKCE is off for this client">⚠ PKCE off</span>}
    </>
  )
}

function NewClientForm({ onCreated, onCancel }: { onCreated: (c: CreatedClient) => void; onCancel: () => void }): JSX.Element {
  const global = useMe().scope === 'global'
  const [state, setState] = useState<FormState>(() => initialState())
  const submit = useSubmit(async (form: HTMLFormElement) => {
    const result = await apiSend<CreatedClient>('POST', '/clients', bodyOf(form, state, undefined, global))
    if (result) onCreated(result)
  })
  return (
    <form class="panel form client-form" aria-labelledby="new-client-h" onSubmit={(e) => { e.preventDefault(); void submit.run(e.currentTarget) }} noValidate>
      <h2 id="new-client-h">New client</h2>
      <ClientFields err={submit.error} state={state} setState={setState} />
      <ProblemBox error={submit.error} />
      <div class="actions">
        <button type="submit" disabled={submit.busy}>Create client</button>
        <button type="button" class="secondary" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  )
}

export function ClientList(): JSX.Element {
  const can = useCan()
  const list = usePagedList<Client>('/clients', {})
  const [creating, setCreating] = useState(false)
  const [created, setCreated] = useState<CreatedClient | undefined>()
  return (
    <section>
      <PageHeading actions={can('clients:write') && !creating && <button type="button" onClick={() => { setCreated(undefined); setCreating(true) }}>New client</button>}>Clients</PageHeading>
      {created && (
        <div class="panel">
          <Notice>Client <Link to={path(created.client.id)}>{created.client.name}</Link> created, id <code>{created.client.id}</code>.</Notice>
          <Warnings warnings={created.warnings} />
          {created.clientSecret && <SecretOnce secret={created.clientSecret} />}
        </div>
      )}
      {creating && <NewClientForm onCancel={() => setCreating(false)} onCreated={(r) => { setCreating(false); setCreated(r); list.reload() }} />}
      <ProblemBox error={list.error} />
      {list.loading && !list.data && <Loading what="clients" />}
      {list.data && (list.data.items.length === 0 ? <p class="muted">No clients yet.</p> : (
        <table class="stack">
          <thead><tr><th scope="col">Client</th><th scope="col">Kind</th><th scope="col">Grants</th><th scope="col">Id</th><th scope="col">State</th></tr></thead>
          <tbody>
            {(list.data as Page<Client>).items.map((c) => (
              <tr key={c.id}>
                <td data-label="Client"><Link to={path(c.id)}>{c.name}</Link> <ClientBadges c={c} /></td>
                <td data-label="Kind">{c.kind}</td>
                <td data-label="Grants">{(c.grantTypes ?? []).map(grantShort).join(', ') || '—'}</td>
                <td data-label="Id"><code>{c.id}</code></td>
                <td data-label="State"><StateBadges c={c} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      <Pager page={list.page} next={list.next} previous={list.previous} />
    </section>
  )
}

function ClientFacts({ c }: { c: Client }): JSX.Element {
  const method = AUTH_METHODS.find((m) => m.value === c.tokenEndpointAuthMethod)
  return (
    <dl class="facts panel">
      <div><dt>Client id</dt><dd><code>{c.id}</code></dd></div>
      <div><dt>Kind</dt><dd>{kindLabel(c.kind)}</dd></div>
      <div><dt>Grant types</dt><dd>{(c.grantTypes ?? []).map((g) => GRANTS.find((x) => x.value === g)?.label ?? g).join(', ') || '—'}</dd></div>
      <div><dt>Authentication</dt><dd>{method ? method.label : c.tokenEndpointAuthMethod === 'none' ? 'None (public client, PKCE)' : c.tokenEndpointAuthMethod}</dd></div>
      <div><dt>PKCE</dt><dd>{pkceOff(c) ? <span class="badge warn">⚠ off</span> : 'required'}</dd></div>
      <div><dt>OpenID scopes</dt><dd>{c.scope || '—'}</dd></div>
      <div><dt>Admin API permissions</dt><dd>{c.adminPermissions?.length ? c.adminPermissions.map((p) => <code key={p} class="tag">{p}</code>) : '—'}</dd></div>
      <div>
        <dt>Secret</dt>
        <dd>
          {c.hasSecret ? 'set (stored hashed)' : c.tokenEndpointAuthMethod === 'private_key_jwt' ? 'none (signs with its own key)' : 'none (public client)'}
          {c.secretRotation && <><br />The previous secret works until {formatDate(c.secretRotation.previousExpiresAt)}.</>}
        </dd>
      </div>
      <div><dt>Registered</dt><dd>{c.registeredBy === 'dynamic' ? 'dynamically, by the client itself' : 'by an administrator'} · {formatDate(c.createdAt)}</dd></div>
      <div><dt>State</dt><dd><StateBadges c={c} /></dd></div>
      <div><dt>Updated</dt><dd>{formatDate(c.updatedAt)}</dd></div>
    </dl>
  )
}

function EditClient({ c, onSaved }: { c: Client; onSaved: (r: ChangedClient | undefined) => void }): JSX.Element {
  const global = useMe().scope === 'global'
  const [state, setState] = useState<FormState>(() => initialState(c))
  const save = useSubmit(async (form: HTMLFormElement) => {
    onSaved(await apiSend<ChangedClient>('PATCH', path(c.id), bodyOf(form, state, c, global)))
  })
  return (
    <form class="panel form client-form" aria-labelledby="edit-client-h" onSubmit={(e) => { e.preventDefault(); void save.run(e.currentTarget) }} noValidate>
      <h2 id="edit-client-h">Settings</h2>
      <ClientFields client={c} err={save.error} state={state} setState={setState} />
      <ProblemBox error={save.error} />
      <div class="actions"><button type="submit" disabled={save.busy}>Save client</button></div>
    </form>
  )
}

function RotateSecret({ c, onRotated }: { c: Client; onRotated: () => void }): JSX.Element {
  const [keep, setKeep] = useState(0)
  const [result, setResult] = useState<RotatedSecret | undefined>()
  const rotate = useSubmit(async () => {
    const r = await apiSend<RotatedSecret>('POST', `${path(c.id)}/secret`, { keepPreviousFor: keep })
    setResult(r)
    onRotated()
  })
  return (
    <section class="panel" aria-labelledby="secret-h">
      <h2 id="secret-h">Client secret</h2>
      <p>Rotating makes a new secret. Give the old one time to keep working while the application is given the new one, and the switch needs no downtime. You may be asked to confirm with your second factor.</p>
      {c.secretRotation && !result && <p role="status">The previous secret works until {formatDate(c.secretRotation.previousExpiresAt)}.</p>}
      <ProblemBox error={rotate.error} />
      {result && (
        <>
          <Notice>{result.previousExpiresAt ? `Secret rotated. The previous secret works until ${formatDate(result.previousExpiresAt)}.` : 'Secret rotated. The previous secret no longer works.'}</Notice>
          <SecretOnce secret={result.clientSecret} />
        </>
      )}
      <div class="field">
        <label for="f-keepPreviousFor">The old secret</label>
        <select id="f-keepPreviousFor" value={String(keep)} onChange={(e) => setKeep(Number(e.currentTarget.value))}>
          {ROTATION_CHOICES.map((r) => <option key={r.seconds} value={String(r.seconds)}>{r.label}</option>)}
        </select>
      </div>
      <button type="button" class="danger" disabled={rotate.busy} onClick={() => void rotate.run()}>Rotate secret</button>
    </section>
  )
}

/** A button that asks first, naming what will happen, then does it. */
function Confirmed({ label, question, confirmLabel, busy, onConfirm }: { label: string; question: string; confirmLabel: string; busy: boolean; onConfirm: () => void }): JSX.Element {
  const [asking, setAsking] = useState(false)
  if (!asking) return <button type="button" class="danger" onClick={() => setAsking(true)}>{label}</button>
  return (
    <div class="confirm" role="group" aria-label={label}>
      <p>{question}</p>
      <button type="button" class="danger" disabled={busy} onClick={onConfirm}>{confirmLabel}</button>
      <button type="button" class="secondary" onClick={() => setAsking(false)}>Cancel</button>
    </div>
  )
}

export function ClientDetail({ id }: { id: string }): JSX.Element {
  const can = useCan()
  const client = useLoad(() => apiGet<Client>(path(id)), [id])
  const [saved, setSaved] = useState<{ message: string; warnings?: Warning[] | undefined; clientSecret?: string | undefined } | undefined>()
  const enable = useSubmit(async (disabled: boolean) => {
    await apiSend('PATCH', path(id), { disabled })
    setSaved({ message: disabled ? 'Client disabled. Its tokens and grants were revoked.' : 'Client enabled.' })
    client.reload()
  })
  const remove = useSubmit(async () => {
    await apiSend('DELETE', path(id))
    navigate('/clients')
  })
  if (!client.data) return <section><PageHeading>Client</PageHeading><ProblemBox error={client.error} />{client.loading && <Loading what="the client" />}<p><Link to="/clients">Back to clients</Link></p></section>
  const c = client.data
  const writable = can('clients:write') && !c.builtIn
  return (
    <section>
      <PageHeading>{c.name}</PageHeading>
      <p><Link to="/clients">Back to clients</Link></p>
      {saved && <Notice>{saved.message}</Notice>}
      {/* The PKCE warning has its own banner below. */}
      <Warnings warnings={(saved?.warnings ?? c.warnings)?.filter((w) => !(pkceOff(c) && w.path === 'requirePkce'))} />
      {saved?.clientSecret && <SecretOnce secret={saved.clientSecret} />}
      {c.builtIn && <p class="notice-protected" role="note"><strong>Built-in client, protected.</strong> The server itself depends on it: it cannot be changed, disabled or deleted here or anywhere else.</p>}
      {pkceOff(c) && <PkceOffBanner />}
      <ClientFacts c={c} />
      {writable && <EditClient key={c.updatedAt} c={c} onSaved={(r) => { setSaved({ message: 'Client saved.', warnings: r?.warnings, clientSecret: r?.clientSecret }); client.reload() }} />}
      {writable && c.hasSecret && <RotateSecret c={c} onRotated={() => client.reload()} />}
      {writable && (
        <section class="panel" aria-labelledby="state-h">
          <h2 id="state-h">{c.disabled ? 'Enable client' : 'Disable client'}</h2>
          <ProblemBox error={enable.error} />
          {c.disabled ? (
            <button type="button" disabled={enable.busy} onClick={() => void enable.run(false)}>Enable client {c.name}</button>
          ) : (
            <Confirmed
              label={`Disable client ${c.name}…`}
              question={`Disable ${c.name}? The server refuses it from now on, and every token and grant it holds is revoked at once: people signed in through it are signed out of it. You can enable it again later.`}
              confirmLabel={`Disable ${c.name}`}
              busy={enable.busy}
              onConfirm={() => void enable.run(true)}
            />
          )}
        </section>
      )}
      {writable && (
        <section class="panel" aria-labelledby="delete-h">
          <h2 id="delete-h">Delete client</h2>
          <ProblemBox error={remove.error} />
          <Confirmed
            label={`Delete client ${c.name}…`}
            question={`Delete ${c.name} for good? Every token and grant it holds is revoked at once, and applications still using its id or secret stop working. This cannot be undone.`}
            confirmLabel={`Delete ${c.name}`}
            busy={remove.busy}
            onConfirm={() => void remove.run()}
          />
        </section>
      )}
    </section>
  )
}
