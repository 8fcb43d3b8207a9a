#!/usr/bin/env bash
# Builds this agent into a WebAssembly component with componentize-js (installed into
# ./node_modules by npm unless Node finds it already) and prints the component's path, last.
set -euo pipefail
COMPONENTIZE_JS_VERSION=0.23.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
# Found where Node looks for it: here, or in node_modules of a folder above (shared by agents).
found=
dir=$here
while [ -z "$found" ] && [ "$dir" != / ]; do
  manifest=$dir/node_modules/@bytecodealliance/componentize-js/package.json
  [ -f "$manifest" ] && found=$(node -p "require('$manifest').version")
  dir=$(dirname "$dir")
done
if [ "$found" != "$COMPONENTIZE_JS_VERSION" ]; then
  echo "installing componentize-js $COMPONENTIZE_JS_VERSION" >&2
  npm install --silent --no-audit --no-fund "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" >&2
fi
node build.mjs
echo "$here/target/{{crate}}.wasm"
