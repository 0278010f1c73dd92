"""docker-py against berthd: what its users call, as they call it. Prints one line per check
('ok name' or 'FAIL name: error'); exits 1 when any failed. Usage: client.py unix:///path.sock
PORT (the daemon has the busybox image and is a one-node swarm's manager; PORT is free for
the service to publish)."""
import io
import sys
import tarfile
import time

import docker

c = docker.DockerClient(base_url=sys.argv[1], version="auto")
PORT = int(sys.argv[2])
P = "dpy"
failed = False


def check(name, fn):
    global failed
    try:
        fn()
        print(f"ok {name}")
    except Exception as e:  # every failure is reported, none stops the others
        failed = True
        print(f"FAIL {name}: {type(e).__name__}: {e}"[:600])


def wait_for(what, fn, seconds=60):
    for _ in range(seconds * 2):
        if fn():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def run_and_remove():
    out = c.containers.run("busybox", "sh -c 'echo hi'", remove=True)
    assert out == b"hi\n", out


def one_file_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("f")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def lifecycle():
    ct = c.containers.run(
        "busybox", "sleep 300", detach=True, name=P + "-life", labels={"a": "b"},
        environment={"X": "1"}, mem_limit="64m", cpu_shares=512, ports={"80/tcp": None},
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
        healthcheck={"test": ["CMD", "true"], "interval": 1000000000}, hostname="h1",
        working_dir="/tmp", cap_drop=["NET_RAW"], tmpfs={"/run": "size=1m"},
        ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048)],
        extra_hosts={"foo": "1.2.3.4"}, shm_size="16m",
        log_config=docker.types.LogConfig(type="json-file", config={"max-size": "1m"}))
    ct.reload()
    assert ct.status == "running", ct.status
    r = ct.exec_run("sh -c 'echo $X$Y'", environment={"Y": "2"})
    assert (r.exit_code, r.output) == (0, b"12\n"), r
    ct.top()
    ct.stats(stream=False)
    ct.diff()
    assert ct.ports["80/tcp"], ct.ports
    ct.pause()
    ct.unpause()
    ct.update(mem_limit="128m", memswap_limit="256m")
    ct.rename(P + "-life2")
    bits, _ = ct.get_archive("/etc/hostname")
    assert b"h1" in b"".join(bits)
    ct.put_archive("/tmp", one_file_tar())
    assert ct.exec_run("cat /tmp/f").output == b"x"
    ct.stop(timeout=1)
    ct.wait()
    ct.remove()


def exec_output():
    # The output of a short exec comes right behind the 101; docker-py reads the answer through
    # a buffer and then takes the raw socket: what the buffer took was lost, one exec in four.
    ct = c.containers.run("busybox", "sleep 300", detach=True, environment={"X": "1"})
    try:
        outputs = [ct.exec_run("sh -c 'echo $X'").output for _ in range(50)]
        assert outputs == [b"1\n"] * 50, [o for o in outputs if o != b"1\n"]
    finally:
        ct.remove(force=True)


def read_only_copy():
    ct = c.containers.run("busybox", "sleep 300", detach=True, read_only=True)
    try:
        ct.put_archive("/tmp", one_file_tar())
        raise AssertionError("a copy into a read-only root was accepted")
    except docker.errors.APIError as e:
        assert "container rootfs is marked read-only" in str(e), e
    finally:
        ct.remove(force=True)


def logs_stream():
    ct = c.containers.run("busybox", "sh -c 'echo 1; echo 2'", detach=True)
    ct.wait()
    assert b"".join(ct.logs(stream=True)) == b"1\n2\n"
    ct.remove()


def suite_shapes():
    # Cases from docker-py's own integration suite that berth failed.
    ct = c.containers.run("busybox", "sleep 300", detach=True)
    try:
        # A TTY exec started as docker-py starts it (Tty false) comes framed.
        e = c.api.exec_create(ct.id, "printf hi", tty=True)
        assert c.api.exec_start(e) == b"hi", "tty exec"
    finally:
        ct.remove(force=True)
    ct = c.containers.run("busybox", "sh -c 'echo hello && echo world'", detach=True)
    ct.wait()
    assert ct.logs(tail=0) == b"", "tail=0"
    assert list(ct.logs(stream=True)) == [b"hello\n", b"world\n"], "a line per item"
    ct.remove()
    # Saved by id, an image loads back as itself alone.
    img = c.images.get("busybox")
    loaded = c.images.load(b"".join(img.save(named=False)))
    assert [i.id for i in loaded] == [img.id], loaded
    # A volume made without a name is anonymous: the default prune takes it.
    v = c.volumes.create()
    assert v.name in (c.volumes.prune()["VolumesDeleted"] or []), "prune"


def networks():
    n = c.networks.create(P + "-net", driver="bridge", labels={"l": "v"}, ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="10.231.7.0/24")]))
    a = c.containers.run("busybox", "sleep 100", detach=True, network=P + "-net")
    b = c.containers.run("busybox", "sleep 100", detach=True, name=P + "-n2")
    n.connect(b, aliases=["x"])
    n.reload()
    assert len(n.containers) == 2, n.containers
    assert [x.name for x in c.networks.list(filters={"label": "l=v"})] == [P + "-net"]
    n.disconnect(b)
    a.remove(force=True)
    b.remove(force=True)
    n.remove()


def volumes():
    v = c.volumes.create(P + "-vol", labels={"k": "v"})
    c.containers.run("busybox", "sh -c 'echo a > /v/a'", volumes={P + "-vol": {"bind": "/v", "mode": "rw"}},
                     remove=True)
    out = c.containers.run("busybox", "cat /v/a", volumes={P + "-vol": {"bind": "/v", "mode": "ro"}}, remove=True)
    assert out == b"a\n", out
    v.remove()


def build():
    df = b"FROM busybox\nRUN echo built > /b\nLABEL x=y\n"
    img, logs = c.images.build(fileobj=io.BytesIO(df), tag=P + "-img:1", rm=True)
    list(logs)
    assert img.labels["x"] == "y"
    img.history()
    c.images.remove(P + "-img:1")


def commit_save_load():
    ct = c.containers.run("busybox", "touch /x", detach=True)
    ct.wait()
    img = ct.commit(repository=P + "-commit", tag="t")
    ct.remove()
    # Named: saved by id (the default), an image keeps no tags, as with Docker.
    data = b"".join(img.save(named=True))
    c.images.remove(P + "-commit:t")
    c.images.load(data)
    c.images.get(P + "-commit:t").tag(P + "-commit", "t2")
    c.images.remove(P + "-commit:t2")
    c.images.remove(P + "-commit:t")


def service():
    secret = c.secrets.create(name=P + "s", data=b"s3cr3t", labels={"a": "b"})
    config = c.configs.create(name=P + "c", data=b"cfg", labels={"a": "b"})
    s = c.services.create(
        "busybox", ["sleep", "300"], name=P + "svc", env=["A=1"], labels={"l": "v"},
        container_labels={"c": "d"}, mode=docker.types.ServiceMode("replicated", replicas=2),
        restart_policy=docker.types.RestartPolicy(condition="on-failure", delay=1000000000, max_attempts=3),
        update_config=docker.types.UpdateConfig(parallelism=1, delay=100000000, order="start-first"),
        resources=docker.types.Resources(cpu_limit=500000000, mem_limit=64 * 1024 * 1024),
        constraints=["node.role==manager"], endpoint_spec=docker.types.EndpointSpec(ports={PORT: 80}),
        secrets=[docker.types.SecretReference(secret.id, P + "s")],
        configs=[docker.types.ConfigReference(config.id, P + "c")],
        hostname="{{.Task.Slot}}", stop_grace_period=1000000000, init=True,
        healthcheck=docker.types.Healthcheck(test=["CMD", "true"], interval=1000000000))

    def health_test():
        return c.api.inspect_service(s.id)["Spec"]["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"]

    def running(n):
        return lambda: len([t for t in s.tasks() if t["Status"]["State"] == "running"]) == n

    # docker-py's ServiceMode says "replicated": Docker's decoder takes it as Replicated.
    wait_for("2 running tasks", running(2))
    s.reload()
    s.scale(3)
    wait_for("3 running tasks", running(3))
    s.reload()
    s.update(env=["A=2"])
    wait_for("the update", lambda: c.api.inspect_service(s.id).get("UpdateStatus", {}).get("State") == "completed")
    # Shown under moby's Go field name, and kept through docker-py's read-modify-write update.
    assert health_test() == ["CMD", "true"], c.api.inspect_service(s.id)
    list(s.logs(stdout=True, details=True))
    assert [x.name for x in c.services.list(filters={"label": "l=v"})] == [P + "svc"]
    s.remove()
    # The low-level list: the models one inspects each row, and a row may go meanwhile.
    wait_for("the tasks to go", lambda: not c.api.containers(filters={"label": "c=d"}))
    secret.remove()
    config.remove()


def swarm_and_nodes():
    c.swarm.reload()
    c.swarm.update(rotate_worker_token=True, task_history_retention_limit=4)
    c.swarm.reload()
    assert c.swarm.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 4
    n = c.nodes.list()[0]
    spec = n.attrs["Spec"]
    spec["Labels"] = {"zone": "a"}
    n.update(spec)
    n.reload()
    assert n.attrs["Spec"]["Labels"] == {"zone": "a"}


check("ping", c.ping)
check("version and info", lambda: (c.version(), c.info(), c.df()))
check("images", lambda: (c.images.list(), c.images.get("busybox")))
check("run and remove", run_and_remove)
check("container lifecycle", lifecycle)
check("exec output, 50 times", exec_output)
check("copy into a read-only root", read_only_copy)
check("logs stream", logs_stream)
check("docker-py's suite shapes", suite_shapes)
check("networks", networks)
check("volumes", volumes)
check("build", build)
check("commit, save and load", commit_save_load)
check("events", lambda: list(c.events(since=int(time.time()) - 5, until=int(time.time()), decode=True)))
check("swarm and nodes", swarm_and_nodes)
check("service", service)
check("prunes", lambda: (c.containers.prune(), c.images.prune(), c.networks.prune(), c.volumes.prune()))
sys.exit(1 if failed else 0)
