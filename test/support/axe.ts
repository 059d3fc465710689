// axe-core (Deque's accessibility rules engine) run inside a page of headless Chromium: its source
// is evaluated in the page (through the DevTools protocol, so the pages' CSP does not stop it and
// no page needs a script of its own), then axe.run() checks the whole document.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Page } from 'playwright-core'

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/** One failed rule: its id, how bad, what it asks, and the CSS selectors of the elements that fail it. */
export interface AxeViolation {
  id: string
  impact: string | null
  help: string
  targets: string[]
}

/**
 * The page's accessibility violations as axe-core reports them with its default rules (WCAG 2.x A
 * and AA plus its best practices); [] when it passes. Runs on the page as it is now.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe === 'object')
  if (!loaded) await page.evaluate(AXE_SOURCE)
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: Array<{ id: string; impact?: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe
    const result = await axe.run(document, { resultTypes: ['violations'] })
    return result.violations.map((v) => ({ id: v.id, impact: v.impact ?? null, help: v.help, targets: v.nodes.map((n) => n.target.map(String).join(' ')) }))
  })
}
