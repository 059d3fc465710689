// The pages follow the browser's colour scheme (prefers-color-scheme): a dark page for a dark
// setting, a light one otherwise, and both pass axe-core (colour contrast included), in a
// left-to-right and a right-to-left language.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { axeViolations } from '../support/axe.ts'
import { authorizationRequest, discoverSpa } from '../support/code-flow.ts'

/** Relative luminance (WCAG 2.x) of a computed `rgb(…)` colour: 0 black … 1 white. */
function luminance(rgb: string): number {
  const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((v) => {
    const c = Number(v) / 255
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  })
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!
}

describe('light and dark (Chromium, embedded)', () => {
  let iam: IamInstance
  let browser: Browser
  let spa: oidc.Configuration

  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.withDatabase(createFixtures)
    await iam.start()
    spa = await discoverSpa(iam.issuer)
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await iam?.close()
  })

  /** The card's background and text luminance on `page`, and the page's axe violations. */
  async function look(page: Page) {
    const card = page.locator('main.card')
    const colours = await card.evaluate((el) => ({ background: getComputedStyle(el).backgroundColor, text: getComputedStyle(el).color }))
    return { background: luminance(colours.background), text: luminance(colours.text), violations: await axeViolations(page) }
  }

  for (const colorScheme of ['light', 'dark'] as const) {
    it(`${colorScheme}: the sign-in page (English and Arabic) and the 404 page`, async () => {
      const session = await openSession(browser, { colorScheme })
      try {
        const { page } = session
        const dark = colorScheme === 'dark'
        for (const locale of ['en', 'ar']) {
          const { url } = await authorizationRequest(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', ui_locales: locale })
          await page.goto(url)
          await page.locator('input#login').waitFor()
          expect(await page.locator('html').getAttribute('dir')).toBe(locale === 'ar' ? 'rtl' : 'ltr')
          const seen = await look(page)
          expect(seen.violations, `${colorScheme} ${locale}`).toEqual([])
          // Dark: light text on a dark card; light: the other way round.
          if (dark) expect(seen.background).toBeLessThan(0.05)
          else expect(seen.background).toBeGreaterThan(0.9)
          expect(dark ? seen.text > seen.background : seen.text < seen.background).toBe(true)
        }
        await page.goto(`${iam.issuer}/no-such-page`)
        await page.getByRole('heading', { level: 1 }).waitFor()
        const missing = await look(page)
        expect(missing.violations).toEqual([])
        if (dark) expect(missing.background).toBeLessThan(0.05)
        else expect(missing.background).toBeGreaterThan(0.9)
      } finally {
        await session.context.close()
      }
    })
  }
})
