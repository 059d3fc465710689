import type { JSX } from 'preact'
import { apiGet, type AuditEvent, type Stats } from '../api.ts'
import { Link } from '../router.tsx'
import { EventRow, Loading, PageHeading, ProblemBox, useLoad } from '../ui.tsx'
import { useCan, useMe } from '../me.ts'

function Events({ title, events, empty }: { title: string; events: AuditEvent[]; empty: string }): JSX.Element {
  return (
    <section class="panel">
      <h2>{title}</h2>
      {events.length === 0 ? <p class="muted">{empty}</p> : (
        <table class="stack">
          <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Outcome</th><th scope="col">Actor</th><th scope="col">User</th><th scope="col">Client</th><th scope="col">IP</th></tr></thead>
          <tbody>{events.map((e) => <EventRow key={e.id} event={e} />)}</tbody>
        </table>
      )}
    </section>
  )
}

export function Overview(): JSX.Element {
  const me = useMe()
  // Signed in, but no role gives an admin permission: the API would refuse everything (403).
  if (me.permissions.length === 0) {
    return (
      <section>
        <PageHeading>Overview</PageHeading>
        <div class="notice" role="status">
          <p>You are signed in, but none of your roles gives you an administrative permission, so there is nothing here for you yet. Ask an administrator for a role if you need one.</p>
        </div>
      </section>
    )
  }
  return <Counts />
}

function Counts(): JSX.Element {
  const can = useCan()
  const { data, error, loading } = useLoad(() => apiGet<Stats>('/stats'), [])
  const counts = data ? [
    { label: 'Users', value: data.users, to: '/users', permission: 'users:read' },
    { label: 'Clients', value: data.clients, to: '/clients', permission: 'clients:read' },
    { label: 'Tenants', value: data.tenants, to: '/tenants', permission: 'tenants:read' },
    { label: 'Roles', value: data.roles, to: '/roles', permission: 'roles:read' },
  ].filter((c) => can(c.permission)) : [] // only what the person may open (a tenant admin: no tenant or client counts)
  return (
    <section>
      <PageHeading>Overview</PageHeading>
      <ProblemBox error={error} />
      {loading && !data && <Loading what="the overview" />}
      {data && (
        <>
          <ul class="counts">
            {counts.map((c) => (
              <li key={c.label}>
                <Link to={c.to}><strong>{c.value}</strong> {c.label}</Link>
              </li>
            ))}
          </ul>
          {/* The API sends the recent events only with audit:read (empty lists otherwise): no "none yet" that is not true. */}
          {can('audit:read') && <Events title="Recent sign-ins" events={data.recentSignIns} empty="No sign-ins yet." />}
          {can('audit:read') && <Events title="Recent failures" events={data.recentFailures} empty="No failures recently." />}
        </>
      )}
    </section>
  )
}
