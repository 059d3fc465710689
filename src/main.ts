// Command-line entry. `serve` loads only what its process needs: the node:cluster primary forks and
// supervises and stays small, the app itself is loaded by the workers (src/workers.ts). Every other
// command lives in src/cli.ts, loaded on demand.
import { ConfigError, loadConfig } from './config.ts'
import { createLogger } from './observability/logger.ts'

async function main(argv: string[]): Promise<number> {
  const config = loadConfig()
  if (argv[0] === 'serve') {
    // One process, or a primary and WORKERS workers. Graceful on SIGTERM/SIGINT: unready, stop
    // accepting, drain in-flight requests (SHUTDOWN_TIMEOUT), close the stores, exit 0.
    const { serve } = await import('./workers.ts')
    await serve(config, createLogger(config.logLevel))
    return -1 // keep running
  }
  const { runCommand } = await import('./cli.ts')
  return runCommand(argv, config)
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exit(code) },
  (err: unknown) => {
    console.error(err instanceof ConfigError ? `iam: ${err.message}` : 'iam:', ...(err instanceof ConfigError ? [] : [err]))
    process.exit(1)
  },
)
