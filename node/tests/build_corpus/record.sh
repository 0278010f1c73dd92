#!/usr/bin/env bash
# Records what Docker's classic builder makes of each corpus Dockerfile, as expected.json beside
# it: the final image's config fields the build sets, and its history. Run against a Docker 20.10
# daemon that has busybox:latest imported from scripts/busybox-rootfs.sh with CMD ["sh"]:
#   DOCKER=/usr/bin/docker DOCKER_HOST=unix:///tmp/dref/docker.sock bash record.sh [CASE...]
# Cases the classic builder cannot build (heredocs) keep their hand-written expected.json.
set -euo pipefail
cd "$(dirname "$0")"
DOCKER=${DOCKER:-docker}
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=($(ls -d */ | tr -d /))
for c in "${cases[@]}"; do
  tag="berth-corpus:$c"
  args=()
  if [ -f "$c/build.args" ]; then
    while IFS= read -r l; do args+=(--build-arg "$l"); done <"$c/build.args"
  fi
  if ! DOCKER_BUILDKIT=0 "$DOCKER" build -q "${args[@]}" -t "$tag" "$c" >/dev/null 2>"/tmp/record-$c.err"; then
    echo "$c: not built by this daemon ($(tail -1 "/tmp/record-$c.err")); keeping expected.json as it is"
    continue
  fi
  id=$("$DOCKER" image inspect -f '{{.Id}}' "$tag")
  "$DOCKER" save "$tag" | tar -xOf - "${id#sha256:}.json" | python3 -c '
import json, sys
cfg = json.load(sys.stdin)
keys = ["Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
        "Healthcheck", "StopSignal", "OnBuild", "Shell", "ArgsEscaped"]
out = {
    "source": "Docker 20.10 classic builder (DOCKER_BUILDKIT=0)",
    "config": {k: cfg["config"].get(k) for k in keys},
    "history": [{k: h[k] for k in ("created_by", "empty_layer", "comment") if k in h}
                for h in cfg.get("history", [])],
    "layers": len(cfg["rootfs"]["diff_ids"]),
}
json.dump(out, sys.stdout, indent=2, sort_keys=True)
print()
' >"$c/expected.json"
  "$DOCKER" rmi "$tag" >/dev/null
  echo "$c: recorded"
done
