import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { apiGet, apiSend, type Tenant } from '../api.ts'
import { Link, navigate } from '../router.tsx'
import { useCan } from '../me.ts'
import { Field, Loading, Notice, PageHeading, Pager, ProblemBox, fieldAttrs, formValues, formatDate, useLoad, usePagedList, useSubmit } from '../ui.tsx'

const path = (id: string) => `/tenants/${encodeURIComponent(id)}`

function TenantFields({ tenant, err }: { tenant?: Tenant; err: unknown }): JSX.Element {
  return (
    <>
      <Field label="Name" name="name" error={err}><input type="text" required defaultValue={tenant?.name ?? ''} {...fieldAttrs('name', err)} /></Field>
      {tenant
        ? <p><span class="muted">Slug</span> <code>{tenant.slug}</code></p>
        : <Field label="Slug" name="slug" error={err} hint="Lower-case letters, digits and dashes; used in links; cannot be changed later."><input type="text" required {...fieldAttrs('slug', err)} /></Field>}
      <Field label="Registration" name="registrationMode" error={err}>
        <select defaultValue={tenant?.registrationMode ?? 'closed'} {...fieldAttrs('registrationMode', err)}>
          <option value="closed">Closed: administrators create accounts</option>
          <option value="invite">By invitation</option>
          <option value="open">Open: anyone may register</option>
        </select>
      </Field>
    </>
  )
}

export function TenantList(): JSX.Element {
  const can = useCan()
  const list = usePagedList<Tenant>('/tenants', {})
  const [creating, setCreating] = useState(false)
  const submit = useSubmit(async (form: HTMLFormElement) => {
    const t = await apiSend<Tenant>('POST', '/tenants', formValues(form))
    if (t) navigate(path(t.id))
  })
  return (
    <section>
      <PageHeading actions={can('tenants:write') && !creating && <button type="button" onClick={() => setCreating(true)}>New tenant</button>}>Tenants</PageHeading>
      {creating && (
        <form class="panel form" aria-labelledby="new-tenant-h" onSubmit={(e) => { e.preventDefault(); void submit.run(e.currentTarget) }} noValidate>
          <h2 id="new-tenant-h">New tenant</h2>
          <ProblemBox error={submit.error} />
          <TenantFields err={submit.error} />
          <div class="actions">
            <button type="submit" disabled={submit.busy}>Create tenant</button>
            <button type="button" class="secondary" onClick={() => setCreating(false)}>Cancel</button>
          </div>
        </form>
      )}
      <ProblemBox error={list.error} />
      {list.loading && !list.data && <Loading what="tenants" />}
      {list.data && (list.data.items.length === 0 ? <p class="muted">No tenants yet.</p> : (
        <table class="stack">
          <thead><tr><th scope="col">Tenant</th><th scope="col">Slug</th><th scope="col">Registration</th><th scope="col">People</th><th scope="col">Created</th></tr></thead>
          <tbody>
            {list.data.items.map((t) => (
              <tr key={t.id}>
                <td data-label="Tenant"><Link to={path(t.id)}>{t.name}</Link></td>
                <td data-label="Slug"><code>{t.slug}</code></td>
                <td data-label="Registration">{t.registrationMode}</td>
                <td data-label="People">{t.userCount}</td>
                <td data-label="Created">{formatDate(t.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      <Pager page={list.page} next={list.next} previous={list.previous} />
    </section>
  )
}

export function TenantDetail({ id }: { id: string }): JSX.Element {
  const can = useCan()
  const tenant = useLoad(() => apiGet<Tenant>(path(id)), [id])
  const [saved, setSaved] = useState(false)
  const save = useSubmit(async (form: HTMLFormElement) => {
    await apiSend('PATCH', path(id), formValues(form))
    setSaved(true)
    tenant.reload()
  })
  const remove = useSubmit(async () => {
    await apiSend('DELETE', path(id))
    navigate('/tenants')
  })
  if (!tenant.data) return <section><PageHeading>Tenant</PageHeading><ProblemBox error={tenant.error} />{tenant.loading && <Loading what="the tenant" />}<p><Link to="/tenants">Back to tenants</Link></p></section>
  const t = tenant.data
  return (
    <section>
      <PageHeading>{t.name}</PageHeading>
      <p><Link to="/tenants">Back to tenants</Link> · {t.userCount} {t.userCount === 1 ? 'person' : 'people'} · created {formatDate(t.createdAt)}</p>
      {saved && <Notice>Tenant saved.</Notice>}
      {can('tenants:write') && (
        <form class="panel form" onSubmit={(e) => { e.preventDefault(); void save.run(e.currentTarget) }} noValidate>
          <ProblemBox error={save.error} />
          <TenantFields key={JSON.stringify(t)} tenant={t} err={save.error} />
          <div class="actions"><button type="submit" disabled={save.busy}>Save tenant</button></div>
        </form>
      )}
      {can('tenants:write') && (
        <section class="panel">
          <h2>Delete tenant</h2>
          <ProblemBox error={remove.error} />
          <button type="button" class="danger" disabled={remove.busy} onClick={() => void remove.run()}>Delete tenant {t.name}</button>
        </section>
      )}
    </section>
  )
}
