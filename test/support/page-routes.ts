// The routes of our page routers (createPageRouters in src/app.ts), read from the routers
// themselves so tests that must cover every route (CSRF, fuzzing) cover new ones unasked.
import type Router from '@koa/router'
import { createPageRouters, type AppDeps } from '../../src/app.ts'

/**
 * Builds the routers with inert dependencies: construction only registers routes and closures,
 * so anything they touch at build time answers with another inert value.
 */
function inert(): unknown {
  const target = function () {} as unknown as Record<PropertyKey, unknown>
  const proxy: unknown = new Proxy(target, {
    get: (_t, key) => {
      if (key === Symbol.toPrimitive) return () => 'http://inert.test'
      if (key === Symbol.iterator) return function* () {}
      if (key === 'then') return undefined
      return proxy
    },
    apply: () => proxy,
    construct: () => proxy as object,
  })
  return proxy
}

/** Every method and path pattern of the page routers (e.g. POST /interaction/:uid/login). */
export function pageRoutes(): Array<{ method: string; path: string }> {
  // Spread and destructured by the routers, so each dependency is named; a new one missing here
  // fails loudly rather than hiding routes.
  const names = ['config', 'logger', 'provider', 'cookieKeys', 'mfa', 'federation', 'accountRelyingParty', 'ready', 'prisma', 'audit', 'csrf', 'clock', 'limits', 'lockout', 'sessions', 'mailer']
  const deps = Object.fromEntries(names.map((name) => [name, inert()])) as unknown as AppDeps
  const routers: Router[] = Object.values(createPageRouters(deps))
  const out = new Map<string, { method: string; path: string }>()
  for (const router of routers) {
    for (const layer of router.stack) {
      for (const method of layer.methods) out.set(`${method} ${String(layer.path)}`, { method, path: String(layer.path) })
    }
  }
  return [...out.values()]
}
