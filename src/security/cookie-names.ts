// Cookie name prefixes (RFC 6265bis §4.1.3), for cookies that travel over https only. A browser
// accepts a `__Host-` cookie only if it is Secure, on Path=/ and without a Domain: no sibling
// subdomain, no plain-http page and no narrower path can set or shadow it. A cookie on a narrower
// path can only be `__Secure-` (Secure, set over https). Over plain http (local development, tests)
// a browser would drop either, so the names stay plain there.

/** The name of a Path=/ cookie without a Domain. */
export function hostCookieName(name: string, secure: boolean): string {
  return secure ? `__Host-${name}` : name
}

/** The name of a cookie on a narrower path (or with a Domain). */
export function secureCookieName(name: string, secure: boolean): string {
  return secure ? `__Secure-${name}` : name
}
