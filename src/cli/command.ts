// The shape of a command-line command, declared once: its name, what it does, its options (the
// parseArgs declaration plus a line of help each) and what it runs. The dispatcher (src/cli.ts)
// derives the overview, `--help`, and the answer to a bad invocation (one line + usage, exit 2)
// from the same declaration, so a usage text cannot drift from what is parsed. Command modules
// import what they run inside `run`, so that --help and a bad invocation load nothing else.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'
import type { Config } from '../config.ts'
import type { Db } from '../queries/db.ts'

export interface OptionSpec {
  type: 'string' | 'boolean'
  multiple?: boolean
  /** What the value is, in the usage (`--name NAME`); a string option's placeholder. */
  value?: string
  required?: boolean
  help: string
}
export type Options = Record<string, OptionSpec>

/** The parsed values, typed from the declaration. */
export type Values<O extends Options> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string
}

export interface Positionals {
  /** As shown in the usage: `<email>`, `<kid>...`. */
  usage: string
  min: number
  max: number
}

export interface RunInput<O extends Options> {
  values: Values<O>
  positionals: string[]
  config: Config
}

export interface Command<O extends Options = Options> {
  /** One or two words: `migrate`, `client create`. */
  name: string
  /** What it does, for the overview and --help (may span lines). */
  summary: string
  options: O
  positionals?: Positionals
  /** Further text for --help only (examples, where the docs are). */
  details?: string
  /** Resolves to the exit code. A UsageError is answered with the usage and exit code 2. */
  run(input: RunInput<O>): Promise<number>
}

/** Keeps the option types of one command while the table holds commands of every shape. */
export function defineCommand<O extends Options>(command: Command<O>): Command {
  return command as unknown as Command
}

/** A group of commands under one first word (`client create`, `client list`, …). */
export interface CommandGroup {
  name: string
  /** Said above the group's commands in `iam <group> --help`. */
  summary?: string
  commands: Command[]
}

/** Bad usage: answered with the message, the command's usage, and exit code 2. */
export class UsageError extends Error {
  /** More lines to print under the message (e.g. one per invalid setting). */
  readonly lines: string[]
  constructor(message: string, lines: string[] = []) {
    super(message)
    this.lines = lines
  }
}

/** A failure that is not bad usage (a missing row, a refused change): one line, exit code 1. */
export class CommandError extends Error {}

export const HELP_FLAGS = ['-h', '--help']

const optionWords = (name: string, spec: OptionSpec) => `--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`

/** The one-line synopsis: every option when they are few, else the required ones and `[options]`. */
export function synopsis(command: Command, { brief = false } = {}): string {
  const entries = Object.entries(command.options)
  const shown = brief && entries.length > 6 ? entries.filter(([, s]) => s.required) : entries
  const words = shown.map(([name, spec]) => {
    const w = optionWords(name, spec)
    return (spec.required ? w : `[${w}]`) + (spec.multiple ? '...' : '')
  })
  if (shown.length < entries.length) words.push('[options]')
  return [command.name, ...(command.positionals ? [command.positionals.usage] : []), ...words].join(' ')
}

/** `iam <command> --help`: synopsis, what it does, every option with its help. */
export function commandUsage(command: Command, { details = true } = {}): string {
  const rows = Object.entries(command.options).map(([name, spec]) => {
    const flags = optionWords(name, spec)
    const notes = [spec.required ? '(required)' : '', spec.multiple ? '(repeatable)' : ''].filter(Boolean).join(' ')
    return [flags, `${spec.help}${notes ? ` ${notes}` : ''}`] as const
  })
  rows.push(['-h, --help', 'print this help'])
  const width = Math.min(34, Math.max(...rows.map(([f]) => f.length)) + 2)
  const lines = rows.flatMap(([flags, help]) => {
    const text = help.split('\n')
    return flags.length + 2 > width
      ? [`  ${flags}`, ...text.map((t) => `  ${' '.repeat(width)}${t}`)]
      : [`  ${flags.padEnd(width)}${text[0]}`, ...text.slice(1).map((t) => `  ${' '.repeat(width)}${t}`)]
  })
  return [
    `usage: iam ${synopsis(command, { brief: true })}`,
    '',
    command.summary,
    ...(command.details && details ? ['', command.details] : []),
    '',
    'options:',
    ...lines,
    '',
  ].join('\n')
}

/**
 * Parses the arguments after the command's name with the declaration. `--help`/`-h` anywhere before
 * `--` asks for help. Positionals may start with '-' (key ids are base64url thumbprints, and so
 * may an email address): every argument that is not a declared `--option` (or its value) and not
 * a `--word` is a positional; a positional that starts with `--` goes after `--`.
 */
export function parseCommandArgs(command: Command, args: string[]): { help: true } | { help: false; values: Values<Options>; positionals: string[] } {
  const known: string[] = []
  const positionals: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') { positionals.push(...args.slice(i + 1)); break }
    if (HELP_FLAGS.includes(arg)) return { help: true }
    if (!arg.startsWith('--')) {
      if (!command.positionals && arg.startsWith('-') && arg.length > 1) throw new UsageError(`unknown option ${arg}`)
      positionals.push(arg)
      continue
    }
    const name = arg.slice(2).split('=')[0]!
    const spec = command.options[name]
    if (!spec) {
      throw new UsageError(`unknown option --${name}${command.positionals ? ` (an argument that starts with '--' goes after '--': iam ${command.name} -- ${arg})` : ''}`)
    }
    // The value joined to its option, so one that starts with '-' is a value; one that looks like
    // an option (`--name --kind web`) is left for parseArgs to call missing.
    known.push(spec.type === 'string' && !arg.includes('=') && i + 1 < args.length && !args[i + 1]!.startsWith('--') ? `${arg}=${args[++i]!}` : arg)
  }
  if (!command.positionals && positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`)
  const options: ParseArgsOptionsConfig = Object.fromEntries(Object.entries(command.options).map(([name, s]) => [name, { type: s.type, ...(s.multiple ? { multiple: true } : {}) }]))
  let values: Record<string, unknown>
  try {
    values = parseArgs({ args: known, options, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new UsageError(parseArgsMessage(err))
  }
  for (const [name, spec] of Object.entries(command.options)) {
    if (spec.required && values[name] === undefined) throw new UsageError(`--${name} is required`)
    const value = values[name]
    for (const v of Array.isArray(value) ? value : [value]) {
      if (spec.type === 'string' && v === '') throw new UsageError(`--${name} needs a value`)
    }
  }
  const p = command.positionals
  if (p && positionals.length < p.min) throw new UsageError(`missing ${p.usage}`)
  if (p && positionals.length > p.max) throw new UsageError(`unexpected argument '${positionals[p.max]}'`)
  return { help: false, values: values as Values<Options>, positionals }
}

/** parseArgs' messages, on one line and in the words of this CLI. */
function parseArgsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  const name = /'(--?[^' <]+)/.exec(message)?.[1] ?? ''
  if (/argument missing|ambiguous/.test(message)) return `${name} needs a value`
  if (/does not take an argument/.test(message)) return `${name} takes no value`
  if (/Unknown option/.test(message)) return `unknown option ${name}`
  return message.split('\n')[0]!
}

/** Opens the database (migrated first) for one command and closes it after. */
export async function withDatabase<T>(config: Config, run: (prisma: Db) => Promise<T>): Promise<T> {
  const { openMigratedDatabase } = await import('../queries/migrations.ts')
  const db = await openMigratedDatabase(config)
  try {
    return await run(db.prisma)
  } finally {
    await db.close()
  }
}

/** A value among `allowed`, or a usage error naming the option. */
export function oneOf<T extends string>(option: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${option} must be one of ${allowed.join(', ')} (got '${value}')`)
  return value as T
}

/** A whole number of seconds from `90`, `90s`, `15m`, `12h`, `30d`. */
export function parseDuration(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const m = /^(\d{1,9})(s|m|h|d)?$/.exec(value.trim())
  if (!m) throw new UsageError(`--${option} must be a duration such as 3600, 90s, 15m, 12h or 30d (got '${value}')`)
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd']
}
