// The client id an `Authorization: Basic` header names, read without checking the secret: for
// counting and recording a request by the client it claims to be (the provider authenticates it).

/** The client id of an `Authorization: Basic` header (form-urlencoded, RFC 6749 §2.3.1), else undefined. */
export function basicClientId(header: string): string | undefined {
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (!match) return undefined
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 1) return undefined
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20'))
  } catch {
    return undefined
  }
}
