// PostgreSQL connections that keep each statement they run prepared (a per-connection statement
// cache, as Prisma's Rust engine kept one): the text of a parameterised statement is parsed,
// analysed and planned once per connection instead of on every call. Prisma 6's driver adapter
// (@prisma/adapter-pg) sends every statement unnamed, so PostgreSQL plans it anew each time: the
// claims read a sign-in runs three times spent ~0.3 ms planning for ~0.08 ms executing
// (pg_stat_statements, docs/performance.md).
//
// node-postgres prepares a query once per connection when the query has a `name`; this names
// statements by their text, process-wide (one text, one name). A prepared statement costs its
// connection's backend memory: 13 KB for a simple one, ~130 KB for the account read with its
// cached generic plan (pg_backend_memory_contexts). So a text is named from its second use on (a
// one-off statement never takes a slot), and at most MAX_PREPARED_STATEMENTS texts are (as many
// as Prisma's Rust engine cached per connection); past that, statements run unnamed, as before.
// The statements that run all the time are among the first to repeat, so they get the slots.
//
// Behind a connection pooler in transaction mode (PgBouncer before 1.21), prepared statements
// break; DATABASE_PREPARED_STATEMENTS=false turns this off.
import pg from 'pg'

export const MAX_PREPARED_STATEMENTS = 100
/** Texts seen once, not yet named; forgotten all at once when this many pile up. */
const MAX_SEEN_ONCE = 10_000

const names = new Map<string, string>()
const seenOnce = new Set<string>()

function nameFor(text: string): string | undefined {
  const known = names.get(text)
  if (known !== undefined || names.size >= MAX_PREPARED_STATEMENTS) return known
  if (!seenOnce.has(text)) {
    if (seenOnce.size >= MAX_SEEN_ONCE) seenOnce.clear()
    seenOnce.add(text)
    return undefined
  }
  seenOnce.delete(text)
  const name = `iam_${names.size.toString(36)}`
  names.set(text, name)
  return name
}

/** A pg.Client that names the object-form queries it is given (the form @prisma/adapter-pg uses). */
export class PreparingClient extends pg.Client {
  // pg.Client.query has many overloads; this one passes every form through unchanged except
  // an unnamed { text } query, which gets its name.
  override query(config: unknown, ...rest: unknown[]): never {
    if (config !== null && typeof config === 'object' && !('submit' in config)) {
      const q = config as { text?: unknown; name?: unknown }
      if (typeof q.text === 'string' && q.name === undefined) {
        const name = nameFor(q.text)
        if (name !== undefined) config = { ...q, name }
      }
    }
    return (super.query as (...args: unknown[]) => never)(config, ...rest)
  }
}
