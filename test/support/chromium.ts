// Headless Chromium for the end-to-end tests (playwright-core driving the system's Chromium), and
// the small app that stands in for the SPA at its redirect_uri.
//
// The SPA's redirect_uri is http://localhost:5173/callback, where nothing listens. The browser
// reaches it only through the server's 303 redirects, and Playwright's page.route/context.route
// are not called for the targets of redirects ("The handler will only be called for the first url
// if the response is a redirect", microsoft/playwright#33882), so a route cannot answer it.
// Instead Chromium maps localhost:5173 to a callback app of ours on a free port
// (--host-resolver-rules); the browser really lands on the app and page.url() is the response.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'
import { SPA_REDIRECT } from './fixtures.ts'

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']
/** How long to wait for one navigation or element (the suite's per-test timeout is 60 s). */
const STEP = 15_000

export interface CallbackApp {
  port: number
  close(): Promise<void>
}

/** Stands in for the SPA at http://localhost:5173: any path gets a small page that says "callback". */
export async function startCallbackApp(): Promise<CallbackApp> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end('<!doctype html><html lang="en"><title>callback</title><p>callback</p></html>')
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/**
 * Headless Chromium (CHROMIUM_PATH, else /usr/bin/chromium). `hostRules` are the entries of
 * --host-resolver-rules, e.g. `MAP localhost:5173 127.0.0.1:${app.port}`.
 */
export async function launchChromium(opts: { hostRules?: string[] } = {}): Promise<Browser> {
  const args = [...CHROMIUM_ARGS]
  if (opts.hostRules?.length) args.push(`--host-resolver-rules=${opts.hostRules.join(', ')}`)
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args, timeout: 60_000 })
}

/**
 * Collects the page's console errors, uncaught errors and (with JavaScript on) CSP violations,
 * report-only ones included. Returns the list, which fills as they happen.
 */
export async function watchProblems(page: Page, opts: { javaScript?: boolean } = {}): Promise<string[]> {
  const problems: string[] = []
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    // Chromium asks every origin for /favicon.ico on its own; the pages declare no icon and the
    // server answers 404 (reported to the lead). Not a problem of the page itself, so not counted.
    if (new URL(msg.location().url || 'about:blank').pathname === '/favicon.ico') return
    problems.push(`console: ${msg.text()} (${msg.location().url})`)
  })
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  if (opts.javaScript !== false) {
    // Chromium also logs CSP violations to the console; this catches report-only ones too.
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`)
      })
    })
  }
  return problems
}

export interface Session {
  context: BrowserContext
  page: Page
  /** Console errors, uncaught page errors and CSP violations seen so far. */
  problems: string[]
}

/** A fresh browser profile (no cookies, en-US) with one page, its problems watched. */
export async function openSession(browser: Browser, options: BrowserContextOptions = {}): Promise<Session> {
  const context = await browser.newContext({ locale: 'en-US', ...options })
  context.setDefaultTimeout(STEP)
  context.setDefaultNavigationTimeout(STEP)
  const page = await context.newPage()
  const problems = await watchProblems(page, { javaScript: options.javaScriptEnabled !== false })
  return { context, page, problems }
}

/** Waits until the browser is on the SPA's redirect_uri (the callback app) and returns that URL. */
export async function callbackOf(page: Page): Promise<URL> {
  await page.waitForURL((url) => url.href.startsWith(`${SPA_REDIRECT}?`))
  await page.getByText('callback', { exact: true }).waitFor()
  return new URL(page.url())
}

/**
 * A virtual WebAuthn authenticator (Chrome DevTools Protocol) with resident keys and user
 * verification: `internal` is a phone's or laptop's built-in one, `usb` a security key.
 */
export async function addVirtualAuthenticator(page: Page, transport: 'internal' | 'usb', extra: { automaticPresenceSimulation?: boolean } = {}) {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport, hasResidentKey: true, hasUserVerification: true, isUserVerified: true, ...extra },
  })
  return { cdp, authenticatorId }
}
