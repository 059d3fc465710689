// `iam seed`: the first admin user and the example clients (src/seed.ts).
import path from 'node:path'
import { defineCommand, withDatabase, type CommandGroup } from './command.ts'

export const seedCommands: CommandGroup = {
  name: 'seed',
  commands: [defineCommand({
    name: 'seed',
    summary: `first admin user and example clients; their one-time password and
secrets are printed on a terminal, else written to F (mode 0600;
default DATA_DIR/initial-credentials.txt) and only its path printed`,
    options: {
      'admin-email': { type: 'string', value: 'E', help: 'the first administrator\'s address (default admin@example.com)' },
      'credentials-file': { type: 'string', value: 'F', help: 'where secrets go when the output is not a terminal' },
    },
    async run({ values, config }) {
      const [{ seed }, { appendPrivateFile }] = await Promise.all([import('../seed.ts'), import('../security/key-files.ts')])
      const report = await withDatabase(config, (prisma) => seed(prisma, { issuer: config.issuer, adminEmail: values['admin-email'] }))
      // Secrets go to a terminal only: output that is not one (a service manager, `… > log`, CI)
      // is kept and read by others, so they go to an owner-only file instead, and the output says where.
      const secrets = report.filter((line) => line.secret).map((line) => line.text)
      if (process.stdout.isTTY || !secrets.length) {
        console.log(report.map((line) => line.text).join('\n'))
        return 0
      }
      const file = path.resolve(values['credentials-file'] ?? path.join(config.dataDir, 'initial-credentials.txt'))
      appendPrivateFile(file, `# ${new Date().toISOString()} iam seed\n${secrets.join('\n')}\n`)
      console.log([
        ...report.filter((line) => !line.secret).map((line) => line.text),
        `the admin's one-time password and the client secrets are in ${file} (mode 0600; not printed: this output is not a terminal); delete the file once you have used them`,
      ].join('\n'))
      return 0
    },
  })],
}
