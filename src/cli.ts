// The commands other than `serve` (src/main.ts). Each group of commands is a module under src/cli/
// that declares its commands once (name, what it does, parseArgs options with their help, run);
// this file is only the table and the dispatcher: the overview, `--help`, and the answer to a bad
// invocation (one line and the command's usage on stderr, exit code 2) all come from the table.
import type { Config } from './config.ts'
import { CommandError, commandUsage, HELP_FLAGS, parseCommandArgs, synopsis, UsageError, type Command, type CommandGroup } from './cli/command.ts'
import { migrateCommands } from './cli/migrate.ts'
import { seedCommands } from './cli/seed.ts'
import { userCommands } from './cli/user.ts'
import { clientCommands } from './cli/client.ts'
import { resourceCommands } from './cli/resource.ts'
import { keysCommands } from './cli/keys.ts'
import { registrationTokenCommands } from './cli/registration-token.ts'

/** Every command, in the order the overview lists them. */
export const COMMANDS: CommandGroup[] = [migrateCommands, seedCommands, userCommands, clientCommands, registrationTokenCommands, resourceCommands, keysCommands]

const COLUMN = 29

function overviewEntry(name: string, summary: string): string[] {
  const text = summary.split('\n')
  return name.length + 2 < COLUMN
    ? [`  ${name.padEnd(COLUMN - 2)}${text[0]}`, ...text.slice(1).map((t) => ' '.repeat(COLUMN) + t)]
    : [`  ${name}`, ...text.map((t) => ' '.repeat(COLUMN) + t)]
}

function groupUsage(group: CommandGroup): string {
  return [
    `usage: iam ${group.name} <${group.commands.map((c) => c.name.split(' ')[1]).join('|')}> [options]`,
    ...(group.summary ? ['', group.summary] : []),
    '',
    ...group.commands.flatMap((c) => overviewEntry(synopsis(c, { brief: true }), c.summary)),
    '',
    `iam ${group.name} <command> --help: that command's options`,
    '',
  ].join('\n')
}

export const USAGE = [
  'usage: iam <command> [options]          iam <command> --help: its usage and options',
  '',
  ...overviewEntry('serve', 'start the server (settings: docs/configuration.md)'),
  ...COMMANDS.flatMap((group) => [
    ...(group.summary ? overviewEntry(`${group.name} …`, group.summary) : []),
    ...group.commands.flatMap((c) => overviewEntry(`${group.summary ? '  ' : ''}${synopsis(c, { brief: true })}`, c.summary)),
  ]),
  '',
].join('\n')

/** The group and command `argv` names, and the arguments after the command's name. */
function find(argv: string[]): { group?: CommandGroup; command?: Command; args: string[] } {
  const group = COMMANDS.find((g) => g.name === argv[0])
  if (!group) return { args: argv }
  const single = group.commands.length === 1 && group.commands[0]!.name === group.name
  if (single) return { group, command: group.commands[0], args: argv.slice(1) }
  const command = group.commands.find((c) => c.name === `${group.name} ${argv[1]}`)
  return { group, ...(command ? { command } : {}), args: argv.slice(command ? 2 : 1) }
}

/** Runs one command; resolves to the process exit code (2: bad usage). Failures are printed here. */
export async function runCommand(argv: string[], config: Config): Promise<number> {
  const [first] = argv
  if (first === undefined) {
    console.error(USAGE)
    return 2
  }
  if (HELP_FLAGS.includes(first) || first === 'help') {
    // `iam help client create` is `iam client create --help`.
    const asked = first === 'help' && argv.length > 1 ? find(argv.slice(1)) : undefined
    if (asked && !asked.group) {
      console.error(`iam: unknown command '${argv[1]}'\n\n${USAGE}`)
      return 2
    }
    console.log(asked?.command ? commandUsage(asked.command) : asked?.group ? groupUsage(asked.group) : USAGE)
    return 0
  }
  const { group, command, args } = find(argv)
  if (!group) {
    console.error(`iam: unknown command '${first}'\n\n${USAGE}`)
    return 2
  }
  if (!command) {
    const [sub] = args
    if (sub !== undefined && HELP_FLAGS.includes(sub)) {
      console.log(groupUsage(group))
      return 0
    }
    console.error(`iam: ${sub === undefined ? `${group.name}: which command?` : `unknown command '${group.name} ${sub}'`}\n\n${groupUsage(group)}`)
    return 2
  }
  try {
    const parsed = parseCommandArgs(command, args)
    if (parsed.help) {
      console.log(commandUsage(command))
      return 0
    }
    return await command.run({ values: parsed.values, positionals: parsed.positionals, config })
  } catch (err) {
    if (err instanceof UsageError) {
      console.error([`iam ${command.name}: ${err.message}`, ...err.lines.map((l) => `  ${l}`), '', commandUsage(command, { details: false })].join('\n'))
      return 2
    }
    // A key file that cannot be used (oidc/keys.ts), the embedded database held by the server
    // (store/database.ts): said in one line. Named, not imported: those modules load only to run.
    if (err instanceof CommandError || (err instanceof Error && ['KeyError', 'DatabaseBusyError'].includes(err.name))) {
      console.error(`iam ${command.name}: ${err.message}`)
      return 1
    }
    throw err
  }
}
