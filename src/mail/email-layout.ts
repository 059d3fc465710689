// Every email as the same two parts with the same content: a plain-text part, and a small HTML
// part (inline styles, since mail clients drop <style> and stylesheets) with the language and
// direction of its locale, a heading with the brand, a real button link and the link again as text
// for clients that do not show buttons. The words come from the caller (the `email` catalog area);
// this module only lays them out and escapes them.
import { escapeHtml, type Translator } from '../i18n/catalogs.ts'
import type { Brand } from './brand.ts'

export interface EmailContent {
  subject: string
  /** Paragraphs before the action. */
  lead: string[]
  /** A one-time code, shown large on its own (code emails). */
  code?: string | undefined
  /** The one thing to do: a button in HTML, the label and the URL on their own lines in text. */
  action?: { label: string; url: string } | undefined
  /** Paragraphs after the action (expiry, what to do if it was not you). */
  after: string[]
}

export interface RenderedEmail { subject: string; text: string; html: string }

const FONT = 'font-family:-apple-system,BlinkMacSystemFont,\'Segoe UI\',Roboto,Helvetica,Arial,sans-serif'

/** An absolute http(s) URL, or an error: a relative or javascript: link must never reach a mail. */
function absoluteUrl(url: string): string {
  const parsed = new URL(url)
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error(`not a web link: ${parsed.protocol}`)
  return parsed.href
}

export function renderEmail(i18n: Translator, brand: Brand, content: EmailContent): RenderedEmail {
  const action = content.action ? { label: content.action.label, url: absoluteUrl(content.action.url) } : undefined
  const footer = i18n.t('email.footer', { site: brand.name })

  const text = [
    ...content.lead,
    ...(content.code ? [content.code] : []),
    // The label stands alone above its link: a colon after it would need each language's spacing.
    ...(action ? [`${action.label}\n${action.url}`] : []),
    ...content.after,
    `-- \n${footer}`,
  ].join('\n\n') + '\n'

  const p = (body: string) => `<p style="margin:0 0 16px;${FONT};font-size:16px;line-height:1.5;color:#1f2937">${escapeHtml(body)}</p>`
  const heading = brand.logoUrl
    ? `<img src="${escapeHtml(absoluteUrl(brand.logoUrl))}" alt="${escapeHtml(brand.name)}" height="40" style="display:block;height:40px;border:0">`
    : `<span style="${FONT};font-size:20px;font-weight:700;color:${escapeHtml(brand.colour)}">${escapeHtml(brand.name)}</span>`
  const html = `<!doctype html>
<html lang="${i18n.locale}" dir="${i18n.dir}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${escapeHtml(content.subject)}</title>
</head>
<body style="margin:0;padding:0;background:#f3f4f6">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f3f4f6">
<tr><td align="center" style="padding:24px 12px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border-radius:8px">
<tr><td dir="${i18n.dir}" style="padding:24px 32px 8px;text-align:start">${heading}</td></tr>
<tr><td dir="${i18n.dir}" style="padding:16px 32px 8px;text-align:start">
${content.lead.map(p).join('\n')}
${content.code ? `<p style="margin:0 0 16px;font-family:Menlo,Consolas,monospace;font-size:32px;font-weight:700;letter-spacing:4px;color:#111827" dir="ltr">${escapeHtml(content.code)}</p>` : ''}
${action ? `<p style="margin:8px 0 24px"><a href="${escapeHtml(action.url)}" style="display:inline-block;padding:12px 20px;border-radius:6px;background:${escapeHtml(brand.colour)};color:#ffffff;${FONT};font-size:16px;font-weight:600;text-decoration:none">${escapeHtml(action.label)}</a></p>
<p style="margin:0 0 16px;${FONT};font-size:14px;line-height:1.5;color:#4b5563">${escapeHtml(i18n.t('email.linkFallback'))}<br><a href="${escapeHtml(action.url)}" dir="ltr" style="color:${escapeHtml(brand.colour)};word-break:break-all">${escapeHtml(action.url)}</a></p>` : ''}
${content.after.map(p).join('\n')}
</td></tr>
<tr><td dir="${i18n.dir}" style="padding:8px 32px 24px;border-top:1px solid #e5e7eb;text-align:start"><p style="margin:16px 0 0;${FONT};font-size:13px;line-height:1.5;color:#6b7280">${escapeHtml(footer)}</p></td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`
  return { subject: content.subject, text, html }
}
