#!/usr/bin/env bash
# Builds berth (release), starts berthd on the default socket, imports a busybox image and runs
# a container with the berth CLI, then makes a one-node swarm, a service of 3 replicas and
# scales it to 5, a web service on an overlay network published through the routing mesh,
# and a stack from examples/ scaled up. Leaves berthd running; stop it with:
# kill $(cat /run/berth/berthd.pid)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --locked --bins
bin=$PWD/target/release
sock=/run/berth/berth.sock
if ! "$bin/berth" -H "unix://$sock" version >/dev/null 2>&1; then
  mkdir -p /run/berth /var/log
  nohup "$bin/berthd" >/var/log/berthd.log 2>&1 &
  echo $! >/run/berth/berthd.pid
  for _ in $(seq 100); do "$bin/berth" -H "unix://$sock" version >/dev/null 2>&1 && break; sleep 0.1; done
fi
export BERTH_HOST=unix://$sock
if ! "$bin/berth" image inspect busybox:latest >/dev/null 2>&1; then
  bash scripts/busybox-rootfs.sh /tmp/berth-busybox.tar
  "$bin/berth" import -c 'CMD ["sh"]' /tmp/berth-busybox.tar busybox:latest
fi
"$bin/berth" run --rm busybox echo "hello from a berth container"
"$bin/berth" run -d --name quickstart-web busybox sh -c 'while true; do date; sleep 1; done' >/dev/null 2>&1 || true
"$bin/berth" ps
"$bin/berth" exec quickstart-web sh -c 'echo "exec into a running container: $(hostname)"' || true
# Swarm mode on this one machine: a manager, a replicated service, a scale.
if [ "$("$bin/berth" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" != "active" ]; then
  "$bin/berth" swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377
fi
"$bin/berth" service rm quickstart-svc >/dev/null 2>&1 || true
"$bin/berth" service create --no-resolve-image --name quickstart-svc --replicas 3 busybox sleep 3600
"$bin/berth" service scale quickstart-svc=5
# An overlay network, a service on it publishing a port through the routing mesh, and a
# standalone container on the same network reaching it by name.
"$bin/berth" network inspect quickstart-net >/dev/null 2>&1 ||
  "$bin/berth" network create -d overlay --attachable quickstart-net
"$bin/berth" service rm quickstart-web >/dev/null 2>&1 || true
"$bin/berth" service create --no-resolve-image --name quickstart-web --network quickstart-net \
  --replicas 2 -p 18080:8080 busybox sh -c 'echo "hello from $(hostname)" > /i && exec httpd -f -p 8080 -h /'
for _ in $(seq 100); do
  [ "$("$bin/berth" service ls --filter name=quickstart-web --format '{{.Replicas}}')" = 2/2 ] && break
  sleep 0.2
done
"$bin/berth" run --rm --network quickstart-net busybox nslookup quickstart-web || true
printf 'GET /i HTTP/1.0\r\n\r\n' | busybox nc -w 3 127.0.0.1 18080 | tail -n 1 || true
# A stack from examples/: a web tier serving a config through the routing mesh, a cache and
# a worker, declared in one Compose file; then its web tier scaled.
"$bin/berth" stack plan -c examples/web-cache-worker.yml demo
"$bin/berth" stack deploy --resolve-image never -c examples/web-cache-worker.yml demo
"$bin/berth" service scale --detach demo_web=5
for _ in $(seq 150); do
  [ "$("$bin/berth" service ls --filter name=demo_web --format '{{.Replicas}}')" = 5/5 ] && break
  sleep 0.2
done
"$bin/berth" stack services demo
printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 3 127.0.0.1 18090 | tail -n 1 || true
"$bin/berth" service ls
"$bin/berth" service ps quickstart-svc
"$bin/berth" node ls
echo "berthd is running on $sock (log: /var/log/berthd.log); try: DOCKER_HOST=unix://$sock docker ps"
echo "leave the swarm with: berth swarm leave --force"
