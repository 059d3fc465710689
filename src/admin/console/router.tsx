// A small history-API router: paths under /admin, links that navigate without a reload.
import type { ComponentChildren, JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { basePath } from './auth.ts'

const listeners = new Set<() => void>()

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const target = to.startsWith(basePath) ? to : `${basePath}${to}`
  if (opts.replace) history.replaceState(null, '', target)
  else history.pushState(null, '', target)
  for (const l of listeners) l()
}

addEventListener('popstate', () => { for (const l of listeners) l() })

export interface Location { path: string; query: URLSearchParams }

/** The console path without /admin ('/' for the overview), re-rendering on navigation. */
export function useLocation(): Location {
  const read = (): Location => ({ path: location.pathname.slice(basePath.length).replace(/\/$/, '') || '/', query: new URLSearchParams(location.search) })
  const [loc, setLoc] = useState(read)
  useEffect(() => {
    const update = () => setLoc(read())
    listeners.add(update)
    return () => { listeners.delete(update) }
  }, [])
  return loc
}

export function Link({ to, children, class: className, 'aria-current': current }: { to: string; children: ComponentChildren; class?: string; 'aria-current'?: 'page' | undefined }): JSX.Element {
  const href = `${basePath}${to}`
  return (
    <a
      class={className}
      aria-current={current}
      href={href}
      onClick={(e: MouseEvent) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
        e.preventDefault()
        navigate(to)
      }}
    >{children}</a>
  )
}
