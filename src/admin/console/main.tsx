// The admin console: sign in (auth.ts), load who the person is (GET /me), then the pages.
import { render, type JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import './styles.css'
import { SignInProblem, authorize, signIn, signOut, takeNotice } from './auth.ts'
import { apiGet, type Me } from './api.ts'
import { Link, navigate, useLocation } from './router.tsx'
import { MeContext } from './me.ts'
import { Notice, ProblemBox } from './ui.tsx'
import { Overview } from './pages/overview.tsx'
import { UserCreate, UserList } from './pages/users.tsx'
import { UserDetail } from './pages/user-detail.tsx'
import { RoleDetail, RoleList } from './pages/roles.tsx'
import { ClientDetail, ClientList } from './pages/clients.tsx'
import { TenantDetail, TenantList } from './pages/tenants.tsx'
import { AuditPage } from './pages/audit.tsx'
import { RegistrationTokensPage } from './pages/registration-tokens.tsx'


const SECTIONS = [
  { to: '/', label: 'Overview', permission: undefined },
  { to: '/users', label: 'Users', permission: 'users:read' },
  { to: '/roles', label: 'Roles', permission: 'roles:read' },
  { to: '/clients', label: 'Clients', permission: 'clients:read' },
  { to: '/registration-tokens', label: 'Registration tokens', permission: 'clients:read' },
  { to: '/tenants', label: 'Tenants', permission: 'tenants:read' },
  { to: '/audit', label: 'Audit', permission: 'audit:read' },
] as const

function route(path: string): { section: string; page: () => JSX.Element } {
  const parts = path.split('/').filter(Boolean)
  const [section = '', id] = parts
  switch (section) {
    case '': return { section: '/', page: () => <Overview /> }
    case 'users':
      if (id === 'new') return { section: '/users', page: () => <UserCreate /> }
      return { section: '/users', page: () => (id ? <UserDetail id={decodeURIComponent(id)} /> : <UserList />) }
    case 'roles': return { section: '/roles', page: () => (id ? <RoleDetail id={decodeURIComponent(id)} /> : <RoleList />) }
    case 'clients': return { section: '/clients', page: () => (id ? <ClientDetail id={decodeURIComponent(id)} /> : <ClientList />) }
    case 'tenants': return { section: '/tenants', page: () => (id ? <TenantDetail id={decodeURIComponent(id)} /> : <TenantList />) }
    case 'audit': return { section: '/audit', page: () => <AuditPage /> }
    case 'registration-tokens': return { section: '/registration-tokens', page: () => <RegistrationTokensPage /> }
    default: return { section: '', page: () => <NotFound /> }
  }
}

function NotFound(): JSX.Element {
  return <section><h1>Page not found</h1><p>There is no such page in the admin console. <Link to="/">Go to the overview</Link>.</p></section>
}

function Shell({ me }: { me: Me }): JSX.Element {
  const { path } = useLocation()
  const [menuOpen, setMenuOpen] = useState(false)
  const [notice] = useState(takeNotice)
  const current = route(path)
  useEffect(() => setMenuOpen(false), [path])
  const sections = SECTIONS.filter((s) => !s.permission || me.permissions.includes(s.permission))
  const tenantName = me.tenant?.name
  return (
    <MeContext.Provider value={me}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="topbar">
        <span class="brand">Admin console</span>
        <button type="button" class="menu-toggle secondary" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>Menu</button>
        <nav id="nav" class={menuOpen ? 'open' : ''} aria-label="Sections">
          <ul>
            {sections.map((s) => (
              <li key={s.to}><Link to={s.to} aria-current={current.section === s.to ? 'page' : undefined}>{s.label}</Link></li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span title={me.sub}>{me.displayName ?? me.email ?? me.sub}</span>
          <span class="muted">{me.scope === 'global' ? 'Global administrator' : `Tenant administrator${tenantName ? ` · ${tenantName}` : ''}`}</span>
          <button type="button" class="secondary" onClick={() => void signOut()}>Sign out</button>
        </div>
      </header>
      <main id="main">
        {notice && <Notice>{notice}</Notice>}
        {current.page()}
      </main>
    </MeContext.Provider>
  )
}

type Boot = { state: 'loading' } | { state: 'ready'; me: Me } | { state: 'problem'; message: string; error?: unknown }

function App(): JSX.Element {
  const [boot, setBoot] = useState<Boot>({ state: 'loading' })
  useEffect(() => {
    (async () => {
      const path = await signIn()
      if (`${location.pathname}${location.search}` !== path) navigate(path, { replace: true })
      const me = await apiGet<Me>('/me')
      setBoot({ state: 'ready', me })
    })().catch((error: unknown) => {
      setBoot({ state: 'problem', message: error instanceof SignInProblem ? error.message : 'The admin console could not load.', error: error instanceof SignInProblem ? undefined : error })
    })
  }, [])
  if (boot.state === 'loading') return <main id="main" class="boot"><p role="status">Signing you in…</p></main>
  if (boot.state === 'problem') {
    return (
      <main id="main" class="boot">
        <h1>Admin console</h1>
        <p>{boot.message}</p>
        <ProblemBox error={boot.error} />
        <button type="button" onClick={() => void authorize({ returnTo: '/admin/' })}>Sign in</button>
      </main>
    )
  }
  return <Shell me={boot.me} />
}

const root = document.getElementById('app')!
// The static "Loading…" placeholder goes; render() appends to what is there.
root.replaceChildren()
render(<App />, root)
