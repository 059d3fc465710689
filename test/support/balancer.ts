// A reverse proxy on loopback standing for the load balancer in front of server instances: the
// issuer URL points at it, and the test picks the backend port each request goes to. Every request
// opens a new backend connection (no keep-alive), so with node:cluster workers behind one port each
// request is a new connection for the primary to hand to a worker.
import http from 'node:http'
import { freePort } from './processes.ts'

export interface Balancer {
  /** http://127.0.0.1:PORT: use it as ISSUER */
  url: string
  /** Send the following requests to this backend port. */
  route(port: number): void
  close(): Promise<void>
}

export async function startBalancer(initialPort = 0): Promise<Balancer> {
  const port = await freePort()
  let target = initialPort
  const server = http.createServer((req, res) => {
    const upstream = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers, agent: false }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end() })
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${port}`,
    route(to) { target = to },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}
