#!/usr/bin/env bash
# Builds the Blink sandbox image FROM scratch, without pulling any base image.
#
#   sandbox/build-image.sh [TAG]        (default tag: blink-sandbox:latest)
#
# The image is assembled from this machine's Node.js (the `node` on PATH, or
# $BLINK_NODE_BIN), the shared libraries it and the template's native addons
# need (found with ldd), /usr/bin/env, dash as /bin/sh, npm, and an `npm ci`
# of sandbox/template done in a build directory outside the repository. The
# root filesystem is streamed to `docker import` as one tar (no builder, no
# buildx, no base image; ~6x faster than the legacy builder's COPY here).
#
# Layout of the image (see sandbox/README.md):
#   /usr/bin/node, /usr/bin/npm, /usr/bin/npx, /usr/bin/env, /bin/sh (dash)
#   /node_modules          the template's dependencies (read-only at run time;
#                          Node and Vite find them by walking up from /app)
#   /template              the template's files, to seed a new project
#   /usr/local/lib/blink/warm.mjs  a warm sandbox's main process
#   /app                   mount point of the writable project directory
#   /tmp                   mount point of a tmpfs
#   user sandbox (1000:1000), HOME=/tmp, npm cache in /tmp/.npm
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

start_ns=$(date +%s%N)
elapsed_ms() { echo "$((($(date +%s%N) - start_ns) / 1000000))"; }
log() { printf '[build-image] %6d ms  %s\n' "$(elapsed_ms)" "$*" >&2; }
die() { printf '[build-image] error: %s\n' "$*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
template="$here/template"
extras="$here/image"   # files installed into the image (blink-npm, blink-warm.mjs)
script="$here/$(basename "${BASH_SOURCE[0]}")"

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
npm() { "$node_bin" "$npm_dir/bin/npm-cli.js" "$@"; }

# ---------------------------------------------------------------- input hash
# Template files: everything in sandbox/template but dependencies and build output.
template_files() {
  (cd "$template" && find . -type f \
    -not -path './node_modules/*' -not -path './dist/*' -not -name '*.local' \
    | LC_ALL=C sort)
}
inputs_hash="$(
  {
    echo "script $(sha256sum <"$script" | cut -d' ' -f1)"
    echo "node $node_version $(sha256sum <"$node_bin" | cut -d' ' -f1)"
    echo "npm $npm_version"
    echo "strip ${BLINK_STRIP_NODE:-1}"
    template_files | while IFS= read -r f; do
      echo "template $f $(sha256sum <"$template/$f" | cut -d' ' -f1)"
    done
    for f in "$extras"/*; do echo "image $(basename "$f") $(sha256sum <"$f" | cut -d' ' -f1)"; done
  } | sha256sum | cut -d' ' -f1
)"
log "inputs $inputs_hash (node $node_version, npm $npm_version)"

report() {
  local id size
  id="$("$DOCKER" image inspect -f '{{.Id}}' "$TAG")"
  size="$("$DOCKER" image inspect -f '{{.Size}}' "$TAG")"
  printf 'image %s id %s size %s MB (%s bytes) in %s ms\n' \
    "$TAG" "$id" "$((size / 1000000))" "$size" "$(elapsed_ms)"
}

existing_image() {
  "$DOCKER" images -q --no-trunc --filter "label=$LABEL_KEY=$inputs_hash" | head -n1
}
existing="$(existing_image)"
if [ -n "$existing" ] && [ "${BLINK_FORCE:-0}" != 1 ]; then
  log "an image with these inputs exists; tagging it $TAG"
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
# One build at a time per cache directory (concurrent CI jobs, tests).
exec 9>"$cache/lock"
flock 9
log "build directory $cache"

# ---------------------------------------------------------------- dependencies
# `npm ci` keyed by the manifest, the lock file and the node/npm versions;
# reused across builds (only the two most recent trees are kept).
deps_key="$( { cat "$template/package.json" "$template/package-lock.json"; \
  echo "$node_version $npm_version"; } | sha256sum | cut -c1-16)"
deps="$cache/deps-$deps_key"
if [ ! -d "$deps/node_modules" ]; then
  log "npm ci of the template in $deps"
  rm -rf "$deps.tmp"
  mkdir -p "$deps.tmp"
  cp "$template/package.json" "$template/package-lock.json" "$deps.tmp/"
  (cd "$deps.tmp" && npm ci --no-audit --no-fund --loglevel=error >&2)
  rm -rf "$deps" && mv "$deps.tmp" "$deps"
  { ls -1dt "$cache"/deps-* | grep -v '\.tmp$' | tail -n +3 | xargs -r rm -rf; } 2>/dev/null || true
else
  log "reusing the dependencies in $deps"
fi

# ---------------------------------------------------------------- root filesystem
root="$cache/rootfs"
rm -rf "$root"
# Merged /usr layout, as in Debian 12.
mkdir -p "$root/usr/bin" "$root/usr/local/bin" "$root/usr/lib/node_modules" "$root/usr/lib64" "$root/usr/sbin" \
  "$root/usr/etc" "$root/etc" "$root/tmp" "$root/app" "$root/root" \
  "$root/proc" "$root/sys" "$root/dev"
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
ln -s usr/sbin "$root/sbin"
chmod 1777 "$root/tmp"
chmod 755 "$root/app"
chmod 700 "$root/root"

# Copies a file to the same path inside the image (following symlinks), under
# its canonical directory, so /lib/x/... and /usr/lib/x/... both resolve.
put() {
  local dir
  dir="$(readlink -f "$(dirname "$1")")"
  mkdir -p "$root$dir"
  cp -L --preserve=mode "$1" "$root$dir/$(basename "$1")"
}

if [ "${BLINK_STRIP_NODE:-1}" = 1 ] && command -v strip >/dev/null; then
  strip -o "$root/usr/bin/node" "$node_bin"
else
  cp "$node_bin" "$root/usr/bin/node"
fi
chmod 755 "$root/usr/bin/node"
# npm's bin scripts start with `#!/usr/bin/env node`.
put /usr/bin/env
# npm runs lifecycle scripts with /bin/sh.
dash_bin="$(command -v dash || true)"
[ -n "$dash_bin" ] || die "dash not found (Debian: apt-get install dash)"
cp -L "$dash_bin" "$root/usr/bin/dash"
ln -s dash "$root/usr/bin/sh"
# Text only (there is no bash to run it): detect-libc and the napi-rs loaders
# (rolldown, lightningcss, tailwind's oxide) read it to tell glibc from musl
# without spawning `ldd --version`.
if [ -f /usr/bin/ldd ]; then cp -L /usr/bin/ldd "$root/usr/bin/ldd"; chmod 644 "$root/usr/bin/ldd"; fi

# npm, with the usual bin links, and a global npmrc (<prefix>/etc/npmrc):
# cache and logs in the tmpfs, no update checks, audits or funding messages.
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
cat >"$root/usr/etc/npmrc" <<'EOF'
omit-lockfile-registry-resolved=true
cache=/tmp/.npm
logs-dir=/tmp/.npm/_logs
update-notifier=false
fund=false
audit=false
EOF

# blink-npm: npm with the image's packages linked into ./node_modules first.
install -m 755 "$extras/blink-npm" "$root/usr/local/bin/blink-npm"
# warm.mjs: the main process of a warm sandbox (Vite loaded and run once, waiting for a project).
install -D -m 644 "$extras/blink-warm.mjs" "$root/usr/local/lib/blink/warm.mjs"

# Shared libraries: whatever ldd reports for every ELF file we ship.
elf_files() {
  printf '%s\n' "$node_bin" /usr/bin/env "$dash_bin"
  find "$deps/node_modules" "$npm_dir" -type f \( -name '*.node' -o -perm -u+x \) -print \
    | while IFS= read -r f; do
        if [ "$(head -c 4 "$f" | od -An -c | tr -d ' \n')" = '177ELF' ]; then printf '%s\n' "$f"; fi
      done
}
libs="$(
  elf_files | while IFS= read -r f; do
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' || true
  done | LC_ALL=C sort -u
)"
[ -n "$libs" ] || die "ldd found no shared libraries (is node dynamically linked?)"
while IFS= read -r lib; do put "$lib"; done <<<"$libs"
log "shared libraries: $(echo $libs)"

# Users: root and the unprivileged sandbox user (uid/gid 1000), HOME=/tmp.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sandbox:x:1000:1000:sandbox:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
EOF

# The template's files (to seed projects) and its dependencies (hard links:
# the tar below reads them, nothing is copied).
template_files | while IFS= read -r f; do
  mkdir -p "$root/template/$(dirname "$f")"
  cp "$template/$f" "$root/template/$f"
done
cp -al "$deps/node_modules" "$root/node_modules" 2>/dev/null || cp -a "$deps/node_modules" "$root/node_modules"

# ---------------------------------------------------------------- import
previous="$("$DOCKER" image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)"
log "docker import"
tar -C "$root" --sort=name --numeric-owner --owner=0 --group=0 -cf - . \
  | "$DOCKER" import \
      --change 'ENV PATH=/app/node_modules/.bin:/node_modules/.bin:/usr/local/bin:/usr/bin:/bin' \
      --change 'ENV HOME=/tmp' \
      --change 'ENV BLINK_NODE_MODULES=/node_modules' \
      --change 'ENV NO_COLOR=1' \
      --change 'ENV MIMALLOC_PURGE_DELAY=0' \
      --change 'ENV MIMALLOC_PURGE_DECOMMITS=1' \
      --change 'ENV MIMALLOC_ARENA_EAGER_COMMIT=0' \
      --change 'USER 1000:1000' \
      --change 'WORKDIR /app' \
      --change 'EXPOSE 5173' \
      --change "LABEL $LABEL_KEY=$inputs_hash org.blink.sandbox.node=$node_version org.blink.sandbox.npm=$npm_version" \
      --change 'CMD ["node", "/node_modules/vite/bin/vite.js", "--configLoader", "runner"]' \
      --message "blink sandbox $inputs_hash" \
      - "$TAG" >/dev/null
rm -rf "$root"
# The image TAG pointed at before is dropped unless a container or another tag
# still uses it (no --force).
if [ -n "$previous" ] && [ "$previous" != "$("$DOCKER" image inspect -f '{{.Id}}' "$TAG")" ]; then
  "$DOCKER" rmi "$previous" >/dev/null 2>&1 || true
fi
report
