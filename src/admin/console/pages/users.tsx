import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { apiGet, apiSend, type Page, type Role, type Tenant, type User } from '../api.ts'
import { Link, navigate } from '../router.tsx'
import { useCan, useMe } from '../me.ts'
import { Field, Loading, PageHeading, Pager, ProblemBox, fieldAttrs, formValues, formatDate, useLoad, usePagedList, useSubmit } from '../ui.tsx'

export function statusBadge(user: Pick<User, 'status' | 'locked'>): JSX.Element {
  return (
    <>
      <span class={`badge ${user.status === 'active' ? 'ok' : 'bad'}`}>{user.status}</span>
      {user.locked && <> <span class="badge warn">locked</span></>}
    </>
  )
}

/** Every role the person may see (first page is plenty for a picker; the API pages by 100). */
export function useRoles() {
  const can = useCan()
  return useLoad(() => (can('roles:read') ? apiGet<Page<Role>>('/roles', { limit: 100 }).then((p) => p.items) : Promise.resolve([] as Role[])), [])
}

export function UserList(): JSX.Element {
  const can = useCan()
  const [filters, setFilters] = useState({ q: '', role: '', status: '' })
  const roles = useRoles()
  const list = usePagedList<User>('/users', filters)
  return (
    <section>
      <PageHeading actions={can('users:write') && <Link class="button" to="/users/new">New user</Link>}>Users</PageHeading>
      <form
        class="filters"
        role="search"
        aria-label="Find users"
        onSubmit={(e) => {
          e.preventDefault()
          const v = formValues(e.currentTarget)
          setFilters({ q: v.q ?? '', role: v.role ?? '', status: v.status ?? '' })
        }}
      >
        <div class="field">
          <label for="users-q">Search</label>
          <input id="users-q" name="q" type="search" placeholder="Email, username or name" defaultValue={filters.q} />
        </div>
        <div class="field">
          <label for="users-role">Role</label>
          <select id="users-role" name="role" defaultValue={filters.role}>
            <option value="">Any role</option>
            {(roles.data ?? []).map((r) => <option key={r.id} value={r.id}>{r.name}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="users-status">Status</label>
          <select id="users-status" name="status" defaultValue={filters.status}>
            <option value="">Any status</option>
            <option value="active">Active</option>
            <option value="disabled">Disabled</option>
          </select>
        </div>
        <button type="submit">Search</button>
      </form>
      <ProblemBox error={list.error} />
      {list.loading && !list.data && <Loading what="users" />}
      {list.data && (list.data.items.length === 0 ? <p class="muted">No users match.</p> : (
        <table class="stack">
          <caption class="visually-hidden">Users</caption>
          <thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Roles</th><th scope="col">Status</th><th scope="col">Last sign-in</th></tr></thead>
          <tbody>
            {list.data.items.map((u) => (
              <tr key={u.id}>
                <td data-label="Email"><Link to={`/users/${encodeURIComponent(u.id)}`}>{u.email}</Link></td>
                <td data-label="Name">{u.displayName ?? u.username ?? '—'}</td>
                <td data-label="Roles">{u.roles.map((r) => r.name).join(', ') || '—'}</td>
                <td data-label="Status">{statusBadge(u)}</td>
                <td data-label="Last sign-in">{formatDate(u.lastLoginAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      <Pager page={list.page} next={list.next} previous={list.previous} />
    </section>
  )
}

export function UserCreate(): JSX.Element {
  const me = useMe()
  const can = useCan()
  const roles = useRoles()
  const tenants = useLoad(() => (me.scope === 'global' && can('tenants:read') ? apiGet<Page<Tenant>>('/tenants', { limit: 100 }).then((p) => p.items) : Promise.resolve([] as Tenant[])), [])
  const submit = useSubmit(async (form: HTMLFormElement) => {
    const v = formValues(form)
    const roleIds = new FormData(form).getAll('roleIds').map(String)
    const body = {
      email: v.email,
      ...(v.username ? { username: v.username } : {}),
      ...(v.displayName ? { displayName: v.displayName } : {}),
      ...(v.password ? { password: v.password } : {}),
      emailVerified: v.emailVerified === 'on',
      ...(v.tenantId ? { tenantId: v.tenantId } : {}),
      ...(roleIds.length ? { roleIds } : {}),
    }
    const user = await apiSend<User>('POST', '/users', body)
    navigate(user ? `/users/${encodeURIComponent(user.id)}` : '/users')
  })
  const err = submit.error
  return (
    <section>
      <PageHeading>New user</PageHeading>
      <p><Link to="/users">Back to users</Link></p>
      <form class="panel form" onSubmit={(e) => { e.preventDefault(); void submit.run(e.currentTarget) }} noValidate>
        <ProblemBox error={err} />
        <Field label="Email" name="email" error={err}><input type="email" required autoComplete="off" {...fieldAttrs('email', err)} /></Field>
        <Field label="Username (optional)" name="username" error={err}><input type="text" autoComplete="off" {...fieldAttrs('username', err)} /></Field>
        <Field label="Display name (optional)" name="displayName" error={err}><input type="text" autoComplete="off" {...fieldAttrs('displayName', err)} /></Field>
        <Field label="Password (optional)" name="password" error={err} hint="Leave empty to have the person set one through an invitation or a password reset.">
          <input type="password" autoComplete="new-password" {...fieldAttrs('password', err)} />
        </Field>
        <div class="check">
          <input type="checkbox" id="f-emailVerified" name="emailVerified" />
          <label for="f-emailVerified">The email address is verified (you vouch for it)</label>
        </div>
        {me.scope === 'global' && (tenants.data?.length ?? 0) > 0 && (
          <Field label="Tenant" name="tenantId" error={err}>
            <select {...fieldAttrs('tenantId', err)}>
              <option value="">No tenant</option>
              {tenants.data!.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
            </select>
          </Field>
        )}
        {(roles.data?.length ?? 0) > 0 && (
          <fieldset>
            <legend>Roles</legend>
            {roles.data!.map((r) => (
              <div class="check" key={r.id}>
                <input type="checkbox" id={`new-role-${r.id}`} name="roleIds" value={r.id} />
                <label for={`new-role-${r.id}`}>{r.name}</label>
              </div>
            ))}
          </fieldset>
        )}
        <div class="actions"><button type="submit" disabled={submit.busy}>{submit.busy ? 'Creating…' : 'Create user'}</button></div>
      </form>
    </section>
  )
}
