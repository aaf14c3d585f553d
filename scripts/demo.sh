#!/usr/bin/env bash
# The executor demo behind `make run`: real guests and a hostile one through `outlayer run`.
set -uo pipefail
cd "$(dirname "$0")/.."
OUTLAYER=.venv/bin/outlayer

show() {
  printf '\n$ outlayer %s\n' "$*"
  "$OUTLAYER" "$@"
  printf '(exit %s)\n' "$?"
}

show run build/guests/echo_json_rust.wasm --input '{"name": "NEAR"}' --env GREETING=gm --format json
show run build/guests/echo_json_c.wasm --input 'hello from C' --format json
echo
echo "A hostile guest (an infinite loop) is stopped by the instruction limit:"
show run tests/guests/infinite_loop.wat --max-instructions 50000000
echo
echo "Next: 'outlayer executor serve' serves the same sandbox over gRPC (see README.md)."
