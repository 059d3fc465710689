// A minimal cookie-keeping HTTP user agent that walks the server-rendered pages like a person
// without JavaScript would: follows redirects on the server's own origin, reads forms, posts them.
export interface PageResponse {
  status: number
  url: string
  headers: Headers
  body: string
}

export class HttpBrowser {
  private cookies = new Map<string, string>()

  readonly origin: string

  constructor(origin: string) { this.origin = origin }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  clearCookies(): void {
    this.cookies.clear()
  }

  private store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1).trim()
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || attrs.some((a) => /^\s*max-age=0/i.test(a))
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<PageResponse> {
    const headers: Record<string, string> = { ...init.headers }
    if (new URL(url).origin === this.origin && this.cookies.size) headers.cookie = this.cookieHeader()
    let body: string | undefined
    if (init.form) {
      body = new URLSearchParams(init.form).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    }
    const res = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' })
    this.store(res)
    return { status: res.status, url, headers: res.headers, body: await res.text() }
  }

  /**
   * Requests and follows redirects while they stay on the server's origin. Returns the final
   * response: a page of ours, or a redirect that leaves the origin (to a client's redirect_uri).
   * `headers` (an Accept-Language, say) go with every request, as a browser sends them.
   */
  async navigate(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<PageResponse> {
    let res = await this.request(url, init)
    for (let hops = 0; hops < 20; hops++) {
      const location = res.headers.get('location')
      if (res.status < 300 || res.status >= 400 || !location) return res
      const next = new URL(location, res.url).href
      if (new URL(next).origin !== this.origin) return { ...res, url: next }
      res = await this.request(next, init.headers ? { headers: init.headers } : {})
    }
    throw new Error('too many redirects')
  }
}

/** The forms on a page: action, method and hidden/pre-filled fields. */
export function formsOf(html: string): Array<{ action: string; fields: Record<string, string> }> {
  const forms: Array<{ action: string; fields: Record<string, string> }> = []
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const action = /action="([^"]*)"/.exec(m[1]!)?.[1] ?? ''
    const fields: Record<string, string> = {}
    for (const input of m[2]!.matchAll(/<input\b([^>]*)>/g)) {
      const name = /name="([^"]*)"/.exec(input[1]!)?.[1]
      const value = /value="([^"]*)"/.exec(input[1]!)?.[1] ?? ''
      if (name) fields[name] = decodeEntities(value)
    }
    forms.push({ action: decodeEntities(action), fields })
  }
  return forms
}

export function formWithAction(html: string, suffix: string) {
  const form = formsOf(html).find((f) => f.action.endsWith(suffix))
  if (!form) throw new Error(`no form ending in ${suffix} on page:\n${html.slice(0, 2000)}`)
  return form
}

function decodeEntities(s: string): string {
  return s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>')
}

export interface SignInOptions {
  login: string
  password: string
  /** Press Allow on the consent page if one appears (default true). */
  consent?: boolean
}

/**
 * Walks authorize → login page → (consent page) → redirect to the client.
 * Returns the URL the browser was sent to (the client's redirect_uri with code or error).
 */
export async function signIn(browser: HttpBrowser, authorizationUrl: string, opts: SignInOptions): Promise<URL> {
  let res = await browser.navigate(authorizationUrl)
  for (let step = 0; step < 5; step++) {
    if (new URL(res.url).origin !== browser.origin) return new URL(res.url)
    if (res.body.includes('action="/interaction/') && /\/login"/.test(res.body)) {
      const form = formWithAction(res.body, '/login')
      res = await browser.navigate(new URL(form.action, browser.origin).href, { form: { ...form.fields, login: opts.login, password: opts.password } })
      continue
    }
    if (/\/consent"/.test(res.body)) {
      if (opts.consent === false) throw new Error('consent page shown')
      const form = formWithAction(res.body, '/consent')
      res = await browser.navigate(new URL(form.action, browser.origin).href, { form: form.fields })
      continue
    }
    throw new Error(`unexpected page (status ${res.status}):\n${res.body.slice(0, 2000)}`)
  }
  throw new Error('sign-in did not finish')
}
