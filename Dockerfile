# syntax=docker/dockerfile:1
#
# The identity provider as a container image: `serve` by default, `migrate` (or any other CLI
# command of src/main.ts) as an argument. See docs/deploy.md.
#
#   docker build -t iam .
#   docker run --rm iam migrate                      # prisma migrate deploy, then exit
#   docker run -p 3000:3000 --read-only -e … iam     # serve (the default command)
#
# How each step maps to README.md / scripts/iam.sh (`scripts/iam.sh start`), which CI runs on a
# fresh machine; test/unit/dockerfile.test.ts checks the correspondences marked [checked]:
#
#   iam.sh / README                       this Dockerfile
#   ------------------------------------  -------------------------------------------------------
#   ensure_node: Node NODE_VERSION        FROM node:<NODE_VERSION>-bookworm-slim, the same release
#     (24.21.0) when `node` is older        [checked], within package.json engines [checked];
#     than 22                               bump both together
#   ensure_node_modules: `npm ci`         `npm ci --ignore-scripts`, then exactly the install
#     (npm runs the scripts package.json    scripts that package.json `allowScripts` permits
#     `allowScripts` permits, and the       (`npm rebuild <name>` for each `true` [checked]) and
#     root `postinstall`: prisma generate,  the root postinstall itself (`npm run postinstall`
#     patch-package --error-on-fail)        [checked]): a patch that no longer applies fails the
#                                           build. Explicit, so an npm without allowScripts
#                                           support cannot run denied scripts (e.g.
#                                           @prisma/engines' download from binaries.prisma.sh:
#                                           the project uses the wasm engines).
#   ensure_node_modules: argon2's SIMD    `npm run build:argon2` (opt-in elsewhere; here the
#     builds when a toolchain is there      toolchain is installed) into native/, copied to the
#                                           runtime [checked]; native/ exists even where nothing
#                                           is built (arm64), so the copy never fails [checked]
#   build_console: `npm run build:console` the same `npm run build:console` after the sources
#     (the admin console, dist/console)     are copied, before pruning (Vite is a dev dependency);
#                                           dist/console is copied to the runtime [checked]
#   (no equivalent: dev tooling stays)    `npm prune --omit=dev`: production dependencies only.
#                                           prisma (the CLI behind `migrate`) is a dependency,
#                                           so it stays [checked]
#   `npm run iam -- seed` (first start)   not in the image: seeding is a one-time operator action,
#                                           `docker run … iam seed` / docs/deploy.md [checked: the
#                                           command exists in src/cli.ts]
#   `npm start` = `node src/main.ts serve` ENTRYPOINT node src/main.ts, CMD serve: the same entry
#                                           file; Node strips the types itself (tsconfig's
#                                           erasableSyntaxOnly keeps the sources strippable), no
#                                           loader, and SIGTERM reaches the server [checked]
#   docs/operations.md: migrate, serve    `migrate` / `serve` as arguments [checked: both exist]
#   PORT default 3000                     EXPOSE 3000 [checked against src/config.ts]
#   /healthz (observability/health.ts)    HEALTHCHECK [checked: the path exists there]

ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---------------------------------------------------------------------------------------------
# build: install every dependency, build the native addon, generate the Prisma client, then
# drop development dependencies. Same base image as the runtime, so argon2's binary matches.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# argon2 ships prebuilt binaries (linux-x64 and linux-arm64, glibc); these tools compile its
# AVX2 and AVX-512 builds (npm run build:argon2, below; docs/adr/0261-argon2-builds.md), and argon2
# itself on a platform without a prebuilt binary.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# Dependencies first (cached until the lockfile or a patch changes). The postinstall needs the
# schema and prisma.config.ts (prisma generate) and patches/ (patch-package --error-on-fail:
# docs/adr/0260-dependency-patches.md).
COPY package.json package-lock.json .npmrc ./
COPY prisma ./prisma
COPY patches ./patches
RUN npm ci --ignore-scripts \
 && npm rebuild argon2 \
 && npm run postinstall

# The application: TypeScript sources run as they are (no build step), page templates, schema.
COPY tsconfig.json ./
COPY src ./src
COPY interactions ./interactions
COPY locales ./locales
COPY scripts/build-argon2.ts ./scripts/

# argon2's SIMD builds into native/ (this CPU need not run them: the runtime picks what its CPU can,
# after a known-answer self-test). Where nothing is built (not x86-64), native/ stays empty and the
# runtime uses the package's binary. The admin console: a Vite build (a development dependency)
# into dist/console, as iam.sh's build_console does. Then development dependencies go.
RUN mkdir -p native \
 && npm run build:argon2 \
 && npm run build:console \
 && npm prune --omit=dev --ignore-scripts \
 && rm -rf node_modules/.cache
# The generated client (src/generated, git-ignored and excluded by .dockerignore) came from
# `npm run generate` above; copying src/ does not overwrite it.

# ---------------------------------------------------------------------------------------------
# runtime: production dependencies and sources only, owned by root and read-only to the server.
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app

# uid/gid 10001: not root, and not the image's `node` user (1000), so a host uid is not shared.
# The data and keys directories are the server's alone (0700): it checks that at start and warns
# about anything wider, which a fresh volume (filled from these) would otherwise trip.
RUN groupadd --system --gid 10001 iam \
 && useradd --system --uid 10001 --gid iam --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin iam \
 && mkdir -p /var/lib/iam/data /var/lib/iam/keys \
 && chown -R 10001:10001 /var/lib/iam \
 && chmod 0700 /var/lib/iam /var/lib/iam/data /var/lib/iam/keys

COPY --from=build /app/package.json /app/package-lock.json /app/tsconfig.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/native ./native
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/src ./src
COPY --from=build /app/interactions ./interactions
COPY --from=build /app/locales ./locales
COPY --from=build /app/dist/console ./dist/console

# Nothing is written under /app at runtime. The only writable place the server needs is
# /var/lib/iam (embedded database and generated keys when not given by env; a volume, or an
# emptyDir in Kubernetes). In production the keys come from JWKS / JWKS_FILE, COOKIE_KEYS and
# ENCRYPTION_KEYS (env or mounted secrets) and the database from DATABASE_URL.
#   CHECKPOINT_DISABLE: the Prisma CLI (run by `migrate` and at `serve` start) neither phones
#     home nor writes its checkpoint cache. HOME=/tmp for any other tool's cache.
#   NODE_OPTIONS: V8's young generation is capped at 16 MB semi-spaces instead of its 64 MB on
#     big hosts: ~90 MB less RSS per process, no throughput lost in the benchmark's A/B
#     (docs/performance.md, "Memory"); scripts/iam.sh start uses the same default. The old
#     generation is sized by V8 from the container's memory limit (with WORKERS > 1 the primary
#     divides it between the workers). Setting NODE_OPTIONS replaces this default.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=16 \
    PORT=3000 \
    DATA_DIR=/var/lib/iam/data \
    KEYS_DIR=/var/lib/iam/keys \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    HOME=/tmp

VOLUME ["/var/lib/iam"]
USER 10001:10001
EXPOSE 3000

# Liveness as Kubernetes sees it (/healthz). No curl in the slim image: Node's fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "src/main.ts"]
CMD ["serve"]
