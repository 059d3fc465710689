// `iam migrate`: applies the database migrations (the image's and the Helm chart's migration step).
import { defineCommand, type CommandGroup } from './command.ts'

export const migrateCommands: CommandGroup = {
  name: 'migrate',
  commands: [defineCommand({
    name: 'migrate',
    summary: 'apply database migrations',
    options: {},
    async run({ config }) {
      const { migrateDatabase } = await import('../store/database.ts')
      await migrateDatabase(config)
      console.log('migrations applied')
      return 0
    },
  })],
}
