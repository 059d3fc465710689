// Initial access tokens for dynamic client registration: issue one with its policy (shown once),
// list them with their use, revoke one. The clients registered with a token are on the Clients
// page like any other, marked "registered dynamically".
import type { JSX } from 'preact'
import { useState } from 'preact/hooks'
import type { z } from 'zod'
import { apiSend } from '../api.ts'
import { Link } from '../router.tsx'
import { useCan, useMe } from '../me.ts'
import { Field, Loading, PageHeading, Pager, ProblemBox, fieldAttrs, formatDate, formValues, lines, usePagedList, useSubmit } from '../ui.tsx'
import type { registrationTokenJson } from '../../routes/registration-tokens.ts'

type RegistrationToken = z.output<typeof registrationTokenJson>
interface Issued { token: string; registrationToken: RegistrationToken }

const GRANTS = [
  { value: 'authorization_code', label: 'Authorization code (people sign in)' },
  { value: 'refresh_token', label: 'Refresh tokens' },
  { value: 'client_credentials', label: 'Client credentials (machine to machine)' },
  { value: 'urn:ietf:params:oauth:grant-type:device_code', label: 'Device code' },
] as const
const STATE_LABEL: Record<RegistrationToken['state'], string> = { active: 'active', spent: 'all uses spent', revoked: 'revoked', expired: 'expired' }

/** The token, shown once, with a copy button. */
function TokenOnce({ token }: { token: string }): JSX.Element {
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle')
  const copyIt = async () => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard')
      await navigator.clipboard.writeText(token)
      setCopy('copied')
    } catch {
      setCopy('failed')
    }
  }
  return (
    <div class="secret" role="alert">
      <p><strong>Copy this initial access token now.</strong> It is shown only once. The tool that registers itself sends it as <code>Authorization: Bearer …</code> to the registration endpoint.</p>
      <div class="secret-row">
        <input type="text" readOnly value={token} aria-label="Initial access token" onFocus={(e) => e.currentTarget.select()} />
        <button type="button" onClick={() => void copyIt()}>{copy === 'copied' ? 'Copied' : 'Copy'}</button>
      </div>
      {copy === 'failed' && <p role="status">The browser did not allow copying: select the token and copy it yourself.</p>}
    </div>
  )
}

function IssueForm({ onIssued }: { onIssued: (issued: Issued) => void }): JSX.Element {
  const me = useMe()
  const submit = useSubmit(async (form: HTMLFormElement) => {
    const v = formValues(form)
    const days = Number(v.expiresInDays)
    const body = {
      description: v.description,
      allowedRedirectHosts: lines(v.allowedRedirectHosts),
      allowedGrantTypes: new FormData(form).getAll('allowedGrantTypes').map(String),
      clientType: v.clientType,
      expiresIn: Number.isFinite(days) ? Math.round(days * 86400) : Number.NaN,
      maxUses: Number(v.maxUses),
      ...(v.tenantId ? { tenantId: v.tenantId } : {}),
    }
    const issued = await apiSend<Issued>('POST', '/registration-tokens', body)
    if (issued) onIssued(issued)
  })
  const err = submit.error
  return (
    <form class="panel form" onSubmit={(e) => { e.preventDefault(); void submit.run(e.currentTarget) }} noValidate>
      <ProblemBox error={err} />
      <Field label="What it is for" name="description" error={err}><input type="text" maxLength={200} {...fieldAttrs('description', err)} /></Field>
      <Field label="Allowed redirect hosts" name="allowedRedirectHosts" error={err} hint="One host per line, e.g. localhost or app.example.com. Redirect and post-logout URIs must name one of them.">
        <textarea rows={3} defaultValue={'localhost\n127.0.0.1'} {...fieldAttrs('allowedRedirectHosts', err)} />
      </Field>
      <fieldset>
        <legend>Grant types a registration may ask for</legend>
        <div class="checks-grid">
          {GRANTS.map((g) => (
            <div class="check" key={g.value}>
              <input type="checkbox" id={`grant-${g.value}`} name="allowedGrantTypes" value={g.value} defaultChecked={g.value === 'authorization_code' || g.value === 'refresh_token'} />
              <label for={`grant-${g.value}`}>{g.label}</label>
            </div>
          ))}
        </div>
      </fieldset>
      <Field label="Clients it may register" name="clientType" error={err}>
        <select {...fieldAttrs('clientType', err)} defaultValue="any">
          <option value="any">Public or confidential</option>
          <option value="public">Public only (no secret: browser and native apps)</option>
          <option value="confidential">Confidential only (with a secret or its own key)</option>
        </select>
      </Field>
      <Field label="Valid for (days)" name="expiresIn" error={err}><input type="number" id="f-expiresIn" name="expiresInDays" min={0.05} max={90} step="any" defaultValue="1" aria-invalid={fieldAttrs('expiresIn', err)['aria-invalid'] === 'true' ? 'true' : 'false'} /></Field>
      <Field label="Registrations it allows" name="maxUses" error={err}><input type="number" min={1} max={10000} defaultValue="1" {...fieldAttrs('maxUses', err)} /></Field>
      {me.scope === 'global' && (
        <Field label="Tenant id" name="tenantId" error={err} hint="Optional: the tenant every client registered with it belongs to.">
          <input type="text" {...fieldAttrs('tenantId', err)} />
        </Field>
      )}
      <div class="actions"><button type="submit" disabled={submit.busy}>Issue token</button></div>
    </form>
  )
}

function RevokeButton({ t, onRevoked }: { t: RegistrationToken; onRevoked: () => void }): JSX.Element {
  const revoke = useSubmit(async () => {
    await apiSend('DELETE', `/registration-tokens/${encodeURIComponent(t.id)}`)
    onRevoked()
  })
  return (
    <>
      <ProblemBox error={revoke.error} />
      <button type="button" class="danger" disabled={revoke.busy} onClick={() => void revoke.run()} aria-label={`Revoke token ${t.description || t.id.slice(0, 8)}`}>Revoke</button>
    </>
  )
}

export function RegistrationTokensPage(): JSX.Element {
  const can = useCan()
  const list = usePagedList<RegistrationToken>('/registration-tokens', {})
  const [issuing, setIssuing] = useState(false)
  const [issued, setIssued] = useState<Issued | undefined>()
  return (
    <section>
      <PageHeading actions={can('clients:write') && !issuing && <button type="button" onClick={() => { setIssuing(true); setIssued(undefined) }}>Issue token</button>}>Registration tokens</PageHeading>
      <p class="muted">
        Initial access tokens let a tool register itself as a client (dynamic client registration, RFC 7591), within the policy you give each token.
        Registered clients appear under <Link to="/clients">Clients</Link>, where you can disable them. The server accepts registrations only when <code>DYNAMIC_CLIENT_REGISTRATION</code> is on.
      </p>
      {issued && <TokenOnce token={issued.token} />}
      {issuing && (
        <>
          <h2>Issue a registration token</h2>
          <IssueForm onIssued={(i) => { setIssued(i); setIssuing(false); list.reload() }} />
        </>
      )}
      <ProblemBox error={list.error} />
      {list.loading && !list.data && <Loading what="registration tokens" />}
      {list.data && (list.data.items.length === 0 ? <p class="muted">No registration tokens yet.</p> : (
        <table class="stack">
          <thead><tr><th scope="col">Token</th><th scope="col">Policy</th><th scope="col">Used</th><th scope="col">Expires</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            {list.data.items.map((t) => (
              <tr key={t.id}>
                <td data-label="Token">{t.description || <span class="muted">no description</span>}<div class="muted"><code>{t.id.slice(0, 12)}</code>{t.tenantId && <> · tenant <code>{t.tenantId}</code></>}</div></td>
                <td data-label="Policy">
                  {t.clientType === 'any' ? 'public or confidential' : t.clientType}
                  <div>{t.allowedGrantTypes.map((g) => <code key={g} class="tag">{g.replace('urn:ietf:params:oauth:grant-type:', '')}</code>)}</div>
                  <div class="muted">{t.allowedRedirectHosts.length ? `hosts: ${t.allowedRedirectHosts.join(', ')}` : 'no redirect hosts'}</div>
                </td>
                <td data-label="Used">
                  {t.uses} of {t.maxUses}
                  {t.clientIds.length > 0 && <div>{t.clientIds.map((id) => <div key={id}><Link to={`/clients/${encodeURIComponent(id)}`}>{id}</Link></div>)}</div>}
                </td>
                <td data-label="Expires">{formatDate(t.expiresAt)}</td>
                <td data-label="State"><span>{STATE_LABEL[t.state]}</span>{t.revokedAt && <div class="muted">{formatDate(t.revokedAt)}</div>}</td>
                <td data-label="Actions">{can('clients:write') && t.state === 'active' && <RevokeButton t={t} onRevoked={list.reload} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      <Pager page={list.page} next={list.next} previous={list.previous} />
    </section>
  )
}
