import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import { apiDownload, type AuditEvent, type Query } from '../api.ts'
import { EventRow, Loading, PageHeading, Pager, ProblemBox, formValues, usePagedList, useSubmit } from '../ui.tsx'

/** datetime-local (the browser's time zone) to an ISO instant. */
function instant(local: string | undefined): string | undefined {
  if (!local) return undefined
  const d = new Date(local)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
}

export function AuditPage(): JSX.Element {
  const initial = new URLSearchParams(location.search)
  const [filters, setFilters] = useState<Query>({ userId: initial.get('userId') ?? undefined, clientId: initial.get('clientId') ?? undefined })
  const list = usePagedList<AuditEvent>('/audit', filters, 50)
  const download = useSubmit(async (format: 'csv' | 'json') => {
    await apiDownload('/audit/export', { ...filters, format }, `audit.${format}`)
  })
  return (
    <section>
      <PageHeading actions={
        <>
          <button type="button" class="secondary" disabled={download.busy} onClick={() => void download.run('csv')}>Export CSV</button>
          <button type="button" class="secondary" disabled={download.busy} onClick={() => void download.run('json')}>Export JSON</button>
        </>
      }>Audit</PageHeading>
      <ProblemBox error={download.error} />
      <form
        class="filters"
        aria-label="Filter events"
        onSubmit={(e) => {
          e.preventDefault()
          const v = formValues(e.currentTarget)
          setFilters({ from: instant(v.from), to: instant(v.to), type: v.type, userId: v.userId, clientId: v.clientId, outcome: v.outcome })
        }}
      >
        <div class="field"><label for="audit-from">From</label><input id="audit-from" name="from" type="datetime-local" /></div>
        <div class="field"><label for="audit-to">To</label><input id="audit-to" name="to" type="datetime-local" /></div>
        <div class="field"><label for="audit-type">Event type</label><input id="audit-type" name="type" type="text" placeholder="e.g. login_success" /></div>
        <div class="field"><label for="audit-user">User id</label><input id="audit-user" name="userId" type="text" defaultValue={(filters.userId as string | undefined) ?? ''} /></div>
        <div class="field"><label for="audit-client">Client id</label><input id="audit-client" name="clientId" type="text" defaultValue={(filters.clientId as string | undefined) ?? ''} /></div>
        <div class="field">
          <label for="audit-outcome">Outcome</label>
          <select id="audit-outcome" name="outcome">
            <option value="">Any</option>
            <option value="success">Success</option>
            <option value="failure">Failure</option>
          </select>
        </div>
        <button type="submit">Filter</button>
      </form>
      <ProblemBox error={list.error} />
      {list.loading && !list.data && <Loading what="events" />}
      {list.data && (list.data.items.length === 0 ? <p class="muted">No events match.</p> : (
        <table class="stack">
          <caption class="visually-hidden">Audit events, newest first</caption>
          <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Outcome</th><th scope="col">Actor</th><th scope="col">User</th><th scope="col">Client</th><th scope="col">IP</th></tr></thead>
          <tbody>{list.data.items.map((e) => <EventRow key={e.id} event={e} />)}</tbody>
        </table>
      ))}
      <Pager page={list.page} next={list.next} previous={list.previous} />
    </section>
  )
}
