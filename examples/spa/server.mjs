// Serves the single-page app example: static files, with no build step. The app itself
// (public/app.js) runs in the browser and talks to the identity provider with oauth4webapi.
//
// Register it once (stop an embedded-mode server first): a public client, PKCE, no secret.
//   npm run iam -- client create --kind spa --name "Example SPA" \
//     --redirect-uri http://localhost:5173/callback --post-logout-redirect-uri http://localhost:5173/
// It calls the resource server example (examples/resource-server/server.mjs), started with
// CORS_ORIGINS=http://localhost:5173 so the browser may call it.
//
// Run:
//   ISSUER=http://localhost:3000 CLIENT_ID=… API_IDENTIFIER=https://api.example.com \
//     API_URL=http://localhost:4000/api/hello PORT=5173 node examples/spa/server.mjs
//   then open http://localhost:5173/
//
// Settings (environment): ISSUER, CLIENT_ID, API_IDENTIFIER (resource indicator), API_URL,
// API_SCOPE (read), PORT (5173), HOST (127.0.0.1). They reach the browser as /config.json.
import http from 'node:http'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const ISSUER = required('ISSUER')
const PORT = Number(process.env.PORT ?? 5173)
const HOST = process.env.HOST ?? '127.0.0.1'
const API_URL = required('API_URL')
const config = {
  issuer: ISSUER,
  clientId: required('CLIENT_ID'),
  apiIdentifier: required('API_IDENTIFIER'),
  apiUrl: API_URL,
  apiScope: process.env.API_SCOPE ?? 'read',
}

const here = path.dirname(fileURLToPath(import.meta.url))
// oauth4webapi is one dependency-free ES module: the browser loads it as it is.
const FILES = {
  '/app.js': path.join(here, 'public/app.js'),
  '/vendor/oauth4webapi.js': fileURLToPath(import.meta.resolve('oauth4webapi')),
}
const INDEX = path.join(here, 'public/index.html')

// The page may talk only to itself, the identity provider and the API; no inline script.
const CSP = `default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ${new URL(ISSUER).origin} ${new URL(API_URL).origin}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`

const server = http.createServer(async (req, res) => {
  const pathname = new URL(req.url ?? '/', 'http://x').pathname
  const headers = { 'content-security-policy': CSP, 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' }
  try {
    if (req.method !== 'GET') {
      res.writeHead(405, headers)
      return res.end()
    }
    if (pathname === '/config.json') {
      res.writeHead(200, { ...headers, 'content-type': 'application/json' })
      return res.end(JSON.stringify(config))
    }
    if (pathname === '/favicon.ico') {
      res.writeHead(204, headers)
      return res.end()
    }
    const file = FILES[/** @type {keyof typeof FILES} */ (pathname)]
    if (file) {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' })
      return res.end(await readFile(file))
    }
    // Every other path (/, /callback) is the app's one page.
    res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' })
    res.end(await readFile(INDEX))
  } catch (err) {
    console.error(err)
    res.writeHead(500, headers)
    res.end()
  }
})

/** @param {string} name */
function required(name) {
  const value = process.env[name]
  if (!value) throw new Error(`set ${name} (see the comment at the top of this file)`)
  return value
}

server.listen(PORT, HOST, () => console.log(`example SPA listening on http://${HOST}:${PORT} (open http://localhost:${PORT}/)`))
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)))
