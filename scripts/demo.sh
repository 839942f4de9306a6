#!/usr/bin/env bash
# make demo / make demo-clean: runs test/demo (see its doc comment).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
if [ "${1:-}" = clean ]; then
  exec go run ./test/demo -clean
fi
exec go run ./test/demo
