#!/usr/bin/env bash
# Builds this agent into a WebAssembly component with componentize-py (installed for $PYTHON if
# missing) and prints the component's path, last.
set -euo pipefail
COMPONENTIZE_PY_VERSION=0.25.1
PYTHON=${PYTHON:-python3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

installed=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("componentize-py"))' 2>/dev/null || true)
if [ "$installed" != "$COMPONENTIZE_PY_VERSION" ]; then
  echo "installing componentize-py $COMPONENTIZE_PY_VERSION (found: ${installed:-none})" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
# The console script may not be on PATH (pip --user); the module always is.
componentize_py() { "$PYTHON" -c 'import sys, componentize_py; sys.exit(componentize_py.script())' "$@"; }

mkdir -p "$here/target"
(cd "$here" && componentize_py -q -d wit -w {{role}} componentize app -p . -o "target/{{crate}}.wasm")
echo "$here/target/{{crate}}.wasm"
