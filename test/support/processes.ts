// Shared process plumbing for the test servers: free ports, and children that die with us.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { createServer } from 'node:net'
import { rmSync } from 'node:fs'

/** Redis Cluster uses port+10000 for its bus, so ports stay at or below this. */
export const MAX_PORT = 55535

/** Ask the OS for a free TCP port on 127.0.0.1, at most MAX_PORT. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer()
      srv.unref()
      srv.once('error', reject)
      srv.listen(0, '127.0.0.1', () => {
        const address = srv.address()
        const p = typeof address === 'object' && address ? address.port : 0
        srv.close(() => resolve(p))
      })
    })
    if (port > 0 && port <= MAX_PORT) return port
  }
  throw new Error(`could not find a free port <= ${MAX_PORT}`)
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

// setpriv --pdeathsig makes the kernel SIGKILL the child if this process dies without running
// its exit handlers (a vitest worker killed on timeout); the exit hook covers the ordinary paths.
let setprivAvailable: boolean | undefined
export function spawnWithParentDeath(binary: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  setprivAvailable ??= spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true']).status === 0
  const [cmd, argv] = setprivAvailable ? ['setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args]] as const : [binary, args] as const
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  track(child)
  return child
}

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let hooked = false
function hook(): void {
  if (hooked) return
  hooked = true
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL')
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true })
      } catch {
        // a server still writing while it dies: leave the rest to the OS temp cleaner
      }
    }
  })
}
export function track(child: ChildProcess): void {
  hook()
  children.add(child)
  child.once('exit', () => children.delete(child))
}
export function untrack(child: ChildProcess): void {
  children.delete(child)
}
/** Removed when this process exits. */
export function trackTempDir(dir: string): void {
  hook()
  tempDirs.add(dir)
}
export function untrackTempDir(dir: string): void {
  tempDirs.delete(dir)
}

/** Resolves when the child exits (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}
