import { describe, expect, it } from 'vitest'
import { renderPage } from '../../src/pages/render.ts'

const HOSTILE = '<script>alert("x")</script>'

function login(data: Record<string, unknown> = {}, csrfToken = 'csrf-token-123') {
  return renderPage('login', { siteName: 'Acme ID', csrfToken }, {
    action: '/interaction/uid1/login',
    abortAction: '/interaction/uid1/abort',
    ...data,
  })
}

describe("renderPage('login')", () => {
  it('escapes hostile login, client name, error and site name', () => {
    const html = renderPage('login', { siteName: `<b>${HOSTILE}</b>`, csrfToken: '"><img src=x onerror=alert(1)>' }, {
      action: '/interaction/uid1/login',
      abortAction: '/interaction/uid1/abort',
      login: `"><script>alert(1)</script>`,
      client: HOSTILE,
      error: '<img src=x onerror=alert(2)>',
    })
    // The one script tag is our own passkey script; nothing the request supplied became one.
    expect([...html.matchAll(/<script\b[^>]*>/gi)].map((m) => m[0].replace(/ nonce="[^"]*"/, ''))).toEqual(['<script src="/assets/webauthn.js" defer>'])
    expect(html).not.toMatch(/<img/i)
    expect(html).not.toContain('<b>')
    expect(html).toContain('&lt;script&gt;')
    expect(html).toContain('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"')
    expect(html).toContain('<strong>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</strong>')
  })

  it('has a label for each visible input', () => {
    const html = login()
    expect(html).toContain('<label for="login">')
    expect(html).toContain('<label for="password">')
    const inputs = [...html.matchAll(/<input\b[^>]*>/g)].map((m) => m[0])
    const visible = inputs.filter((i) => !/type="hidden"/.test(i))
    expect(visible).toHaveLength(2)
    for (const input of visible) {
      const id = /\bid="([^"]+)"/.exec(input)?.[1]
      expect(id, input).toBeDefined()
      expect(html).toContain(`<label for="${id}">`)
    }
    expect(visible[0]).toMatch(/id="login"[^>]*name="login"|name="login"[^>]*id="login"/)
    expect(visible[1]).toMatch(/type="password"/)
  })

  it('puts the CSRF token in a hidden csrf field of every form', () => {
    const html = login({}, 'tok_ABC-123')
    const forms = html.match(/<form\b/g) ?? []
    const fields = html.match(/<input type="hidden" name="csrf" value="tok_ABC-123">/g) ?? []
    expect(forms.length).toBeGreaterThan(0)
    expect(fields).toHaveLength(forms.length)
  })

  it('fills in the form actions, the site name and the client', () => {
    const html = login({ client: 'Example App' })
    expect(html).toContain('action="/interaction/uid1/login"')
    expect(html).toContain('action="/interaction/uid1/abort"')
    expect(html).toContain('<title>Sign in · Acme ID</title>')
    expect(html).toContain('to continue to <strong>Example App</strong>')
    expect(html).toContain('Cancel and return to Example App')
  })

  it('shows the error, linked to the fields it concerns, and keeps the typed login', () => {
    const both = login({ login: 'alice@example.com', error: 'Wrong email or password.', errorField: 'both' })
    expect(both).toContain('Wrong email or password.')
    expect(both).toMatch(/<input id="login"[^>]*value="alice@example.com"[^>]*aria-invalid="true" aria-describedby="login-error"/)
    expect(both).toMatch(/<input id="password"[^>]*aria-invalid="true" aria-describedby="login-error"/)
    expect(both).toContain('id="login-error"')
    const passwordOnly = login({ login: 'alice@example.com', error: 'Enter your password.', errorField: 'password' })
    expect(passwordOnly).toMatch(/<input id="password"[^>]*aria-describedby="login-error"/)
    expect(passwordOnly).not.toMatch(/<input id="login"[^>]*aria-invalid/)
    expect(login()).not.toContain('login-error')
  })
})

describe("renderPage('error')", () => {
  it('shows the title, message and request id', () => {
    const html = renderPage('error', { siteName: 'Acme ID' }, {
      title: 'Something went wrong',
      message: 'The request could not be completed.',
      requestId: 'req-7f3a9c',
    })
    expect(html).toContain('<h1>Something went wrong</h1>')
    expect(html).toContain('The request could not be completed.')
    expect(html).toContain('<code>req-7f3a9c</code>')
  })

  it('omits the reference line without a request id', () => {
    const html = renderPage('error', { siteName: 'Acme ID' }, { title: 'Oops', message: 'Nope' })
    expect(html).toContain('Nope')
    expect(html).not.toContain('Reference')
  })

  it('escapes the message and request id', () => {
    const html = renderPage('error', { siteName: 'Acme ID' }, { title: 'Oops', message: HOSTILE, requestId: '<i>id</i>' })
    expect(html).not.toMatch(/<script/i)
    expect(html).not.toContain('<i>')
    expect(html).toContain('&lt;script&gt;')
    expect(html).toContain('&lt;i&gt;id&lt;/i&gt;')
  })
})
