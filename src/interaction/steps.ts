// The shape every interaction step has, and the table that dispatches to them
// (docs/adr/0220-interaction-steps.md). A step says when it applies (from the prompt and the
// interaction's saved state, worked out on every request), renders its page, and handles its
// routes; a route runs only where its rule says, else the browser goes back to the interaction,
// which shows the step it is at.
import type Router from '@koa/router'
import type { Context } from 'koa'
import type { Details, InteractionKit } from './kit.ts'
import type { InteractionState } from './state.ts'

export interface StepRoute {
  method: 'get' | 'post'
  /** Under /interaction, e.g. '/:uid/login'. */
  path: string
  /** When this route may run. Every route has one: `'step'` is "whenever its step applies". */
  when: 'step' | ((details: Details, state: InteractionState | undefined) => boolean | Promise<boolean>)
  /** The answer when it may not; by default a redirect back to the interaction. */
  refuse?: (ctx: Context, details: Details) => unknown
  handle(ctx: Context, details: Details, state: InteractionState | undefined): Promise<unknown>
}

export interface InteractionStep {
  readonly name: string
  /** Whether the interaction is at this step now. */
  applies(details: Details, state: InteractionState | undefined): boolean | Promise<boolean>
  /**
   * The page GET /interaction/:uid shows when this is the first step of the table that applies.
   * Absent for a step whose page is only ever the answer to one of its routes (or another step's).
   */
  render?: ((ctx: Context, details: Details, state: InteractionState | undefined) => Promise<unknown>) | undefined
  readonly routes: readonly StepRoute[]
}

/** Back to the interaction: its page shows the step it is at. */
export function backToInteraction(ctx: Context, details: Details) {
  return ctx.redirect(`/interaction/${details.uid}`)
}

/**
 * Registers GET /:uid (the page of the first step in `steps` that applies) and every step's
 * routes, each behind its rule.
 */
export function mountSteps(router: Router, kit: InteractionKit, steps: readonly InteractionStep[]) {
  router.get('/:uid', kit.load, async (ctx: Context) => {
    const details = ctx.state.interaction as Details
    const state = kit.readState(details)
    for (const step of steps) {
      if (step.render && await step.applies(details, state)) return step.render(ctx, details, state)
    }
    throw new Error(`unknown prompt ${details.prompt.name}`)
  })

  for (const step of steps) {
    for (const route of step.routes) {
      router[route.method](route.path, kit.load, async (ctx: Context) => {
        const details = ctx.state.interaction as Details
        const state = kit.readState(details)
        const allowed = route.when === 'step' ? await step.applies(details, state) : await route.when(details, state)
        if (!allowed) return (route.refuse ?? backToInteraction)(ctx, details)
        return route.handle(ctx, details, state)
      })
    }
  }
}
