#!/usr/bin/env bash
# Installs what berth needs on a fresh Debian machine: the build libraries, busybox-static for
# the test image, the tools the tests and benchmarks compare against, and a registry (with
# htpasswd) for the pull/push tests, python3 (mounted into test containers for UDP) and docker-py
# (python3-docker: the remote API's TLS test connects with its TLSConfig) and docker-compose 1.x.
set -euo pipefail
pkgs=(busybox-static libseccomp-dev pkg-config iproute2 nftables curl runc docker-registry apache2-utils skopeo python3 python3-docker docker-compose)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
command -v docker >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-cli >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
