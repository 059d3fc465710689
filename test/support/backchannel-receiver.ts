// A relying party's back-channel logout endpoint (OIDC Back-Channel Logout 1.0): records the
// logout tokens POSTed to it, as they arrived (verify them where it matters).
import http from 'node:http'
import { freePort } from './processes.ts'

export interface BackchannelReceiver {
  /** The backchannel_logout_uri to register. */
  uri: string
  /** Every logout_token received, oldest first. */
  tokens: string[]
  close(): void
}

export async function startBackchannelReceiver(): Promise<BackchannelReceiver> {
  const port = await freePort()
  const tokens: string[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => { body += d })
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token')
      if (token) tokens.push(token)
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { uri: `http://127.0.0.1:${port}/backchannel`, tokens, close: () => server.close() }
}
