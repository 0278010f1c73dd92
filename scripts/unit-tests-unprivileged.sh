#!/usr/bin/env bash
# SPECIFICATION P10: every crate's unit tests (`cargo test --workspace --lib`) pass without
# root and offline. Each crate's lib test binary runs as nobody, in a network namespace holding
# only loopback, from a copy under /tmp (with the crate's tests/ fixtures: nobody may not reach
# the checkout); prints how long they took. Needs root to make the namespace and become nobody.
set -euo pipefail
cd "$(dirname "$0")/.."

# Building is not the measure: the binaries are the ones the whole suite builds anyway.
mapfile -t units < <(
    cargo test --workspace --lib --locked --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"manifest_path":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p' | sort -u
)
if [ "${#units[@]}" -eq 0 ]; then
    echo "unit-tests-unprivileged: no lib test binaries were built" >&2
    exit 1
fi

stage=$(mktemp -d /tmp/berth-units.XXXXXX)
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
for unit in "${units[@]}"; do
    crate_dir=$(dirname "${unit% *}")
    copy="$stage/$(basename "$crate_dir")"
    mkdir -p "$copy"
    cp "${unit#* }" "$copy/"
    if [ -d "$crate_dir/tests" ]; then
        cp -r "$crate_dir/tests" "$copy/"
    fi
done
chmod -R a+rX "$stage"

start=$(date +%s%N)
passed=0
failed=0
for unit in "${units[@]}"; do
    copy="$stage/$(basename "$(dirname "${unit% *}")")"
    exe="$copy/$(basename "${unit#* }")"
    set +e
    out=$(cd "$copy" && unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
        setpriv --reuid=65534 --regid=65534 --clear-groups \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp \
        CARGO_MANIFEST_DIR="$copy" "$exe" -q 2>&1)
    rc=$?
    set -e
    summary=$(printf '%s\n' "$out" | grep -E '^test result' | tail -1)
    n=$(printf '%s\n' "$summary" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')
    passed=$((passed + ${n:-0}))
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + 1))
        printf '%s\n' "$out" | tail -40
        echo "unit-tests-unprivileged: $(basename "$exe") failed as nobody (exit $rc)"
    fi
done
took=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'unit tests as nobody, offline: %d passed in %d.%03d s; %d crates failed\n' \
    "$passed" $((took / 1000)) $((took % 1000)) "$failed"
[ "$failed" -eq 0 ]
