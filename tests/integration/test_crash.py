"""test_crash.py — kill -9 of the daemon at random moments: during the first
sync, during a periodic sync, and at every step of a stop-mode clone's
journal (including between its stop and its start). After each kill the
daemon restarts on the same cache, and: the LMDB environment opens (never
moved aside), the inventory converges to the API's, every clone ends exactly
once (one create operation, one stop and one start), and every stopped
instance runs again. A stale mount left by a killed daemon is reported with
the command that clears it.

The suite runs CLONEFS_CRASH_ITERATIONS kills (default 12, about 2 s each
under ASan); scripts/crash-loop runs the long loop (50 and more).

The stale mount runs on both providers (gce, aws; clouds.py). The kill loop is
GCE-only (machine images, operations); AWS's journal through a kill -9 (stop
mode, CreateImage's request tag) is test_writes.py's
test_kill_9_mid_stop_mode_clone_resumes_to_exactly_one[aws-...]. A kill -9 while
the API holds a snapshot create runs on both: one snapshot after the restart, on
AWS with the new snapshot missing from Describe for a while."""
import errno
import json
import os
import random
import subprocess
import time
import urllib.request

import seeds
from harness import wait_for

ZONE = seeds.ZONES[0]
INSTANCE = f"zones/{ZONE}/instances/db-0"
ITERATIONS = int(os.environ.get("CLONEFS_CRASH_ITERATIONS", "12"))
SCENARIOS = ["first-sync", "clone-random", "periodic-sync", "clone-stopped", "clone-random"]


def control(emu, sub, body):
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/{sub}",
                                 data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def collections(emu):
    out = ["global/snapshots", "global/images", "global/machineImages"]
    for z in seeds.ZONES:
        out += [f"zones/{z}/disks", f"zones/{z}/instances"]
    return out


def converged(emu, m):
    """Every collection in the mount lists exactly what the API lists, and
    .clonefs/by-id/ exactly the API's ids. A kill mid-listing leaves the id index behind
    its records; the restart's repair (test_store_byid covers it) and its
    first listing each put that right, so this checks the outcome only."""
    ids = set()
    for coll in collections(emu):
        listed = emu.list_all(coll)
        ids |= {r["id"] for r in listed}
        api = {r["name"] for r in listed}
        try:
            have = set(os.listdir(m.path(coll)))
        except FileNotFoundError:
            have = set()
        if api != have:
            return False
    return ids == set(os.listdir(m.path(".clonefs/by-id")))


def ops(emu, kinds):
    found = []
    for scope in ["global"] + [f"zones/{z}" for z in seeds.ZONES]:
        found += [op for op in emu.list_all(f"{scope}/operations")
                  if op["operationType"] in kinds]
    return found


def test_kill_9_at_random_moments(emulator_factory, mount_factory, tmp_path):
    seed = int(os.environ.get("CLONEFS_CRASH_SEED", time.time()))
    rnd = random.Random(seed)
    print(f"crash loop: {ITERATIONS} iterations, CLONEFS_CRASH_SEED={seed}")
    emu = emulator_factory(seeds.inventory(1500, 2), args=["--op-seconds", "0.5"])
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"clone": {"consistency": "stop", "max_per_source": 1000}}))
    opts = [f"policy={pol}"]
    cache = tmp_path / "cache"
    m = None
    clones = []
    for it in range(ITERATIONS):
        scenario = SCENARIOS[it % len(SCENARIOS)]
        mkdir = None
        if scenario == "first-sync":
            cache = tmp_path / f"cache-{it}"        # a cache that has never synced
            # every request slowed, so that the first sync lasts about 2 s
            control(emu, "faults", {"slowRate": 1.0, "slowSeconds": 0.15})
            m = mount_factory(emu, cache=cache, opts=opts, wait_sync=False)
            time.sleep(rnd.uniform(0.0, 2.0))        # the moment of the kill, at random
        elif scenario == "periodic-sync":
            m = mount_factory(emu, cache=cache, opts=opts)
            # the cloud changes under it, and a pass (about 1 s long) is listing it at
            # about every other moment
            for i in range(rnd.randint(1, 20)):
                emu.api("DELETE", f"global/snapshots/snap-{rnd.randrange(1500):05d}")
            control(emu, "faults", {"slowRate": 1.0, "slowSeconds": 0.08})
            time.sleep(rnd.uniform(0.0, 2.0))
        else:
            m = mount_factory(emu, cache=cache, opts=opts)
            name = f"crash-{it:03d}"
            clones.append(name)
            mkdir = subprocess.Popen(["mkdir", str(m.path(f"{INSTANCE}/clones/{name}"))],
                                     stderr=subprocess.DEVNULL)
            if scenario == "clone-stopped":
                # between the stop and the start: the instance is down
                wait_for(lambda: emu.api("GET", INSTANCE)[1]["status"] == "TERMINATED", 30,
                         "the instance to be stopped")
            else:
                time.sleep(rnd.uniform(0.0, 2.5))
        at = {"instance": emu.api("GET", INSTANCE)[1]["status"],
              "listed": len(os.listdir(m.path("global/snapshots")))}
        m.kill()
        control(emu, "faults", {"slowRate": 0})
        if mkdir:
            mkdir.wait(30)
        print(f"iteration {it}: {scenario}: killed with {at}")
        # restart on the same cache: it opens, resumes, converges
        m = mount_factory(emu, cache=cache, opts=opts)
        assert "moved aside" not in m.stderr(), m.stderr()[-2000:]

        def settled():
            if emu.api("GET", INSTANCE)[1]["status"] != "RUNNING":
                return False
            kinds = [op["operationType"] for op in ops(emu, ("stop", "start"))]
            if kinds.count("stop") != kinds.count("start"):
                return False
            for name in clones:
                st, mi = emu.api("GET", f"global/machineImages/{name}")
                if st == 200 and mi["status"] != "READY":
                    return False
            return True
        wait_for(settled, 90, f"iteration {it} ({scenario}): the journal to finish")
        m.wait_synced(time.time(), timeout=60)
        wait_for(lambda: converged(emu, m), 30, f"iteration {it}: the inventory to converge")
        m.stop()

    # every clone ended exactly once
    inserts = [op["targetLink"].rsplit("/", 1)[1] for op in ops(emu, ("insert",))
               if "/machineImages/" in op["targetLink"]]
    for name in clones:
        assert inserts.count(name) <= 1, (name, inserts)
    images = [i["name"] for i in emu.list_all("global/machineImages")]
    assert sorted(set(images)) == sorted(images)
    # every stop was followed by exactly one start, and no clone stopped it twice
    stops, starts = len(ops(emu, ("stop",))), len(ops(emu, ("start",)))
    assert stops == starts <= len(clones), (stops, starts, len(clones))
    assert emu.api("GET", INSTANCE)[1]["status"] == "RUNNING"


def test_stale_mount_is_reported_and_remount_works(emulator_factory, mount_factory):
    emu = emulator_factory(seeds.inventory(5, 1))
    m = mount_factory(emu)
    m.proc.kill()                      # kill -9, and nobody unmounts
    m.proc.wait()
    try:
        def stale():
            try:
                os.statvfs(m.mnt)      # stat may still be answered from the kernel's cache
                return False
            except OSError as e:
                return e.errno == errno.ENOTCONN
        wait_for(stale, 10, "the dead daemon's mount to answer ENOTCONN")
        r = subprocess.run(m.command(), capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "Transport endpoint is not connected" in r.stderr, r.stderr
        assert f"fusermount3 -u {m.mnt}" in r.stderr, r.stderr
        subprocess.run(["fusermount3", "-u", str(m.mnt)], check=True)
    finally:
        subprocess.run(["fusermount3", "-uz", str(m.mnt)], capture_output=True)
        m.proc = None
    m2 = mount_factory(emu, cache=m.cache)
    assert len(os.listdir(m2.path("global/snapshots"))) == 5


def creates_received(c, emu):
    """Snapshot creates that reached the emulator, answered or not (the GCE emulator
    counts a request's arrival apart; the EC2 one counts it as it arrives)."""
    if c.name == "gce":
        got = requests_of(emu)["received"]
        return sum(v for k, v in got.items() if k.endswith("/createSnapshot"))
    return c.requests(emu).get("EC2 CreateSnapshot", 0)


def requests_of(emu):
    with urllib.request.urlopen(f"http://127.0.0.1:{emu.port}/emulator/v1/requests",
                                timeout=30) as r:
        return json.loads(r.read())


def test_kill_9_with_a_create_in_flight_makes_one_snapshot(clouds):
    """kill -9 while the API holds a snapshot create (received, not yet answered):
    the restarted daemon resumes the job at its step create, with its request id,
    and the cloud ends with exactly one snapshot. On AWS CreateSnapshot takes no
    client token, and the snapshot stays missing from Describe for 5 s after it
    is made (eventual consistency): only a patient lookup of the request tag by
    the resumed job (cf_create_req.maybe_sent) keeps it from being made twice."""
    c, emu, m = clouds(4, 2, policy={"clone": {"consistency": "crash"}})
    if c.name == "aws":
        c.faults(emu, eventualSeconds=5)
    before = creates_received(c, emu)
    # every answer held 1 s: the create is made a second after it arrived,
    # whether its sender still lives or not
    c.faults(emu, slowRate=1.0, slowSeconds=1.0)
    target = m.path(c.disk_snapshots(0)) / "in-flight"
    proc = subprocess.Popen(["mkdir", str(target)], stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: creates_received(c, emu) > before, 60, "the create to reach the API")
        m.kill()
    finally:
        proc.wait(30)
    c.faults(emu, slowRate=0)
    m2 = clouds.remount(emu, m, opts=m.opts)
    wait_for(lambda: os.listdir(m2.path(".clonefs/jobs")) == [], 60, "the resumed job to end")
    if c.name == "aws":
        # past the consistency delay: every snapshot made shows in Describe
        control(emu, "clock", {"advanceSeconds": 10})
    names = c.api_snapshot_names(emu)
    assert names.count("in-flight") == 1, names
    if c.name == "aws":
        assert c.requests(emu).get("EC2 CreateSnapshot", 0) == 1, c.requests(emu)
        assert "may have been sent before" in m2.stderr(), m2.stderr()[-2000:]
    wait_for(lambda: "in-flight" in os.listdir(m2.path(c.disk_snapshots(0))), 30,
             "the snapshot in the mount")
