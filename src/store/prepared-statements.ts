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
// one-off statement never takes a slot), and a connection keeps at most MAX_PREPARED_STATEMENTS
// statements (as many as Prisma's Rust engine cached per connection), the least recently used
// going first: the statements that run all the time keep their slots, whatever ran first.
//
// Behind a connection pooler in transaction mode (PgBouncer before 1.21), prepared statements
// break; DATABASE_PREPARED_STATEMENTS=false turns this off.
import { createHash } from 'node:crypto'
import pg from 'pg'

export const MAX_PREPARED_STATEMENTS = 100
/** Texts seen once, not yet named; forgotten all at once when this many pile up. */
const MAX_SEEN_ONCE = 10_000
/** Names remembered for texts; a name is a digest of its text, so forgetting them loses nothing. */
const MAX_NAMES = 10_000

const names = new Map<string, string>()
const seenOnce = new Set<string>()

/** The statement name for a text from its second use on (the same in every connection), else undefined. */
function nameFor(text: string): string | undefined {
  const known = names.get(text)
  if (known !== undefined) return known
  if (!seenOnce.has(text)) {
    if (seenOnce.size >= MAX_SEEN_ONCE) seenOnce.clear()
    seenOnce.add(text)
    return undefined
  }
  seenOnce.delete(text)
  if (names.size >= MAX_NAMES) names.clear()
  const name = `iam_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
  names.set(text, name)
  return name
}

/** The parts of node-postgres's connection this touches: its record of parsed statements (name → text) and its messages. */
interface Connection {
  parsedStatements: Record<string, string | undefined>
  parse(message: { text: string; name?: string; types?: unknown[] }): void
  close(message: { type: 'S' | 'P'; name: string }): void
}

/** A pg.Client that names the object-form queries it is given (the form @prisma/adapter-pg uses). */
export class PreparingClient extends pg.Client {
  /** Names this connection has prepared (or is preparing), least recently used first. */
  readonly #recent = new Map<string, true>()
  /** Names evicted from #recent, closed on the server just before the next statement is parsed. */
  readonly #toClose = new Set<string>()

  constructor(...args: ConstructorParameters<typeof pg.Client>) {
    super(...args)
    // An evicted statement is freed by a Close message sent ahead of the next Parse, in the same
    // write and the same protocol exchange: no query of its own (node-postgres deprecates queueing
    // one while another runs), and PostgreSQL takes a Close even in a failed transaction, where it
    // would refuse DEALLOCATE. Closing a name the server does not hold is not an error.
    const connection = (this as unknown as { connection: Connection }).connection
    const parse = connection.parse.bind(connection)
    connection.parse = (message) => {
      for (const name of this.#toClose) {
        connection.close({ type: 'S', name })
        delete connection.parsedStatements[name]
      }
      this.#toClose.clear()
      parse(message)
    }
  }

  // pg.Client.query has many overloads; this one passes every form through unchanged except
  // an unnamed { text } query, which gets its name.
  override query(config: unknown, ...rest: unknown[]): never {
    if (config !== null && typeof config === 'object' && !('submit' in config)) {
      const q = config as { text?: unknown; name?: unknown }
      if (typeof q.text === 'string' && q.name === undefined) {
        const name = nameFor(q.text)
        if (name !== undefined) {
          this.#use(name)
          config = { ...q, name }
        }
      }
    }
    return (super.query as (...args: unknown[]) => never)(config, ...rest)
  }

  #use(name: string): void {
    if (this.#recent.delete(name)) {
      this.#recent.set(name, true)
      return
    }
    // Used again before its Close went out: it stays (and the statement with it).
    this.#toClose.delete(name)
    for (const oldest of this.#recent.keys()) {
      if (this.#recent.size < MAX_PREPARED_STATEMENTS) break
      this.#recent.delete(oldest)
      this.#toClose.add(oldest)
    }
    this.#recent.set(name, true)
  }
}
