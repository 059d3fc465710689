// The route table: the router and the OpenAPI document are both made from this one list.
import type { AdminRoute } from '../route.ts'
import { meRoutes } from './me.ts'
import { userRoutes } from './users.ts'
import { roleRoutes } from './roles.ts'
import { tenantRoutes } from './tenants.ts'
import { clientRoutes } from './clients.ts'
import { auditRoutes } from './audit.ts'
import { registrationTokenRoutes } from './registration-tokens.ts'

export const ADMIN_ROUTES: AdminRoute[] = [...meRoutes, ...userRoutes, ...roleRoutes, ...tenantRoutes, ...clientRoutes, ...registrationTokenRoutes, ...auditRoutes]
