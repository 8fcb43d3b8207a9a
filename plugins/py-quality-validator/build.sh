#!/usr/bin/env bash
# Builds the py-quality validator component with componentize-py, from any directory:
#   plugins/py-quality-validator/build.sh [OUTPUT]
# OUTPUT defaults to plugins/py-quality-validator/target/py_quality_validator.wasm. Also writes
# the Python bindings to target/bindings, so that test_app.py can exercise the WIT glue.
# PYTHON picks the interpreter (default python3); componentize-py is installed for it if missing.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
PYTHON=${PYTHON:-python3}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wit=$(cd "$here/../../wit/since_v0.1.0" && pwd)
out=${1:-$here/target/py_quality_validator.wasm}

installed=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("componentize-py"))' 2>/dev/null || true)
if [ "$installed" != "$COMPONENTIZE_PY_VERSION" ]; then
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION (found: ${installed:-none})" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

mkdir -p "$(dirname "$out")" "$here/target"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

# The componentize-py console script may not be on PATH (pip --user); the module always is.
componentize_py() { "$PYTHON" -c 'import sys, componentize_py; sys.exit(componentize_py.script())' "$@"; }

rm -rf "$here/target/bindings"
componentize_py -q -d "$wit" -w validator bindings "$here/target/bindings"
# componentize-py reads the app from the -p directory; run from there so no stray cwd module is picked up.
(cd "$here" && componentize_py -q -d "$wit" -w validator componentize app -p "$here" -o "$out")
echo "$out"
