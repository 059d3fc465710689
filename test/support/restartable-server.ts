// An HTTP server that a test can take down and bring back on the same port (an upstream "outage"):
// stopping also cuts open keep-alive connections, as a crashed peer would.
import http from 'node:http'
import type { Socket } from 'node:net'

export function restartableServer(handler: http.RequestListener, port: number) {
  const server = http.createServer(handler)
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  return {
    server,
    listen: () => new Promise<void>((resolve, reject) => {
      if (server.listening) return resolve()
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    }),
    /** Cuts every open connection (requests the server is holding on to included). */
    dropConnections: () => { for (const s of sockets) s.destroy() },
    stop: () => new Promise<void>((resolve) => {
      if (!server.listening) return resolve()
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    }),
  }
}
