#!/usr/bin/env bash
# Builds the Blink sandbox image FROM scratch, without pulling any base image.
#
#   sandbox/build-image.sh [TAG]        (default tag: blink-sandbox:latest)
#
# The image is assembled from this machine's Node.js (the `node` on PATH, or
# $BLINK_NODE_BIN), the shared libraries it and the template's native addons
# need (found with ldd), /usr/bin/env, dash as /bin/sh, npm, and an `npm ci`
# of sandbox/template done in a build directory outside the repository.
#
# Layout of the image (see sandbox/README.md):
#   /usr/bin/node, /usr/bin/npm, /usr/bin/npx, /usr/bin/env, /bin/sh (dash)
#   /node_modules          the template's dependencies (read-only at run time;
#                          Node and Vite find them by walking up from /app)
#   /template              the template's files, to seed a new project
#   /app                   mount point of the writable project directory
#   /tmp                   mount point of a tmpfs
#   user sandbox (1000:1000), HOME=/tmp
#
# Idempotent: the image carries the label org.blink.sandbox.inputs=<sha256 of
# its inputs> (this script, the template's files, the node binary, npm's
# version); when an image with that label exists, nothing is built and TAG is
# (re)pointed at it.
#
# Environment:
#   BLINK_NODE_BIN           node binary to copy (default: `command -v node`)
#   BLINK_SANDBOX_CACHE      build/cache directory (default /var/cache/blink-sandbox,
#                            or ${XDG_CACHE_HOME:-$HOME/.cache}/blink-sandbox if not writable)
#   BLINK_STRIP_NODE=0       keep node's debug symbols (stripping saves ~12 MB)
#   BLINK_FORCE=1            rebuild even if an image with the same inputs exists
#   DOCKER                   docker client to use (default: docker)
set -euo pipefail

TAG="${1:-blink-sandbox:latest}"
DOCKER="${DOCKER:-docker}"
LABEL_KEY="org.blink.sandbox.inputs"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
template="$here/template"
script="$here/$(basename "${BASH_SOURCE[0]}")"
start_ns=$(date +%s%N)

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { printf '[build-image] error: %s\n' "$*" >&2; exit 1; }

command -v "$DOCKER" >/dev/null || die "docker client '$DOCKER' not found"
"$DOCKER" info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running?)"
[ -f "$template/package.json" ] && [ -f "$template/package-lock.json" ] \
  || die "$template needs package.json and package-lock.json"

node_bin="$(readlink -f "${BLINK_NODE_BIN:-$(command -v node || true)}")"
[ -x "$node_bin" ] || die "node not found (set BLINK_NODE_BIN)"
node_version="$("$node_bin" -v)"
case "$node_version" in v20.*) ;; *) log "warning: node $node_version (the sandbox targets Node.js 20)";; esac

# npm's package directory: the real path of npm-cli.js is <npm>/bin/npm-cli.js.
npm_cli="$(readlink -f "$(command -v npm || true)")"
case "$npm_cli" in
  */bin/npm-cli.js) npm_dir="$(dirname "$(dirname "$npm_cli")")" ;;
  *) npm_dir="$(dirname "$node_bin")/../lib/node_modules/npm" ;;
esac
npm_dir="$(readlink -f "$npm_dir")"
[ -f "$npm_dir/bin/npm-cli.js" ] || die "npm not found next to node (looked in $npm_dir)"
npm_version="$("$node_bin" "$npm_dir/bin/npm-cli.js" -v)"

# ---------------------------------------------------------------- input hash
# Template files: everything in sandbox/template except what .gitignore ignores.
template_files() {
  (cd "$template" && find . -type f \
    -not -path './node_modules/*' -not -path './dist/*' -not -name '*.local' \
    | LC_ALL=C sort)
}
inputs_hash="$(
  {
    echo "script $(sha256sum "$script" | cut -d' ' -f1)"
    echo "node $node_version $(sha256sum "$node_bin" | cut -d' ' -f1)"
    echo "npm $npm_version"
    echo "strip ${BLINK_STRIP_NODE:-1}"
    template_files | while IFS= read -r f; do
      echo "template $f $(sha256sum "$template/$f" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -d' ' -f1
)"
log "inputs $inputs_hash (node $node_version, npm $npm_version)"

report() {
  local id size
  id="$("$DOCKER" image inspect -f '{{.Id}}' "$TAG")"
  size="$("$DOCKER" image inspect -f '{{.Size}}' "$TAG")"
  printf 'image %s id %s size %s MB (%s bytes) built in %s ms\n' "$TAG" "$id" \
    "$((size / 1000000))" "$size" "$((($(date +%s%N) - start_ns) / 1000000))"
}

existing="$("$DOCKER" images -q --no-trunc --filter "label=$LABEL_KEY=$inputs_hash" | head -n1)"
if [ -n "$existing" ] && [ "${BLINK_FORCE:-0}" != 1 ]; then
  log "an image with these inputs exists ($existing); tagging it $TAG"
  "$DOCKER" tag "$existing" "$TAG"
  report
  exit 0
fi

# ---------------------------------------------------------------- build dir
cache="${BLINK_SANDBOX_CACHE:-/var/cache/blink-sandbox}"
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/blink-sandbox"
  mkdir -p "$cache"
fi
case "$(readlink -f "$cache")/" in
  "$(readlink -f "$here/..")"/*) die "the build directory must be outside the repository ($cache)";;
esac
ctx="$cache/context"
rm -rf "$ctx"
mkdir -p "$ctx/base" "$ctx/template"
log "build directory $cache"

# ---------------------------------------------------------------- dependencies
# `npm ci` keyed by the lock file and the node/npm versions; reused across builds.
lock_hash="$(cat "$template/package.json" "$template/package-lock.json" \
  | { cat; echo "$node_version $npm_version"; } | sha256sum | cut -c1-16)"
deps="$cache/deps-$lock_hash"
if [ ! -d "$deps/node_modules" ]; then
  log "npm ci (dependencies of the template) in $deps"
  rm -rf "$deps.tmp"
  mkdir -p "$deps.tmp"
  cp "$template/package.json" "$template/package-lock.json" "$deps.tmp/"
  (cd "$deps.tmp" && "$node_bin" "$npm_dir/bin/npm-cli.js" ci --no-audit --no-fund --loglevel=error >&2)
  rm -rf "$deps" && mv "$deps.tmp" "$deps"
  # Keep only the two most recent dependency trees.
  { ls -1dt "$cache"/deps-* 2>/dev/null | grep -v '\.tmp$' | tail -n +3 | xargs -r rm -rf; } || true
else
  log "reusing dependencies $deps"
fi

# ---------------------------------------------------------------- base layer
base="$ctx/base"
# Merged /usr layout, as in Debian 12.
mkdir -p "$base/usr/bin" "$base/usr/lib" "$base/usr/lib64" "$base/usr/sbin" \
  "$base/etc" "$base/tmp" "$base/app" "$base/proc" "$base/sys" "$base/dev" "$base/root"
ln -s usr/bin "$base/bin"
ln -s usr/lib "$base/lib"
ln -s usr/lib64 "$base/lib64"
ln -s usr/sbin "$base/sbin"
chmod 1777 "$base/tmp"
chmod 700 "$base/root"

# Copies a file to the same path inside the image, following symlinks, and
# placing it under the canonical (merged-usr) directory.
put() {
  local src="$1" dir
  dir="$(readlink -f "$(dirname "$src")")"
  mkdir -p "$base$dir"
  cp -L --preserve=mode "$src" "$base$dir/$(basename "$src")"
}

if [ "${BLINK_STRIP_NODE:-1}" = 1 ] && command -v strip >/dev/null; then
  strip -o "$base/usr/bin/node" "$node_bin"
else
  cp "$node_bin" "$base/usr/bin/node"
fi
chmod 755 "$base/usr/bin/node"
put /usr/bin/env
cp -L "$(readlink -f /bin/sh | grep -q dash && readlink -f /bin/sh || command -v dash)" "$base/usr/bin/dash"
ln -s dash "$base/usr/bin/sh"
# Not executable here (no bash): libc detection (detect-libc, napi-rs loaders)
# reads this file's text to tell glibc from musl without spawning a process.
[ -f /usr/bin/ldd ] && cp -L /usr/bin/ldd "$base/usr/bin/ldd" && chmod 644 "$base/usr/bin/ldd"

# npm, with the usual bin links.
mkdir -p "$base/usr/lib/node_modules"
cp -a "$npm_dir" "$base/usr/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$base/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$base/usr/bin/npx"

# Shared libraries: whatever ldd reports for every ELF file we ship.
elf_files() {
  printf '%s\n' "$node_bin" /usr/bin/env "$base/usr/bin/dash"
  find "$deps/node_modules" "$npm_dir" -type f \( -name '*.node' -o -perm -u+x \) -print \
    | while IFS= read -r f; do
        [ "$(head -c 4 "$f" | od -An -c | tr -d ' \n')" = '177ELF' ] && printf '%s\n' "$f"
      done
}
libs="$(
  elf_files | while IFS= read -r f; do
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' || true
  done | LC_ALL=C sort -u
)"
[ -n "$libs" ] || die "ldd found no shared libraries (is node dynamically linked?)"
while IFS= read -r lib; do put "$lib"; done <<<"$libs"
log "shared libraries: $(echo $libs | tr '\n' ' ')"

# Users: root and the unprivileged sandbox user (uid/gid 1000), HOME=/tmp.
cat >"$base/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sandbox:x:1000:1000:sandbox:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
EOF
cat >"$base/etc/group" <<'EOF'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
EOF
# npm's global config: no update checks, audits or funding messages; caches and
# logs in the tmpfs (the root filesystem is read-only at run time).
mkdir -p "$base/usr/etc"
cat >"$base/usr/etc/npmrc" <<'EOF'
update-notifier=false
fund=false
audit=false
cache=/tmp/.npm
logs-dir=/tmp/.npm/_logs
EOF

# ---------------------------------------------------------------- template
(cd "$template" && template_files | while IFS= read -r f; do
  mkdir -p "$ctx/template/$(dirname "$f")"
  cp -p "$f" "$ctx/template/$f"
done)

# Dependencies go in their own layer; docker's context must hold them, so
# hard-link them into the context (same filesystem) instead of copying.
cp -al "$deps/node_modules" "$ctx/node_modules" 2>/dev/null || cp -a "$deps/node_modules" "$ctx/node_modules"

cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY base/ /
COPY node_modules/ /node_modules/
COPY template/ /template/
ENV PATH=/app/node_modules/.bin:/node_modules/.bin:/usr/local/bin:/usr/bin:/bin \\
    HOME=/tmp \\
    BLINK_NODE_MODULES=/node_modules
USER 1000:1000
WORKDIR /app
EXPOSE 5173
LABEL $LABEL_KEY="$inputs_hash" \\
      org.blink.sandbox.node="$node_version" \\
      org.blink.sandbox.npm="$npm_version"
CMD ["node", "/node_modules/vite/bin/vite.js", "--configLoader", "runner"]
EOF

log "docker build"
# The legacy builder needs no buildx plugin and handles FROM scratch + COPY.
DOCKER_BUILDKIT=0 "$DOCKER" build --quiet -t "$TAG" "$ctx" >/dev/null 2>"$cache/docker-build.log" \
  || { cat "$cache/docker-build.log" >&2; die "docker build failed"; }
rm -rf "$ctx"
report
