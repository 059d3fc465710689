// Memory of a server under test as a leak check needs it: what is still reachable after a full
// garbage collection. RSS alone is mostly GC timing — V8 lets garbage grow to several times the
// live heap before it collects, so two readings of a healthy server can differ by hundreds of MB.
//
// The server is started with NODE_OPTIONS=--inspect=127.0.0.1:0 (loopback, a free port), and the
// test asks it over the DevTools protocol to collect garbage, then reads process.memoryUsage().
// Nothing in the server changes for this.
import { writeFileSync } from 'node:fs'

/** NODE_OPTIONS for a server whose memory a test reads, keeping what the caller's NODE_OPTIONS already say. */
export function inspectableNodeOptions(base = process.env.NODE_OPTIONS ?? ''): string {
  return `${base} --inspect=127.0.0.1:0`.trim()
}

/** The DevTools WebSocket URL the server printed ("Debugger listening on ws://…"). */
export function inspectorUrl(logs: string): string {
  const url = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(logs)?.[1]
  if (!url) throw new Error('the server did not print its inspector URL: was it started with inspectableNodeOptions()?')
  return url
}

export interface MemoryAfterGc {
  /** V8 heap still in use after a full collection, KB */
  heapUsedKb: number
  /** memory outside V8's heap held by JS objects (Buffers, WASM memory), KB */
  externalKb: number
  /** the process's resident set after the collection, KB */
  rssKb: number
}

/** One DevTools session: `call` sends a method and awaits its result; `on` hears events. */
async function openSession(url: string) {
  const ws = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true })
    ws.addEventListener('error', () => reject(new Error(`could not connect to the inspector at ${url}`)), { once: true })
  })
  let next = 0
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const listeners = new Map<string, (params: unknown) => void>()
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message: string } }
    if (message.method) listeners.get(message.method)?.(message.params)
    const waiter = message.id === undefined ? undefined : pending.get(message.id)
    if (!waiter) return
    pending.delete(message.id!)
    if (message.error) waiter.reject(new Error(message.error.message))
    else waiter.resolve(message.result)
  })
  return {
    call: (method: string, params: object = {}) => new Promise<unknown>((resolve, reject) => {
      const id = ++next
      pending.set(id, { resolve, reject })
      ws.send(JSON.stringify({ id, method, params }))
    }),
    on: (method: string, listener: (params: unknown) => void) => { listeners.set(method, listener) },
    close: () => ws.close(),
  }
}

/** Runs a full garbage collection in the server and reads its memory. */
export async function memoryAfterGc(url: string): Promise<MemoryAfterGc> {
  const session = await openSession(url)
  try {
    // Twice: the first pass runs finalizers and weak callbacks whose memory the second frees.
    await session.call('HeapProfiler.collectGarbage')
    await session.call('HeapProfiler.collectGarbage')
    const result = await session.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true }) as { result: { value: string } }
    const usage = JSON.parse(result.result.value) as NodeJS.MemoryUsage
    return { heapUsedKb: Math.round(usage.heapUsed / 1024), externalKb: Math.round(usage.external / 1024), rssKb: Math.round(usage.rss / 1024) }
  } finally {
    session.close()
  }
}

/** The server's heap as a .heapsnapshot file (for Chrome DevTools' Memory tab): to see what grew between two. */
export async function writeHeapSnapshot(url: string, file: string): Promise<void> {
  const session = await openSession(url)
  const chunks: string[] = []
  session.on('HeapProfiler.addHeapSnapshotChunk', (params) => { chunks.push((params as { chunk: string }).chunk) })
  try {
    await session.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false })
    writeFileSync(file, chunks.join(''))
  } finally {
    session.close()
  }
}
