// The handle every query function takes. Only src/queries/ reaches PostgreSQL: areas and domain
// modules hold a `Db` (or a `Tx` inside a transaction) and pass it to named functions here; they
// never call the Prisma client or run SQL themselves. See docs/adr (data path).
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

/** The database: the Prisma client (CRUD) with its typed hand-written SQL attached. */
export type Db = PrismaClient
/** The same inside a transaction. */
export type Tx = Prisma.TransactionClient
/** Either: a query function that may run inside a caller's transaction takes this. */
export type DbOrTx = Db | Tx
