import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { apiGet, apiSend, type Items, type Permission, type Role } from '../api.ts'
import { Link, navigate } from '../router.tsx'
import { useCan } from '../me.ts'
import { Field, Loading, Notice, PageHeading, Pager, ProblemBox, fieldAttrs, formValues, useLoad, usePagedList, useSubmit } from '../ui.tsx'

/** GET /permissions: every permission there is, with its description. */
function usePermissions() {
  return useLoad(async () => (await apiGet<Items<Permission>>('/permissions')).items, [])
}

function RoleForm({ role, onSaved, submitLabel }: { role?: Role; onSaved: (r: Role | undefined) => void; submitLabel: string }): JSX.Element {
  const permissions = usePermissions()
  const submit = useSubmit(async (form: HTMLFormElement) => {
    const v = formValues(form)
    const body = {
      name: v.name,
      description: v.description || null,
      mfaRequired: v.mfaRequired === 'on',
      permissions: new FormData(form).getAll('permissions').map(String),
    }
    onSaved(await apiSend<Role>(role ? 'PATCH' : 'POST', role ? `/roles/${encodeURIComponent(role.id)}` : '/roles', body))
  })
  const err = submit.error
  const has = new Set(role?.permissions ?? [])
  return (
    <form class="panel form" onSubmit={(e) => { e.preventDefault(); void submit.run(e.currentTarget) }} noValidate>
      <ProblemBox error={err} />
      <Field label="Name" name="name" error={err}><input type="text" required defaultValue={role?.name ?? ''} {...fieldAttrs('name', err)} /></Field>
      <Field label="Description" name="description" error={err}><input type="text" defaultValue={role?.description ?? ''} {...fieldAttrs('description', err)} /></Field>
      <div class="check">
        <input type="checkbox" id="f-mfaRequired" name="mfaRequired" defaultChecked={role?.mfaRequired ?? false} />
        <label for="f-mfaRequired">People with this role must use a second factor</label>
      </div>
      <fieldset>
        <legend>Permissions</legend>
        <ProblemBox error={permissions.error} />
        {permissions.loading && <Loading what="permissions" />}
        <div class="checks-grid">
          {(permissions.data ?? []).map((p) => (
            <div class="check" key={p.name}>
              <input type="checkbox" id={`perm-${p.name}`} name="permissions" value={p.name} defaultChecked={has.has(p.name)} />
              <label for={`perm-${p.name}`}><code>{p.name}</code>{p.description && <span class="muted"> {p.description}</span>}</label>
            </div>
          ))}
        </div>
      </fieldset>
      <div class="actions"><button type="submit" disabled={submit.busy}>{submitLabel}</button></div>
    </form>
  )
}

export function RoleList(): JSX.Element {
  const can = useCan()
  const list = usePagedList<Role>('/roles', {})
  const [creating, setCreating] = useState(false)
  return (
    <section>
      <PageHeading actions={can('roles:write') && !creating && <button type="button" onClick={() => setCreating(true)}>New role</button>}>Roles and permissions</PageHeading>
      {creating && (
        <>
          <h2>New role</h2>
          <RoleForm submitLabel="Create role" onSaved={(r) => (r ? navigate(`/roles/${encodeURIComponent(r.id)}`) : (setCreating(false), list.reload()))} />
        </>
      )}
      <ProblemBox error={list.error} />
      {list.loading && !list.data && <Loading what="roles" />}
      {list.data && (list.data.items.length === 0 ? <p class="muted">No roles yet.</p> : (
        <table class="stack">
          <thead><tr><th scope="col">Role</th><th scope="col">Permissions</th><th scope="col">Second factor</th><th scope="col">People</th></tr></thead>
          <tbody>
            {list.data.items.map((r) => (
              <tr key={r.id}>
                <td data-label="Role"><Link to={`/roles/${encodeURIComponent(r.id)}`}>{r.name}</Link>{r.description && <div class="muted">{r.description}</div>}</td>
                <td data-label="Permissions">{r.permissions.length ? r.permissions.map((p) => <code key={p} class="tag">{p}</code>) : '—'}</td>
                <td data-label="Second factor">{r.mfaRequired ? 'required' : '—'}</td>
                <td data-label="People">{r.userCount}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      <Pager page={list.page} next={list.next} previous={list.previous} />
    </section>
  )
}

export function RoleDetail({ id }: { id: string }): JSX.Element {
  const can = useCan()
  const role = useLoad(() => apiGet<Role>(`/roles/${encodeURIComponent(id)}`), [id])
  const [saved, setSaved] = useState(false)
  const remove = useSubmit(async () => {
    await apiSend('DELETE', `/roles/${encodeURIComponent(id)}`)
    navigate('/roles')
  })
  if (!role.data) return <section><PageHeading>Role</PageHeading><ProblemBox error={role.error} />{role.loading && <Loading what="the role" />}<p><Link to="/roles">Back to roles</Link></p></section>
  const r = role.data
  return (
    <section>
      <PageHeading>Role {r.name}</PageHeading>
      <p><Link to="/roles">Back to roles</Link> · {r.userCount} {r.userCount === 1 ? 'person has' : 'people have'} this role.</p>
      {saved && <Notice>Role saved.</Notice>}
      {can('roles:write')
        ? <RoleForm key={JSON.stringify(r)} role={r} submitLabel="Save role" onSaved={() => { setSaved(true); role.reload() }} />
        : <section class="panel"><h2>Permissions</h2><p>{r.permissions.map((p) => <code key={p} class="tag">{p}</code>)}</p></section>}
      {can('roles:write') && (
        <section class="panel">
          <h2>Delete role</h2>
          <ProblemBox error={remove.error} />
          <button type="button" class="danger" disabled={remove.busy} onClick={() => void remove.run()}>Delete role {r.name}</button>
        </section>
      )}
    </section>
  )
}
