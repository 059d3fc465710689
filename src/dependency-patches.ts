// Small fixes to dependencies, applied by `npm install`'s postinstall (and the Dockerfile) with
// `npm run patch-deps` (src/patch-dependencies.ts), checked at start (a warning when missing) and
// by test/unit/dependency-patches.test.ts. Each replaces one exact text with code that behaves the
// same, and is there for speed or memory alone. A file holding neither the original nor the
// patched text (a new release rewrote it) is reported and left alone: the server still works, with
// the old cost, until the patch is brought up to date.
//
// Requests kept until a full collection (session 10): oidc-provider and ioredis give an object
// made for one request an accessor property whose getter is a new closure:
// `Object.defineProperty(obj, name, { get: () => … })`. V8 keeps such a getter, its scope and
// everything reachable from there alive through every young-generation collection until the next
// full (mark-compact) one, because V8 allocates the accessor pair that holds the getter in old
// space (`Factory::NewAccessorPair`, `AllocationType::kOld`): the whole request (Koa context,
// request, response, headers, Redis replies) is promoted to old space, where only a full
// collection frees it. Measured (W=1, client credentials): ~1.6 MB promoted per young collection
// (15 % of all allocation), a full collection every ~1.4 s, the old space swinging 45 → 190 MB.
// With the getter shared (one function for all objects, reading the object it is called on)
// nothing of a request is promoted; see docs/performance.md ("session 10").
//
// Errors built on success (session 11): oidc-provider builds, on every successful userinfo
// request, three `InvalidToken` errors it throws only on failure (`ctx.assert(x, new
// InvalidToken(…))`, each with two stack captures), one more for every DPoP proof it checks for
// replay, and on every introspection or revocation of an opaque token a `TypeError` from trying
// to read it as a JWT. In our server's deeper middleware stack that was ~20 % of a userinfo
// request's CPU and ~15 % of an introspection's (measured with these patches on one of two
// servers side by side; docs/performance.md, "session 11").
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export interface DependencyPatch {
  /** npm package name */
  readonly package: string
  /** file inside the package */
  readonly file: string
  readonly why: string
  readonly original: string
  readonly patched: string
}

export const DEPENDENCY_PATCHES: readonly DependencyPatch[] = [
  {
    package: 'oidc-provider',
    file: 'lib/helpers/initialize_app.js',
    why: 'ctx.oidc: one shared getter instead of a closure per request',
    original: `  const ensureOIDC = async (ctx, next) => {
    let oidcCtx;
    Object.defineProperty(ctx, 'oidc', {
      get: () => {
        oidcCtx ||= new this.OIDCContext(ctx);
        return oidcCtx;
      },
    });
    return als.run(ctx, () => next());
  };`,
    patched: `  // iam patch (src/dependency-patches.ts): one getter for every request, not a closure each.
  const provider = this;
  const OIDC_CONTEXT = Symbol('oidcContext');
  function getOIDC() {
    this[OIDC_CONTEXT] ||= new provider.OIDCContext(this);
    return this[OIDC_CONTEXT];
  }
  const ensureOIDC = async (ctx, next) => {
    Object.defineProperty(ctx, 'oidc', { get: getOIDC });
    return als.run(ctx, () => next());
  };`,
  },
  {
    package: 'ioredis',
    file: 'built/Pipeline.js',
    why: 'Pipeline#length: a prototype getter instead of a closure per pipeline',
    original: `        const _this = this;
        Object.defineProperty(this, "length", {
            get: function () {
                return _this._queue.length;
            },
        });
    }`,
    patched: `    }
    // iam patch (src/dependency-patches.ts): a prototype getter, not a closure per pipeline.
    get length() {
        return this._queue.length;
    }`,
  },
  errorBuiltOnlyWhenThrown('lib/shared/access_token.js', 'accessToken', `InvalidToken('access token not found')`, 'userinfo: the "access token not found" error built only when it is thrown'),
  errorBuiltOnlyWhenThrown('lib/shared/access_token.js', 'client', `InvalidToken('associated client not found')`, 'userinfo: the "associated client not found" error built only when it is thrown'),
  errorBuiltOnlyWhenThrown('lib/shared/access_token.js', 'account', `InvalidToken('associated account not found')`, 'userinfo: the "associated account not found" error built only when it is thrown'),
  errorBuiltOnlyWhenThrown('lib/helpers/validate_dpop.js', 'unique', `ErrorClass('DPoP proof JWT Replay detected')`, 'DPoP: the replay error built only when a proof is replayed'),
  {
    package: 'oidc-provider',
    file: 'lib/shared/reject_structured_tokens.js',
    why: 'introspection and revocation: an opaque token (no dot) is not parsed as a JWT, which threw and caught a TypeError each time',
    original: `  let tokenIsJWT;
  try {`,
    patched: `  let tokenIsJWT;
  // iam patch (src/dependency-patches.ts): a token without a dot is no JWT; parsing it would throw.
  if (params.token.includes('.')) try {`,
  },
]

/** oidc-provider's `ctx.assert(value, new Error(…))` in `file`, as a throw that builds the error only when it throws it. */
function errorBuiltOnlyWhenThrown(file: string, value: string, error: string, why: string): DependencyPatch {
  return {
    package: 'oidc-provider',
    file,
    why,
    original: `ctx.assert(${value}, new ${error});`,
    patched: `if (!${value}) throw new ${error}; // iam patch (src/dependency-patches.ts): built only when thrown`,
  }
}

export type PatchState = 'patched' | 'unpatched' | 'unknown' | 'missing'

function patchFile(root: string, patch: DependencyPatch): string {
  return path.join(root, 'node_modules', patch.package, patch.file)
}

/** Where a patch stands in the installed package under `root`. */
export function patchState(root: string, patch: DependencyPatch): PatchState {
  let text: string
  try { text = readFileSync(patchFile(root, patch), 'utf8') } catch { return 'missing' }
  if (text.includes(patch.patched)) return 'patched'
  return text.includes(patch.original) ? 'unpatched' : 'unknown'
}

/** Applies every patch that is not yet applied; returns each patch's state afterwards, and whether this call changed it. */
export function applyDependencyPatches(root: string): Array<{ patch: DependencyPatch; state: PatchState; applied: boolean }> {
  return DEPENDENCY_PATCHES.map((patch) => {
    const state = patchState(root, patch)
    if (state !== 'unpatched') return { patch, state, applied: false }
    const file = patchFile(root, patch)
    writeFileSync(file, readFileSync(file, 'utf8').replace(patch.original, patch.patched))
    return { patch, state: patchState(root, patch), applied: true }
  })
}

/** The patches not in effect under `root`, described for a log line. */
export function missingDependencyPatches(root: string): string[] {
  return DEPENDENCY_PATCHES.flatMap((patch) => {
    const state = patchState(root, patch)
    return state === 'patched' ? [] : [`${patch.package}/${patch.file} (${state}): ${patch.why}`]
  })
}

/**
 * A copy of a package as released: the installed one under `root` with every patch to it taken
 * out again, at `into`/node_modules/<packageName>. With `into` inside root's node_modules, the
 * copy's own dependencies resolve to the installed ones. For the benchmark's baseline and the
 * patches' tests.
 */
export function releasedCopy(root: string, packageName: string, into: string): string {
  const dir = path.join(into, 'node_modules', packageName)
  rmSync(dir, { recursive: true, force: true })
  cpSync(path.join(root, 'node_modules', packageName), dir, { recursive: true })
  for (const patch of DEPENDENCY_PATCHES.filter((p) => p.package === packageName)) {
    const file = patchFile(into, patch)
    writeFileSync(file, readFileSync(file, 'utf8').replace(patch.patched, patch.original))
    if (patchState(into, patch) !== 'unpatched') throw new Error(`${patch.package}/${patch.file}: could not restore the released text`)
  }
  return dir
}
