import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { apiGet, apiSend, type Factor, type Items, type Session, type User } from '../api.ts'
import { Link, navigate } from '../router.tsx'
import { useCan } from '../me.ts'
import { Field, Loading, Notice, PageHeading, ProblemBox, fieldAttrs, formValues, formatDate, useLoad, useSubmit } from '../ui.tsx'
import { statusBadge, useRoles } from './users.tsx'

const path = (id: string) => `/users/${encodeURIComponent(id)}`

export function UserDetail({ id }: { id: string }): JSX.Element {
  const can = useCan()
  const user = useLoad(() => apiGet<User>(path(id)), [id])
  const [saved, setSaved] = useState<string | undefined>()
  if (user.error && !user.data) return <section><PageHeading>User</PageHeading><ProblemBox error={user.error} /><p><Link to="/users">Back to users</Link></p></section>
  if (!user.data) return <Loading what="the user" />
  const u = user.data
  const done = (message: string) => { setSaved(message); user.reload() }
  return (
    <section>
      <PageHeading>{u.displayName ?? u.email}</PageHeading>
      <p><Link to="/users">Back to users</Link></p>
      {saved && <Notice>{saved}</Notice>}
      <dl class="facts panel">
        <div><dt>Email</dt><dd>{u.email} {u.emailVerified ? <span class="badge ok">verified</span> : <span class="badge warn">not verified</span>}</dd></div>
        <div><dt>Status</dt><dd>{statusBadge(u)}</dd></div>
        <div><dt>Roles</dt><dd>{u.roles.map((r) => r.name).join(', ') || '—'}</dd></div>
        <div><dt>Last sign-in</dt><dd>{formatDate(u.lastLoginAt)}</dd></div>
        <div><dt>Created</dt><dd>{formatDate(u.createdAt)}</dd></div>
        <div><dt>Id</dt><dd><code>{u.id}</code></dd></div>
      </dl>
      {can('users:write') && <Profile user={u} onSaved={() => done('Profile saved.')} />}
      {(can('users:write') || can('roles:write')) && <Roles user={u} onSaved={() => done('Roles saved.')} />}
      <LockState user={u} canWrite={can('users:write')} onSaved={done} />
      {can('sessions:read') && <Sessions id={u.id} canWrite={can('sessions:write')} />}
      <Factors id={u.id} canWrite={can('users:write')} />
      {can('users:write') && <Danger user={u} />}
    </section>
  )
}

function Profile({ user, onSaved }: { user: User; onSaved: () => void }): JSX.Element {
  const submit = useSubmit(async (form: HTMLFormElement) => {
    const v = formValues(form)
    const nullable = (s: string | undefined) => (s ? s : null)
    await apiSend('PATCH', path(user.id), {
      email: v.email,
      username: nullable(v.username),
      displayName: nullable(v.displayName),
      givenName: nullable(v.givenName),
      familyName: nullable(v.familyName),
      phone: nullable(v.phone),
      emailVerified: v.emailVerified === 'on',
      status: v.status,
    })
    onSaved()
  })
  const err = submit.error
  return (
    <form class="panel form" aria-labelledby="profile-h" onSubmit={(e) => { e.preventDefault(); void submit.run(e.currentTarget) }} noValidate>
      <h2 id="profile-h">Profile</h2>
      <ProblemBox error={err} />
      <div class="grid">
        <Field label="Email" name="email" error={err}><input type="email" defaultValue={user.email} {...fieldAttrs('email', err)} /></Field>
        <Field label="Username" name="username" error={err}><input type="text" defaultValue={user.username ?? ''} {...fieldAttrs('username', err)} /></Field>
        <Field label="Display name" name="displayName" error={err}><input type="text" defaultValue={user.displayName ?? ''} {...fieldAttrs('displayName', err)} /></Field>
        <Field label="Given name" name="givenName" error={err}><input type="text" defaultValue={user.givenName ?? ''} {...fieldAttrs('givenName', err)} /></Field>
        <Field label="Family name" name="familyName" error={err}><input type="text" defaultValue={user.familyName ?? ''} {...fieldAttrs('familyName', err)} /></Field>
        <Field label="Phone" name="phone" error={err}><input type="tel" defaultValue={user.phone ?? ''} {...fieldAttrs('phone', err)} /></Field>
        <Field label="Status" name="status" error={err}>
          <select defaultValue={user.status} {...fieldAttrs('status', err)}>
            <option value="active">Active: may sign in</option>
            <option value="disabled">Disabled: cannot sign in</option>
          </select>
        </Field>
      </div>
      <div class="check">
        <input type="checkbox" id="f-emailVerified" name="emailVerified" defaultChecked={user.emailVerified} />
        <label for="f-emailVerified">Email address verified</label>
      </div>
      <div class="actions"><button type="submit" disabled={submit.busy}>Save profile</button></div>
    </form>
  )
}

function Roles({ user, onSaved }: { user: User; onSaved: () => void }): JSX.Element {
  const roles = useRoles()
  const submit = useSubmit(async (form: HTMLFormElement) => {
    const roleIds = new FormData(form).getAll('roleIds').map(String)
    await apiSend('PUT', `${path(user.id)}/roles`, { roleIds })
    onSaved()
  })
  const has = new Set(user.roles.map((r) => r.id))
  return (
    <form class="panel form" aria-labelledby="roles-h" onSubmit={(e) => { e.preventDefault(); void submit.run(e.currentTarget) }}>
      <h2 id="roles-h">Roles</h2>
      <ProblemBox error={submit.error ?? roles.error} />
      {roles.loading && <Loading what="roles" />}
      <fieldset>
        <legend class="visually-hidden">Roles of this user</legend>
        {(roles.data ?? []).map((r) => (
          <div class="check" key={`${r.id}-${has.has(r.id)}`}>
            <input type="checkbox" id={`role-${r.id}`} name="roleIds" value={r.id} defaultChecked={has.has(r.id)} />
            <label for={`role-${r.id}`}>{r.name}{r.mfaRequired && <span class="muted"> (requires a second factor)</span>}{r.description && <span class="muted"> · {r.description}</span>}</label>
          </div>
        ))}
      </fieldset>
      <div class="actions"><button type="submit" disabled={submit.busy || !roles.data}>Save roles</button></div>
    </form>
  )
}

function LockState({ user, canWrite, onSaved }: { user: User; canWrite: boolean; onSaved: (m: string) => void }): JSX.Element {
  const unlock = useSubmit(async () => {
    await apiSend('POST', `${path(user.id)}/unlock`)
    onSaved('Account unlocked.')
  })
  return (
    <section class="panel" aria-labelledby="lock-h">
      <h2 id="lock-h">Lock state</h2>
      <ProblemBox error={unlock.error} />
      {user.locked
        ? <p>Locked after {user.failedLogins} failed sign-ins{user.lockedUntil ? ` until ${formatDate(user.lockedUntil)}` : ''}.</p>
        : <p>Not locked. {user.failedLogins > 0 ? `${user.failedLogins} failed sign-in${user.failedLogins === 1 ? '' : 's'} recently.` : ''}</p>}
      {canWrite && user.locked && <button type="button" disabled={unlock.busy} onClick={() => void unlock.run()}>Unlock</button>}
    </section>
  )
}

function describeSession(s: Session): string {
  const parts = [s.browser, s.os, s.ip].filter((x) => typeof x === 'string' && x)
  return parts.join(' · ') || s.id
}

function Sessions({ id, canWrite }: { id: string; canWrite: boolean }): JSX.Element {
  const sessions = useLoad(() => apiGet<Items<Session>>(`${path(id)}/sessions`).then((r) => r.items), [id])
  const revoke = useSubmit(async (sessionId?: string) => {
    await apiSend('DELETE', sessionId ? `${path(id)}/sessions/${encodeURIComponent(sessionId)}` : `${path(id)}/sessions`)
    sessions.reload()
  })
  const list = sessions.data ?? []
  return (
    <section class="panel" aria-labelledby="sessions-h">
      <h2 id="sessions-h">Sessions</h2>
      <ProblemBox error={sessions.error ?? revoke.error} />
      {sessions.loading && !sessions.data && <Loading what="sessions" />}
      {sessions.data && list.length === 0 && <p class="muted">No active sessions.</p>}
      {list.length > 0 && (
        <ul class="rows">
          {list.map((s) => (
            <li key={s.id}>
              <span>{describeSession(s)}<br /><span class="muted">Signed in {formatDate(s.createdAt)}{s.lastSeenAt ? `, last active ${formatDate(s.lastSeenAt)}` : ''}</span></span>
              {canWrite && <button type="button" class="secondary" disabled={revoke.busy} onClick={() => void revoke.run(s.id)}>Revoke</button>}
            </li>
          ))}
        </ul>
      )}
      {canWrite && list.length > 1 && <button type="button" class="danger" disabled={revoke.busy} onClick={() => void revoke.run()}>Revoke all sessions</button>}
    </section>
  )
}

function Factors({ id, canWrite }: { id: string; canWrite: boolean }): JSX.Element {
  const factors = useLoad(() => apiGet<Items<Factor>>(`${path(id)}/factors`).then((r) => r.items), [id])
  const [confirming, setConfirming] = useState(false)
  const reset = useSubmit(async () => {
    await apiSend('DELETE', `${path(id)}/factors`)
    setConfirming(false)
    factors.reload()
  })
  const list = factors.data ?? []
  return (
    <section class="panel" aria-labelledby="factors-h">
      <h2 id="factors-h">Second factors</h2>
      <ProblemBox error={factors.error ?? reset.error} />
      {factors.loading && !factors.data && <Loading what="factors" />}
      {factors.data && list.length === 0 && <p class="muted">No second factors enrolled.</p>}
      {list.length > 0 && (
        <ul class="rows">
          {list.map((f) => <li key={f.id}><span>{f.label ?? f.kind} <span class="muted">({f.kind}{f.createdAt ? `, added ${formatDate(f.createdAt)}` : ''})</span></span></li>)}
        </ul>
      )}
      {canWrite && list.length > 0 && !confirming && <button type="button" class="danger" onClick={() => setConfirming(true)}>Reset second factors…</button>}
      {confirming && (
        <div class="confirm" role="group" aria-label="Confirm reset">
          <p>Remove every second factor and backup code of this person? They will set one up again at their next sign-in. You may be asked to confirm with your own second factor.</p>
          <button type="button" class="danger" disabled={reset.busy} onClick={() => void reset.run()}>Reset factors</button>
          <button type="button" class="secondary" onClick={() => setConfirming(false)}>Cancel</button>
        </div>
      )}
    </section>
  )
}

function Danger({ user }: { user: User }): JSX.Element {
  const [confirming, setConfirming] = useState(false)
  const remove = useSubmit(async () => {
    await apiSend('DELETE', path(user.id))
    navigate('/users')
  })
  return (
    <section class="panel" aria-labelledby="danger-h">
      <h2 id="danger-h">Delete user</h2>
      <ProblemBox error={remove.error} />
      {!confirming
        ? <button type="button" class="danger" onClick={() => setConfirming(true)}>Delete user…</button>
        : (
          <div class="confirm">
            <p>Delete {user.email}? This cannot be undone. Disabling the account keeps its history instead.</p>
            <button type="button" class="danger" disabled={remove.busy} onClick={() => void remove.run()}>Delete</button>
            <button type="button" class="secondary" onClick={() => setConfirming(false)}>Cancel</button>
          </div>
        )}
    </section>
  )
}
