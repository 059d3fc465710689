// The interaction's step table (src/interaction/steps.ts, docs/adr/0220-interaction-steps.md):
// GET /interaction/:uid shows the first step that applies; a step's route runs only where its rule
// holds, else its refusal (by default back to the interaction) answers.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import Koa from 'koa'
import Router from '@koa/router'
import { afterAll, describe, expect, it } from 'vitest'
import type { Details, InteractionKit } from '../../src/interaction/kit.ts'
import { mountSteps, type InteractionStep } from '../../src/interaction/steps.ts'
import { ofKind, stateOfResult, stateResult, type InteractionState } from '../../src/interaction/state.ts'

const servers: http.Server[] = []
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

/** A server with the table mounted, every request in an interaction at `prompt` with `state` saved. */
async function serve(steps: InteractionStep[], prompt: string, state?: InteractionState): Promise<string> {
  const details = { uid: 'u1', prompt: { name: prompt }, result: state ? stateResult(state) : undefined } as unknown as Details
  const kit = {
    load: async (ctx: Koa.Context, next: Koa.Next) => { ctx.state.interaction = details; await next() },
    readState: (d: Details) => stateOfResult(d.result),
  } as unknown as InteractionKit
  const router = new Router({ prefix: '/interaction' })
  mountSteps(router, kit, steps)
  const app = new Koa()
  app.silent = true
  app.use(router.routes())
  const server = http.createServer(app.callback()).listen(0)
  servers.push(server)
  await new Promise((resolve) => server.once('listening', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/interaction`
}

const text = (body: string) => async (ctx: Koa.Context) => { ctx.body = body }

const mfa: InteractionStep = {
  name: 'mfa',
  applies: (details, state) => details.prompt.name === 'login' && ofKind(state, 'mfa') !== undefined,
  render: text('mfa page'),
  routes: [{ method: 'post', path: '/:uid/mfa/verify', when: 'step', handle: async (ctx, _d, state) => { ctx.body = `verified ${ofKind(state, 'mfa')!.accountId}` } }],
}
const login: InteractionStep = {
  name: 'login',
  applies: (details) => details.prompt.name === 'login',
  render: text('login page'),
  routes: [{ method: 'post', path: '/:uid/login', when: 'step', handle: text('signed in') }],
}
const json: InteractionStep = {
  name: 'json',
  applies: async () => false,
  routes: [
    { method: 'post', path: '/:uid/json', when: 'step', refuse: (ctx) => { ctx.status = 409; ctx.body = { error: 'over' } }, handle: text('never') },
    { method: 'post', path: '/:uid/always', when: () => true, handle: text('always') },
  ],
}
const table = [mfa, login, json]

describe('interaction steps', () => {
  it('shows the first step of the table that applies', async () => {
    expect(await (await fetch(`${await serve(table, 'login', { step: 'mfa', accountId: 'a', amr: ['pwd'] })}/u1`)).text()).toBe('mfa page')
    expect(await (await fetch(`${await serve(table, 'login', { step: 'verify-hold', accountId: 'a' })}/u1`)).text()).toBe('login page')
    const none = await fetch(`${await serve(table, 'consent')}/u1`)
    expect(none.status).toBe(500)
  })

  it('runs a route only where its rule holds; elsewhere its refusal answers', async () => {
    const atLogin = await serve(table, 'login')
    const refused = await fetch(`${atLogin}/u1/mfa/verify`, { method: 'POST', redirect: 'manual' })
    expect(refused.status).toBe(302)
    expect(refused.headers.get('location')).toBe('/interaction/u1')
    expect(await (await fetch(`${atLogin}/u1/login`, { method: 'POST' })).text()).toBe('signed in')
    const custom = await fetch(`${atLogin}/u1/json`, { method: 'POST' })
    expect(custom.status).toBe(409)
    expect(await custom.json()).toEqual({ error: 'over' })
    expect(await (await fetch(`${atLogin}/u1/always`, { method: 'POST' })).text()).toBe('always')

    const atMfa = await serve(table, 'login', { step: 'mfa', accountId: 'a', amr: ['pwd'] })
    expect(await (await fetch(`${atMfa}/u1/mfa/verify`, { method: 'POST' })).text()).toBe('verified a')
  })

  it('keeps one state, of one kind, under one key', () => {
    const saved = stateResult({ step: 'password-change', accountId: 'a' })
    expect(Object.keys(saved)).toEqual(['iam:state'])
    expect(ofKind(stateOfResult(saved), 'password-change')).toEqual({ step: 'password-change', accountId: 'a' })
    expect(ofKind(stateOfResult(saved), 'mfa')).toBeUndefined()
    expect(stateOfResult(undefined)).toBeUndefined()
  })
})
