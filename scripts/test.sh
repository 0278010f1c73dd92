#!/usr/bin/env bash
# The whole test suite: format and lint, the unit tests as nobody offline, then unit,
# integration (real berthd, root) and the docker CLI conformance groups, in one nextest run
# whose summary is the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked --bins
# The unit tests again as nobody, offline (SPECIFICATION P10): none may need root or a network.
bash scripts/unit-tests-unprivileged.sh
exec cargo nextest run --workspace --locked --no-fail-fast --test-threads 2
