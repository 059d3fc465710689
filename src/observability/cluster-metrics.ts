// /metrics of a node:cluster (WORKERS > 1): the numbers of every serving worker, summed. Each
// worker counts in its own registry; a scrape reaches one worker (the cluster's round robin), which
// asks the primary; the primary collects every listening worker's registry (as JSON, over the
// cluster's IPC channel), merges them with prom-client's AggregatorRegistry.aggregate (counters and
// histograms summed; gauges by their `aggregator`) and answers. Without it each scrape showed one
// worker's counters, which Prometheus reads as resets.
//
// A worker that dies takes its counts with it; its replacement starts from zero. So that the sum
// never goes down (which Prometheus would also read as a reset, and rate() as a spike), the primary
// keeps each worker's last sample, and when a worker exits folds its counters and histograms (not
// its gauges) into a retired total that every later sum includes. What the worker counted after
// the last scrape is lost; the sum stays monotonic.
//
// The primary loads prom-client only when the first scrape asks; it never loads the app.
import cluster, { type Worker } from 'node:cluster'
import { randomUUID } from 'node:crypto'
import type { Registry } from 'prom-client'

const ASK = 'iam:metrics:ask' // worker → primary: the cluster's metrics, please
const ANSWER = 'iam:metrics:answer' // primary → worker: { body, contentType } or { error }
const COLLECT = 'iam:metrics:collect' // primary → worker: your registry, as JSON
const SAMPLE = 'iam:metrics:sample' // worker → primary: { metrics }

/** How long a scrape waits for the primary, and the primary for each worker (one left out is named in the error). */
const ANSWER_TIMEOUT_MS = 5_000
const SAMPLE_TIMEOUT_MS = 2_000

interface Message { type?: unknown; id?: unknown; [key: string]: unknown }
/** One metric of a registry's getMetricsAsJSON(), as far as this file reads it. */
interface MetricJson { type?: unknown; [key: string]: unknown }
const isMessage = (m: unknown): m is Message => typeof m === 'object' && m !== null

/** A scrape the cluster could not answer (renderMetrics answers 503: Prometheus marks it failed rather than reading a part as the whole). */
export class ClusterMetricsUnavailable extends Error {}

/**
 * In a worker: answers the primary's collections from `registry`, and returns the render() that
 * asks the primary for the whole cluster's metrics.
 */
export function workerMetrics(registry: Registry): () => Promise<{ contentType: string; body: string }> {
  const waiting = new Map<string, (m: Message) => void>()
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return
    if (m.type === COLLECT) {
      registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: SAMPLE, id: m.id, metrics }),
        (err: unknown) => process.send?.({ type: SAMPLE, id: m.id, error: String(err) }),
      )
    } else if (m.type === ANSWER && typeof m.id === 'string') {
      waiting.get(m.id)?.(m)
    }
  })
  return () => new Promise((resolve, reject) => {
    const id = randomUUID()
    const timer = setTimeout(() => {
      waiting.delete(id)
      reject(new ClusterMetricsUnavailable('the cluster primary did not answer the metrics request'))
    }, ANSWER_TIMEOUT_MS)
    waiting.set(id, (m) => {
      clearTimeout(timer)
      waiting.delete(id)
      if (typeof m.body === 'string' && typeof m.contentType === 'string') resolve({ contentType: m.contentType, body: m.body })
      else reject(new ClusterMetricsUnavailable(`cluster metrics: ${String(m.error ?? 'no answer')}`))
    })
    // (send's false only means the message waits in a backlog: the timer covers a channel that never delivers.)
    if (process.send && process.connected) process.send({ type: ASK, id })
    else {
      clearTimeout(timer)
      waiting.delete(id)
      reject(new ClusterMetricsUnavailable('no cluster primary to ask for metrics'))
    }
  })
}

/** In the primary: answers workers' scrapes with the sum over `serving()` (the workers that listen). */
export function aggregateWorkerMetrics(serving: () => Worker[]): void {
  const samples = new Map<string, (m: Message) => void>()
  /** Each serving worker's last sample (what the last scrape counted of it). */
  const lastSample = new Map<Worker, MetricJson[]>()
  /** The counters and histograms of workers that exited, summed; settles before each answer. */
  let retired: Promise<MetricJson[]> = Promise.resolve([])

  cluster.on('exit', (worker: Worker) => {
    const last = lastSample.get(worker)
    lastSample.delete(worker)
    if (!last) return
    const kept = last.filter((metric) => metric.type === 'counter' || metric.type === 'histogram')
    retired = retired.then(async (sum) => {
      try {
        const { AggregatorRegistry } = await import('prom-client')
        return await AggregatorRegistry.aggregate([sum, kept] as Parameters<typeof AggregatorRegistry.aggregate>[0]).getMetricsAsJSON() as unknown as MetricJson[]
      } catch {
        return sum // (cannot happen with samples prom-client made; if it did, keep what was retired)
      }
    })
  })

  const sampleOf = (worker: Worker): Promise<MetricJson[]> => new Promise((resolve, reject) => {
    const id = randomUUID()
    const timer = setTimeout(() => {
      samples.delete(id)
      reject(new Error(`worker ${worker.process.pid} did not send its metrics within ${SAMPLE_TIMEOUT_MS} ms`))
    }, SAMPLE_TIMEOUT_MS)
    samples.set(id, (m) => {
      clearTimeout(timer)
      samples.delete(id)
      if (Array.isArray(m.metrics)) resolve(m.metrics as MetricJson[])
      else reject(new Error(`worker ${worker.process.pid}: ${String(m.error ?? 'no metrics')}`))
    })
    worker.send({ type: COLLECT, id })
  })

  const answer = async (asker: Worker, id: string) => {
    try {
      const { AggregatorRegistry } = await import('prom-client')
      // A worker that cannot answer fails the scrape: a sum with a worker missing would look like a reset.
      const workers = serving()
      const all = await Promise.all(workers.map(sampleOf))
      const live: MetricJson[][] = []
      workers.forEach((worker, i) => {
        // One that exited while this scrape gathered is in the retired total (its previous sample): not twice.
        if (!worker.isConnected()) return
        lastSample.set(worker, all[i]!)
        live.push(all[i]!)
      })
      const merged = AggregatorRegistry.aggregate([await retired, ...live] as Parameters<typeof AggregatorRegistry.aggregate>[0])
      asker.send({ type: ANSWER, id, contentType: merged.contentType, body: await merged.metrics() })
    } catch (err) {
      if (asker.isConnected()) asker.send({ type: ANSWER, id, error: err instanceof Error ? err.message : String(err) })
    }
  }

  cluster.on('message', (worker: Worker, m: unknown) => {
    if (!isMessage(m) || typeof m.id !== 'string') return
    if (m.type === ASK) void answer(worker, m.id)
    else if (m.type === SAMPLE) samples.get(m.id)?.(m)
  })
}
