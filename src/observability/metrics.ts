// Prometheus metrics (prom-client), one registry per server. Labels are low-cardinality by
// construction: HTTP requests are labelled by the matched route pattern (never a raw path with
// ids in it), tokens by grant type, audit events by their type and outcome (code constants).
//
// In a node:cluster worker, /metrics answers the sum over every worker (cluster-metrics.ts).
import cluster from 'node:cluster'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { ClusterMetricsUnavailable, workerMetrics } from './cluster-metrics.ts'
import type { Logger } from './logger.ts'

/** The route label of a request no route matched (404s, probes at random paths). */
export const UNMATCHED_ROUTE = '(unmatched)'

export interface Metrics {
  registry: Registry
  /** One finished HTTP request. `route` is a pattern such as /interaction/:uid/login. */
  observeRequest(method: string, route: string, status: number, seconds: number): void
  /** A token endpoint success (the provider's grant.success), by grant type. */
  tokenIssued(grantType: string): void
  /** One audit event: sign-in, MFA, federation, lockout… outcomes. */
  auditEvent(type: string, outcome: string): void
  /** How long a store took to answer the readiness ping (seconds), and whether it answered. */
  storePing(store: 'database' | 'redis', seconds: number, up: boolean): void
  /** Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>
}

export function createMetrics(version: string): Metrics {
  const registry = new Registry()
  // process_*, nodejs_* including nodejs_eventloop_lag_seconds and its percentiles.
  collectDefaultMetrics({ register: registry })
  // Gauges say how to merge the workers' values (cluster-metrics.ts); counters and histograms add up.
  new Gauge({ name: 'iam_build_info', help: 'Always 1; the server version as a label.', labelNames: ['version'], registers: [registry], aggregator: 'first' }).set({ version }, 1)

  const http = new Histogram({
    name: 'iam_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const tokens = new Counter({ name: 'iam_tokens_issued_total', help: 'Successful token endpoint responses by grant type.', labelNames: ['grant_type'], registers: [registry] })
  const audit = new Counter({ name: 'iam_audit_events_total', help: 'Audit events (sign-in, MFA, federation, lockout…) by type and outcome.', labelNames: ['type', 'outcome'], registers: [registry] })
  const ping = new Histogram({
    name: 'iam_store_ping_duration_seconds',
    help: 'Round trip of the readiness check to each store.',
    labelNames: ['store'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
    registers: [registry],
  })
  const up = new Gauge({ name: 'iam_store_up', help: '1 when the store answered the last readiness check (of every worker).', labelNames: ['store'], registers: [registry], aggregator: 'min' })
  const renderCluster = cluster.isWorker ? workerMetrics(registry) : undefined

  return {
    registry,
    observeRequest(method, route, status, seconds) {
      http.observe({ method, route, status: String(status) }, seconds)
    },
    tokenIssued(grantType) {
      tokens.inc({ grant_type: grantType })
    },
    auditEvent(type, outcome) {
      audit.inc({ type, outcome })
    },
    storePing(store, seconds, answered) {
      if (answered) ping.observe({ store }, seconds)
      up.set({ store }, answered ? 1 : 0)
    },
    async render() {
      if (renderCluster) return renderCluster()
      return { contentType: registry.contentType, body: await registry.metrics() }
    },
  }
}

/**
 * A scrape's answer, on the main port or METRICS_PORT: the metrics, or 503 when a cluster could not
 * sum its workers' (a worker that does not answer: a part must not pass for the whole).
 */
export async function renderMetrics(metrics: Metrics, logger: Logger, reqId?: string): Promise<{ status: number; contentType: string; body: string }> {
  try {
    return { status: 200, ...(await metrics.render()) }
  } catch (err) {
    if (!(err instanceof ClusterMetricsUnavailable)) throw err
    logger.warn({ err, reqId }, 'metrics unavailable')
    return { status: 503, contentType: 'text/plain; charset=utf-8', body: `${err.message}\n` }
  }
}
