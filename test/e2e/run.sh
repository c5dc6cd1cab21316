#!/usr/bin/env bash
# End-to-end scenarios against a real cluster (kind, minikube, …). The cluster is the one of
# KJL_E2E_KUBECONFIG, else KUBECONFIG, else ~/.kube/config; with none reachable it says so and
# exits 0. `--sim` runs the same scenarios against the simulated cluster instead (with rules that
# make its pods behave as the e2e template's busybox would), to check the scenarios themselves.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/env.sh"
ensure_node
ensure_deps
ensure_redis
cd "$KJL_ROOT"
npm run --silent build

if [ "${1:-}" = --sim ]; then
  dir="$(mktemp -d)"
  node dist/cli/main.js sim-cluster --kubeconfig "$dir/kubeconfig" --rules test/e2e/sim-rules.yaml --log-level warn &
  sim=$!
  trap 'kill $sim 2>/dev/null; rm -rf "$dir"' EXIT
  for _ in $(seq 50); do [ -s "$dir/kubeconfig" ] && break; sleep 0.1; done
  export KJL_E2E_KUBECONFIG="$dir/kubeconfig"
else
  config="${KJL_E2E_KUBECONFIG:-${KUBECONFIG:-$HOME/.kube/config}}"
  if [ ! -f "$config" ]; then
    echo "e2e: skipped — no kubeconfig (set KJL_E2E_KUBECONFIG to a kind or minikube cluster, or run with --sim)"
    exit 0
  fi
  if ! node -e '
    const { KubeConfig, VersionApi } = require("@kubernetes/client-node");
    const kc = new KubeConfig(); kc.loadFromFile(process.argv[1]);
    kc.makeApiClient(VersionApi).getCode().then(() => process.exit(0), () => process.exit(1));
  ' "$config"; then
    echo "e2e: skipped — the cluster of $config does not answer"
    exit 0
  fi
  export KJL_E2E_KUBECONFIG="$config"
fi
echo "e2e: running against the cluster of $KJL_E2E_KUBECONFIG"
npx vitest run -c vitest.e2e.config.ts
