#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what is missing, brings up what the
# tests need, then checks formatting and lints and runs every test of the three workspaces
# (the host, the agents, the test components). Safe to run again: it only installs what is missing.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."

started=$SECONDS
log() { printf '\n==> %s\n' "$*"; }

# Debian packages the build and the tests need: a C compiler (ring, wasmtime's C shims) and
# PostgreSQL (every database test runs on SQLite and on a real PostgreSQL).
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
# The sandbox tests drive a real Docker engine (Debian's), and a real browser (headless Chromium).
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
# The sandbox layer removes the default route Docker 20 gives internal networks: nsenter and ip.
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# gVisor: the sandbox suite runs a second time with sandboxes under its user-space kernel.
command -v runsc >/dev/null 2>&1 || missing+=(runsc)
# The conformance test serves the frontend's preview libraries, installed from npm.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# The deploy tests read objects back with the AWS CLI, installed from PyPI into a venv.
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install rustup (https://rustup.rs), then run this again;" >&2
  echo "rust-toolchain.toml pins the toolchain and the wasm32-wasip2 target, which rustup fetches." >&2
  exit 1
fi
# rustup reads rust-toolchain.toml; make sure its target is present even on an older rustup.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true

# Tools from registries, kept outside the checkout: the S3-compatible server the deploy tests
# store releases in (s3s-fs, crates.io) and the AWS CLI (PyPI) they check objects and benchmark
# against.
tools=/var/cache/blink-tools
export PATH="$tools/bin:$tools/aws/bin:$PATH"
if ! command -v s3s-fs >/dev/null 2>&1; then
  log "installing s3s-fs"
  CARGO_TARGET_DIR="$tools/build" cargo install --quiet s3s-fs --version 0.14.1 --features binary --root "$tools"
fi
if ! command -v aws >/dev/null 2>&1; then
  log "installing the AWS CLI"
  python3 -m venv "$tools/aws"
  "$tools/aws/bin/pip" install --quiet --disable-pip-version-check awscli
fi
# Prometheus's own Python client, whose parser the metrics tests read the host's `/metrics` with,
# and schemathesis, the fuzzer that reads the host's OpenAPI description and tries it.
python_tools="$tools/py"
if ! "$python_tools/bin/python" -c "import prometheus_client, schemathesis" >/dev/null 2>&1 \
  || [ "$("$python_tools/bin/st" --version 2>/dev/null)" != "st, version 4.32.5" ]; then
  log "installing prometheus-client and schemathesis"
  python3 -m venv "$python_tools"
  "$python_tools/bin/pip" install --quiet --disable-pip-version-check "prometheus-client==0.26.0" "schemathesis==4.32.5"
fi
export BLINK_TOOLS_PYTHON="$python_tools/bin/python"
# The libraries today's frontend loads from CDNs into its preview, at its versions, for the
# conformance test (tests/conformance/preview); installed again only when the lockfile changed.
# `installed.json` is the lockfile of the last install that finished, so an interrupted one is redone.
preview_libs="$tools/preview-libs"
if ! cmp -s tests/conformance/preview/package-lock.json "$preview_libs/installed.json"; then
  log "installing the preview libraries"
  rm -rf "$preview_libs"
  mkdir -p "$preview_libs"
  cp tests/conformance/preview/package.json tests/conformance/preview/package-lock.json "$preview_libs/"
  npm ci --prefix "$preview_libs" --ignore-scripts --no-audit --no-fund --loglevel=error
  cp tests/conformance/preview/package-lock.json "$preview_libs/installed.json"
fi
export BLINK_PREVIEW_LIBS="$preview_libs/node_modules"

log "PostgreSQL"
# The Debian cluster, started if it is not running; a role for the tests that may create databases.
cluster=$(pg_lsclusters --no-header | awk 'NR == 1 { print $1 " " $2 }')
if [ -z "$cluster" ]; then
  pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main
  cluster=$(pg_lsclusters --no-header | awk 'NR == 1 { print $1 " " $2 }')
fi
# shellcheck disable=SC2086
pg_ctlcluster $cluster start 2>/dev/null || true
# shellcheck disable=SC2086
port=$(pg_lsclusters --no-header | awk -v c="$cluster" '$1 " " $2 == c { print $3 }')
for _ in $(seq 1 30); do
  su postgres -c "psql -p $port -tAc 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -tAc \"DO \\\$\\\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'blink_test') THEN
    CREATE ROLE blink_test LOGIN CREATEDB PASSWORD 'blink_test';
  END IF; END \\\$\\\$;\"" >/dev/null
# Databases earlier runs' tests created.
for db in $(su postgres -c "psql -p $port -tAc \"SELECT datname FROM pg_database WHERE datname LIKE 'blink\\_test\\_%'\""); do
  su postgres -c "dropdb -p $port --if-exists $db" || true
done
export BLINK_TEST_POSTGRES_URL="postgres://blink_test:blink_test@127.0.0.1:$port/postgres"
echo "PostgreSQL on port $port"

log "Docker engine and the sandbox image"
# gVisor registered with the engine as `runsc`. Its own network stack cannot run under Docker 20
# ("cannot run with network enabled in root network namespace"); `--network=host` hands sockets to
# the host kernel inside the container's network namespace, where Docker's network, the host's
# fence and the sandbox's seal apply as under runc.
python3 - "$(command -v runsc)" <<'PY'
import json, os, sys
path = "/etc/docker/daemon.json"
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
wanted = {"path": sys.argv[1], "runtimeArgs": ["--network=host"]}
if config.get("runtimes", {}).get("runsc") != wanted:
    config.setdefault("runtimes", {})["runsc"] = wanted
    os.makedirs("/etc/docker", exist_ok=True)
    json.dump(config, open(path + ".tmp", "w"), indent=2)
    os.replace(path + ".tmp", path)
PY
if docker info >/dev/null 2>&1 && ! docker info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then
  # A running engine reads its runtimes again on SIGHUP.
  kill -HUP "$(pidof dockerd)"
  for _ in $(seq 1 20); do
    docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && break
    sleep 0.5
  done
fi
if ! docker info >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup dockerd >/var/log/blink-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:" >&2; tail -n 30 /var/log/blink-dockerd.log >&2; exit 1; }
fi
docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' \
  || { echo "the Docker engine did not register gVisor's runsc (see /etc/docker/daemon.json)" >&2; exit 1; }
# Sandboxes an interrupted earlier run left behind.
stale=$(docker ps -aq --filter label=blink.sandbox=1)
[ -z "$stale" ] || docker rm -f $stale >/dev/null
# Builds only when its inputs changed (the script labels the image with their hash).
./sandbox/build-image.sh

# The README's first command on a toolchain that lacks the agents' target (rustup adds a pinned
# target only when it installs the toolchain): its build must add the target back.
log "the first command's build, on a toolchain without wasm32-wasip2"
rustup target remove wasm32-wasip2 >/dev/null
touch agents/build/src/lib.rs host/build.rs
cargo build --locked -p blink-host --bin blink
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "the first command's build did not add the wasm32-wasip2 target" >&2
  exit 1
fi

log "formatting"
cargo fmt --all --check
cargo fmt --manifest-path agents/Cargo.toml --all --check
cargo fmt --manifest-path tests/components/Cargo.toml --all --check
cargo fmt --manifest-path plugins/a11y-validator/Cargo.toml --all --check

log "lints"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked --manifest-path agents/Cargo.toml --workspace --all-targets -- -D warnings
cargo clippy --locked --manifest-path tests/components/Cargo.toml --workspace --all-targets -- -D warnings
cargo clippy --locked --manifest-path plugins/a11y-validator/Cargo.toml --all-targets -- -D warnings

results=$(mktemp)
trap 'rm -f "$results"' EXIT

log "agent logic (native)"
cargo test --locked --manifest-path agents/Cargo.toml --workspace 2>&1 | tee -a "$results"

log "host: unit, component runtime and end-to-end tests"
cargo test --locked --workspace -- --skip killed_at_random --skip cut_by_a_power_loss 2>&1 | tee -a "$results"

# Shown as they run: each prints its seed first, which replays a failure.
log "the host killed at random, and its database cut by power losses"
cargo test --locked -p blink-host --test chaos --test power_loss -- --nocapture 2>&1 | tee -a "$results"

log "sandboxes again, under gVisor (runsc)"
BLINK_SANDBOX_RUNTIME=runsc cargo test --locked -p blink-host --test sandbox 2>&1 | tee -a "$results"

# After the end-to-end tests, which built the plugin (and its bindings, which the glue tests use).
log "the Python example plugin's checks"
python3 -m unittest discover -s plugins/py-quality-validator -t plugins/py-quality-validator 2>&1 | tee -a "$results"

# One closing line for the whole suite (cargo prints one per test binary, the last often a
# doc-test run with nothing in it).
echo "test suite took $((SECONDS - started))s"
awk '/^test result:/ { p += $4; f += $6 }
     /^Ran [0-9]+ tests?/ { ran = $2 } /^FAILED \(/ { bad = 1 }
     END { if (ran) { if (bad) f += 1; else p += ran } }
     END { printf "\nsuite: %d passed, %d failed\n", p, f }' "$results"
