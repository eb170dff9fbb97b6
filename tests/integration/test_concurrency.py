"""test_concurrency.py — 8 writers (mkdir, rmdir, setfattr on overlapping
resources) and 8 readers (find, ls -l, getfattr -d, the control files) at once
for a bounded time against the emulator: no crash, no hang, no label update
lost (each writer owns one key on shared resources, so a merge that dropped
another writer's key would show), a clone is listed from the moment its mkdir
returns until it is removed, and after the next sync the mount lists exactly
what the API has. Run once under ThreadSanitizer as well (see SEMANTICS.md):
  CLONEFS_BIN=build/tsan/clonefs pytest tests/integration/test_concurrency.py"""
import errno
import json
import os
import random
import subprocess
import threading
import time

import seeds
from harness import wait_for

DURATION = float(os.environ.get("CLONEFS_CONCURRENCY_SECONDS", "15"))
WRITERS = READERS = 8
DISKS = [f"zones/{seeds.ZONES[d % 2]}/disks/data-{d}" for d in range(4)]
INSTANCES = [f"zones/{z}/instances/db-{i}" for i, z in enumerate(seeds.ZONES)]
STABLE = [f"global/snapshots/snap-{i:05d}" for i in range(8)]   # labelled, never removed
LABELLED = DISKS + INSTANCES + STABLE


def test_writers_and_readers_at_once(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seeds.inventory(40, 4), args=["--random-seed", "11"])
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({
        "clone": {"consistency": "crash", "max_per_source": 10000},
        "prune": {"grace_seconds": 0, "keep_last": 0, "max_per_minute": 100000}}))
    m = mount_factory(emu, opts=[f"policy={pol}"])
    rnd = random.Random(5)
    lock = threading.Lock()
    created, removed = {}, set()          # clone name -> its disk; names rmdir'ed
    prunable = [f"snap-{i:05d}" for i in range(8, 40)]
    last = {t: {} for t in LABELLED}      # target -> {key: last value a writer set}
    problems = []
    counts = {"mkdir": 0, "rmdir": 0, "setfattr": 0, "read": 0}
    stop_at = time.monotonic() + DURATION

    def problem(what):
        with lock:
            problems.append(what)

    def writer(w):
        r = random.Random(w)
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            op = r.choice(["mkdir", "rmdir", "setfattr", "setfattr"])
            try:
                if op == "mkdir":
                    disk = r.choice(DISKS)
                    name = f"w{w}-{n}"
                    os.mkdir(m.path(f"{disk}/snapshots/{name}"))
                    with lock:
                        created[name] = disk
                    # listed at once, in both places (no other writer knows it yet)
                    for where in (f"{disk}/snapshots", "global/snapshots"):
                        if name not in os.listdir(m.path(where)):
                            problem(f"{name}: not in {where} right after its mkdir")
                    with lock:
                        prunable.append(name)
                elif op == "rmdir":
                    with lock:
                        name = r.choice(prunable) if prunable else None
                    if name:
                        try:
                            os.rmdir(m.path(f"global/snapshots/{name}"))
                            with lock:
                                removed.add(name)
                        except OSError as e:
                            # gone already (another writer), or still being created
                            if e.errno not in (errno.ENOENT, errno.EBUSY):
                                raise
                else:
                    target = r.choice(LABELLED)
                    value = f"v{n}"
                    os.setxattr(m.path(target), f"user.w{w}", value.encode())
                    with lock:
                        last[target][f"w{w}"] = value
                with lock:
                    counts[op] += 1
            except OSError as e:
                problem(f"writer {w}: {op}: {e}")

    def reader(i):
        cmds = [["find", str(m.mnt), "-maxdepth", "5"],
                ["ls", "-l", str(m.path("global/snapshots"))],
                ["ls", "-lR", str(m.path("zones"))],
                ["getfattr", "-d"] + [str(m.path(t)) for t in LABELLED],
                ["cat", str(m.path(".clonefs/inventory.jsonl")), str(m.path(".clonefs/status"))]]
        k = i
        while time.monotonic() < stop_at:
            cmd = cmds[k % len(cmds)]
            k += 1
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                problem(f"reader {i}: {cmd[0]} hung")
                continue
            # an entry removed mid-walk is the only failure a reader may meet
            bad = [ln for ln in r.stderr.splitlines() if "No such file" not in ln]
            if r.returncode and bad:
                problem(f"reader {i}: {' '.join(cmd[:2])}: {bad[:3]}")
            with lock:
                counts["read"] += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DURATION + 120)
    assert not any(t.is_alive() for t in threads), "a writer or reader hung"
    assert m.proc.poll() is None, "the daemon died"
    assert not problems, problems[:10]
    print(f"concurrency: {counts} in {DURATION:.0f} s; {len(created)} clones, "
          f"{len(removed)} removed")
    assert counts["mkdir"] and counts["rmdir"] and counts["setfattr"] > 20, counts
    end = time.time()

    # no label update lost: every writer's last value is in the API
    for target, keys in last.items():
        st, doc = emu.api("GET", target)
        assert st == 200, target
        for key, value in keys.items():
            assert doc.get("labels", {}).get(key) == value, (target, key, value, doc["labels"])
        # and the mount agrees, once synced
    m.wait_synced(end, timeout=60)
    for target, keys in last.items():
        for key, value in keys.items():
            assert os.getxattr(m.path(target), f"user.{key}") == value.encode(), (target, key)

    # after the next sync the mount lists exactly what the API has
    def same():
        api = {s["name"]: s for s in emu.list_all("global/snapshots")}
        if set(os.listdir(m.path("global/snapshots"))) != set(api):
            return False
        for disk in DISKS:
            want = {n for n, s in api.items() if s.get("sourceDisk", "").endswith(disk)}
            if set(os.listdir(m.path(f"{disk}/snapshots"))) != want:
                return False
        return not os.listdir(m.path(".clonefs/trash/global/snapshots"))
    wait_for(same, 30, "the mount to list what the API has")
    api_names = {s["name"] for s in emu.list_all("global/snapshots")}
    for name in created:
        assert (name in api_names) == (name not in removed), name
