// Shared pieces of the pages: problems, fields, tables, pagination, dates.
import type { ComponentChildren, JSX } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { ApiProblem, apiGet, type Page, type Query } from './api.ts'

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

export function problemMessage(err: unknown): string {
  if (err instanceof ApiProblem) return err.detail ? `${err.title}: ${err.detail}` : err.title
  return err instanceof Error ? err.message : String(err)
}

/** An error box (role=alert) for a failed request, with the API's field errors listed. */
export function ProblemBox({ error }: { error: unknown }): JSX.Element | null {
  if (!error) return null
  const fields = error instanceof ApiProblem ? error.errors : []
  return (
    <div class="error" role="alert">
      <p>{problemMessage(error)}</p>
      {fields.length > 0 && <ul>{fields.map((f) => <li key={f.path}><code>{f.path}</code>: {f.message}</li>)}</ul>}
    </div>
  )
}

export function Notice({ children }: { children: ComponentChildren }): JSX.Element {
  return <div class="notice" role="status">{children}</div>
}

interface FieldProps {
  label: string
  name: string
  error?: unknown
  hint?: string
  children?: ComponentChildren
}

/** A labelled control; the API's message for this field (ApiProblem.errors) under it. */
export function Field({ label, name, error, hint, children }: FieldProps): JSX.Element {
  const message = error instanceof ApiProblem ? error.fieldError(name) : undefined
  const id = `f-${name}`
  return (
    <div class={`field${message ? ' invalid' : ''}`}>
      <label for={id}>{label}</label>
      {children}
      {hint && <p class="hint" id={`${id}-hint`}>{hint}</p>}
      {message && <p class="field-error" id={`${id}-error`}>{message}</p>}
    </div>
  )
}

export function fieldAttrs(name: string, error?: unknown): Record<string, string | boolean> {
  const invalid = error instanceof ApiProblem && Boolean(error.fieldError(name))
  return { id: `f-${name}`, name, 'aria-invalid': invalid ? 'true' : 'false', ...(invalid ? { 'aria-describedby': `f-${name}-error` } : {}) }
}

/** Loads a value; reload() fetches again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true })
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => { if (live) setState({ data, error: undefined, loading: false }) },
      (error: unknown) => { if (live) setState({ data: undefined, error, loading: false }) },
    )
    return () => { live = false }
  }, [...deps, tick])
  const reload = useCallback(() => setTick((t) => t + 1), [])
  return { ...state, reload }
}

/** A cursor-paginated list: the API's { items, nextCursor }, pages kept as a stack of cursors. */
export function usePagedList<T>(path: string, query: Query, limit = 25) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined])
  const key = JSON.stringify(query)
  useEffect(() => setCursors([undefined]), [key, path])
  const cursor = cursors[cursors.length - 1]
  const result = useLoad(() => apiGet<Page<T>>(path, { ...query, limit, cursor }), [path, key, cursor])
  return {
    ...result,
    page: cursors.length,
    next: result.data?.nextCursor ? () => setCursors([...cursors, result.data!.nextCursor!]) : undefined,
    previous: cursors.length > 1 ? () => setCursors(cursors.slice(0, -1)) : undefined,
  }
}

export function Pager({ page, next, previous }: { page: number; next: (() => void) | undefined; previous: (() => void) | undefined }): JSX.Element | null {
  if (!next && !previous) return null
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="secondary" disabled={!previous} onClick={previous}>Previous</button>
      <span>Page {page}</span>
      <button type="button" class="secondary" disabled={!next} onClick={next}>Next</button>
    </nav>
  )
}

/** Moves focus to the page's heading when the page changes (screen readers hear the new page). */
export function PageHeading({ children, actions }: { children: ComponentChildren; actions?: ComponentChildren }): JSX.Element {
  const ref = useRef<HTMLHeadingElement>(null)
  useEffect(() => { ref.current?.focus({ preventScroll: true }) }, [])
  return (
    <div class="page-head">
      <h1 tabIndex={-1} ref={ref}>{children}</h1>
      {actions && <div class="actions">{actions}</div>}
    </div>
  )
}

export function Loading({ what }: { what: string }): JSX.Element {
  return <p class="muted" role="status">Loading {what}…</p>
}

/** A form submit handler that tracks busy and the last problem. */
export function useSubmit<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(undefined)
  const run = async (...args: A) => {
    setBusy(true)
    setError(undefined)
    try {
      await action(...args)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return { busy, error, run, setError }
}

export function formValues(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of new FormData(form)) if (typeof v === 'string') out[k] = v
  return out
}

export function lines(text: string | undefined): string[] {
  return (text ?? '').split(/[\n,]/).map((s) => s.trim()).filter(Boolean)
}

export function EventRow({ event, showUser = true }: { event: { id: string; at: string; type: string; outcome: string; actor?: string | null; userId?: string | null; clientId?: string | null; ip?: string | null }; showUser?: boolean }): JSX.Element {
  return (
    <tr>
      <td data-label="When">{formatDate(event.at)}</td>
      <td data-label="Event"><code>{event.type}</code></td>
      <td data-label="Outcome"><span class={`badge ${event.outcome === 'success' ? 'ok' : 'bad'}`}>{event.outcome}</span></td>
      <td data-label="Actor">{event.actor ?? '—'}</td>
      {showUser && <td data-label="User">{event.userId ?? '—'}</td>}
      <td data-label="Client">{event.clientId ?? '—'}</td>
      <td data-label="IP">{event.ip ?? '—'}</td>
    </tr>
  )
}
