// The RFC 7591/7592 registration endpoint as a registrant calls it, for the suites that register
// clients dynamically (dynamic-registration, client-registry-attacks).
export type Json = Record<string, any>
export interface Answer { status: number; json: Json; text: string; headers: Headers }

/** A response read once: its JSON (or `{ text }` when it is not JSON), its text and headers. */
export async function answer(res: Response): Promise<Answer> {
  const text = await res.text()
  let json: Json = {}
  try { json = text ? JSON.parse(text) : {} } catch { json = { text } }
  return { status: res.status, json, text, headers: res.headers }
}

export const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {})

/** RFC 6749 §2.3.1: id and secret form-encoded, then Basic. */
export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

export function registrationEndpoint(issuer: string) {
  return {
    register: async (token: string | undefined, body: Json) => answer(await fetch(`${issuer}/reg`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: JSON.stringify(body) })),
    read: async (uri: string, token: string) => answer(await fetch(uri, { headers: bearer(token) })),
    update: async (uri: string, token: string, body: Json) => answer(await fetch(uri, { method: 'PUT', headers: { ...bearer(token), 'content-type': 'application/json' }, body: JSON.stringify(body) })),
    remove: async (uri: string, token: string) => answer(await fetch(uri, { method: 'DELETE', headers: bearer(token) })),
  }
}

/** A confidential client's secret works at the introspection endpoint (401 when it does not). */
export async function secretWorks(issuer: string, clientId: string, secret: string): Promise<boolean> {
  const res = await fetch(`${issuer}/token/introspection`, {
    method: 'POST', headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: 'not-a-token' }),
  })
  await res.arrayBuffer()
  return res.status === 200
}
