// An HTTP (or HTTPS) listener on loopback that records every request and every TCP connection it gets: the
// target of the server-side request forgery tests. It listens on 127.0.0.1 and, on the same port,
// on ::1, so both address families reach it; nothing here ever connects anywhere.
//
// Its routes: /jwks answers the JWKS it is given, /sector a sector_identifier_uri document,
// /redirect?to=URL a 302 to URL; anything else 200 with an empty body.
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'

export interface CanaryRequest {
  method: string
  url: string
  host: string
  at: number
}

export interface Canary {
  port: number
  /** Every HTTP request received, oldest first. */
  requests: CanaryRequest[]
  /** TCP connections accepted (a connection can be dropped before it carries a request). */
  connections: number
  /** Whether it also listens on ::1 (false on a machine without IPv6 loopback). */
  ipv6: boolean
  /** The JWKS /jwks answers. */
  jwks: { keys: unknown[] }
  /** The redirect URIs /sector lists. */
  sector: string[]
  /** Requests received since `mark` (a value of `requests.length`). */
  since(mark: number): CanaryRequest[]
  close(): Promise<void>
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host, ipv6Only: host === '::1' }, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** `tls`: serve HTTPS with this key and certificate (see self-signed.ts). */
export async function startCanary(opts: { tls?: { key: string; cert: string } } = {}): Promise<Canary> {
  const canary: Canary = {
    port: 0,
    requests: [],
    connections: 0,
    ipv6: false,
    jwks: { keys: [] },
    sector: [],
    since: (mark) => canary.requests.slice(mark),
    close: async () => {},
  }
  const handler: http.RequestListener = (req, res) => {
    canary.requests.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', at: Date.now() })
    const url = new URL(req.url ?? '/', 'http://canary')
    req.resume()
    if (url.pathname === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(canary.jwks))
    } else if (url.pathname === '/sector') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(canary.sector))
    } else if (url.pathname === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end()
    } else {
      res.writeHead(200).end()
    }
  }
  const create = () => opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler)
  const v4 = create()
  const v6 = create()
  // A TLS server's 'connection' is the TCP one, before any handshake.
  for (const server of [v4, v6]) server.on('connection', () => { canary.connections++ })
  // The same port on both families: take a free one on 127.0.0.1, try it on ::1, retry if taken there.
  for (let attempt = 0; ; attempt++) {
    await listen(v4, 0, '127.0.0.1')
    const port = (v4.address() as AddressInfo).port
    const v6Error = await listen(v6, port, '::1').then(() => undefined, (err: NodeJS.ErrnoException) => err)
    if (!v6Error || v6Error.code === 'EADDRNOTAVAIL' || v6Error.code === 'EAFNOSUPPORT') {
      // (Without IPv6 loopback on the machine: IPv4 only.)
      canary.ipv6 = !v6Error
      canary.port = port
      break
    }
    await new Promise<void>((resolve) => v4.close(() => resolve()))
    if (v6Error.code !== 'EADDRINUSE' || attempt >= 10) throw v6Error
  }
  canary.close = async () => {
    for (const server of canary.ipv6 ? [v4, v6] : [v4]) {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  return canary
}
