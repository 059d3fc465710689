// oidc-provider hands its page hooks a ready-made <form> (action + hidden xsrf fields). Our pages
// render their own accessible, script-free forms, so we read the action and hidden fields out of
// the provider's markup (fixed by the pinned oidc-provider version; covered by the device tests).
export interface ProviderForm {
  action: string
  hidden: Record<string, string>
  /** A prefilled user_code, when the provider re-renders a code it was given. */
  value?: string | undefined
}

const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')

export function parseProviderForm(html: string): ProviderForm {
  const action = /<form\b[^>]*\saction="([^"]*)"/.exec(html)?.[1]
  if (action === undefined) throw new Error('oidc-provider form without an action')
  const hidden: Record<string, string> = {}
  let value: string | undefined
  for (const [, attrs] of html.matchAll(/<input\b([^>]*)>/g)) {
    const name = /\sname="([^"]*)"/.exec(attrs!)?.[1]
    const val = /\svalue="([^"]*)"/.exec(attrs!)?.[1]
    if (!name) continue
    if (/\stype="hidden"/.test(attrs!)) hidden[name] = decode(val ?? '')
    else if (name === 'user_code' && val !== undefined) value = decode(val)
  }
  return { action: decode(action), hidden, value }
}
