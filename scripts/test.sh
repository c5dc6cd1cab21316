#!/usr/bin/env bash
# Runs the whole check (lint, format, typecheck, unit, integration, deploy and fault tests), installing
# what it needs.
# Quick start: ./scripts/test.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_node
ensure_deps
ensure_redis
ensure_prometheus
ensure_kubectl
ensure_chromium
ensure_helm
ensure_awscli
ensure_shellcheck
cd "$KJL_ROOT"
exec npm run check
