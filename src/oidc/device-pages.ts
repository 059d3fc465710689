// oidc-provider's device flow pages (/device: enter the code, confirm the device, done), rendered
// from our templates in the page's language: the browser's (switcher, Accept-Language) and, once
// the browser has a session, the signed-in person's saved one.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider'
import { defaultLocale, translator, type Translator } from '../i18n/catalogs.ts'
import { pageContext, renderPage, type PageContext } from '../pages/render.ts'
import type { Db } from '../queries/db.ts'
import { findUserLocale } from '../queries/users.ts'
import { deviceCodeFailure, parseProviderForm } from './provider-internals.ts'

type DeviceFlow = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>
type DevicePages = Required<Pick<DeviceFlow, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'>>

export function deviceFlowPages(siteName: string, prisma: Db): DevicePages {
  async function context(ctx: KoaContextWithOIDC): Promise<PageContext> {
    const accountId = ctx.oidc?.session?.accountId
    if (accountId) ctx.state.savedLocale = await findUserLocale(prisma, accountId)
    return pageContext(ctx, siteName)
  }
  return {
    async userCodeInputSource(ctx, form, out, err) {
      const page = await context(ctx)
      ctx.body = renderPage('device-input', page, { form: parseProviderForm(form), error: err && deviceCodeError(translator(page.locale ?? defaultLocale()), err) })
    },
    async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
      ctx.body = renderPage('device-confirm', await context(ctx), { form, client: client.clientName ?? client.clientId, userCode })
    },
    async successSource(ctx) {
      ctx.body = renderPage('device-success', await context(ctx), { client: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId })
    },
  }
}

/** What the device-code page says after a failed attempt. */
function deviceCodeError(i18n: Translator, err: Error): string {
  switch (deviceCodeFailure(err)) {
    case 'no_code': return i18n.t('device.errorNoCode')
    case 'not_found': return i18n.t('device.errorNotFound')
    case 'expired': return i18n.t('device.errorExpired')
    case 'already_used': return i18n.t('device.errorUsed')
    case 'aborted': return i18n.t('device.errorAborted')
    default: return i18n.t('device.errorUnknown')
  }
}
