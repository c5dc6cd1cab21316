#!/usr/bin/env bash
# Runs the kjl command line from this checkout, installing what it needs first.
# Quick start: ./scripts/kjl.sh dev
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_node
ensure_deps
if [ "${1:-}" = dev ] && [ -z "${KJL_REDIS_URL:-}" ]; then ensure_redis; fi
ensure_build
exec node "$KJL_ROOT/dist/cli/main.js" "$@"
