// `iam resource create`: registers an API (a resource indicator) that gets access tokens.
import { defineCommand, oneOf, UsageError, withDatabase, type CommandGroup } from './command.ts'

export const resourceCommands: CommandGroup = {
  name: 'resource',
  commands: [defineCommand({
    name: 'resource create',
    summary: 'register an API (resource indicator) that gets access tokens',
    options: {
      identifier: { type: 'string', value: 'URI', required: true, help: 'the resource indicator (an absolute URI)' },
      name: { type: 'string', value: 'N', help: 'shown to people (default: the identifier)' },
      scope: { type: 'string', value: 'S', multiple: true, help: 'a scope the API accepts' },
      format: { type: 'string', value: 'jwt|opaque', help: 'its access tokens\' format (default jwt)' },
    },
    async run({ values, config }) {
      const identifier = values.identifier!
      if (!URL.canParse(identifier)) throw new UsageError(`--identifier must be an absolute URI (got '${identifier}')`)
      const format = oneOf('format', values.format, ['jwt', 'opaque'] as const)
      const { registerResourceServer } = await import('../oidc/resource-servers.ts')
      await withDatabase(config, (prisma) => registerResourceServer(prisma, {
        identifier, name: values.name ?? identifier, scopes: values.scope ?? [], format,
      }))
      console.log(`resource ${identifier} registered`)
      return 0
    },
  })],
}
