// Who am I, and the overview numbers.
import { route } from '../route.ts'
import { meJson, statsJson } from '../schemas.ts'
import { ADMIN_PERMISSIONS } from '../permissions.ts'

export const meRoutes = [
  route({
    method: 'get', path: '/me', tag: 'me', summary: 'The caller: person or service, scope and effective permissions', permission: null,
    response: meJson,
    handler: async ({ principal: p }) => ({
      sub: p.sub, kind: p.kind,
      ...(p.kind === 'person' ? { email: p.email, displayName: p.displayName ?? null } : {}),
      scope: p.scope.kind, tenant: p.tenant,
      permissions: ADMIN_PERMISSIONS.filter((x) => p.permissions.has(x)),
    }),
  }),
  route({
    method: 'get', path: '/stats', tag: 'me', summary: 'Counts and recent sign-ins and failures, within the caller’s scope', permission: null,
    response: statsJson,
    // The recent events are audit data: only with audit:read (empty lists otherwise).
    handler: ({ data, principal }) => data.audit.stats({ withEvents: principal.permissions.has('audit:read') }),
  }),
]
