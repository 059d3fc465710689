// What a person reads on a server-rendered page: its heading and its alert.
const decode = (s: string | undefined) => s?.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')

/** The text of the page's alert (role="alert"), entities decoded. */
export const alertOf = (html: string) => decode(/role="alert"[^>]*>\s*(?:<p>)?([^<]*)</.exec(html)?.[1]?.trim())

/** The page's first-level heading. */
export const h1Of = (html: string) => decode(/<h1>([^<]*)<\/h1>/.exec(html)?.[1])
