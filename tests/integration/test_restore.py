"""test_restore.py — ln -s into a collection restores a copy: a disk from a
snapshot or an image, an instance from a machine image, relative or absolute
targets; every check of the policy's restore section (who, age and its
approval, consistency, replicated sources: the resync mark, the after
command, the confirmation, a marked resource refused as a clone source),
each refusal's errno with its reason in .clonefs/log, and exactly one
resource per ln -s through API faults and kill -9."""
import datetime as dt
import errno
import json
import os
import subprocess

import pytest

import seeds
from harness import wait_for

ZONE = seeds.ZONES[0]
DISKS = f"zones/{ZONE}/disks"
INSTANCES = f"zones/{ZONE}/instances"
INSTANCE = f"zones/{ZONE}/instances/db-0"
MEMBER = (4242, 4242, [27])
OUTSIDER = (4343, 4343, [])


def seed(**extra_snaps):
    """The test inventory, with a few snapshots of given age (days) and labels."""
    s = seeds.inventory(6, 2)
    for name, (days, labels) in extra_snaps.items():
        s["global/snapshots"].append({
            "name": name, "status": "READY", "diskSizeGb": "10",
            "creationTimestamp": seeds.rfc3339(seeds.NOW - dt.timedelta(days=days)),
            "sourceDisk": seeds.link("demo-project", f"{DISKS}/data-0"),
            "labels": labels})
    return s


@pytest.fixture
def env(emulator_factory, mount_factory, tmp_path):
    def make(policy=None, snaps=None, opts=(), emu_args=(), mnt_parent=None):
        emu = emulator_factory(seed(**(snaps or {})), args=list(emu_args))
        o = list(opts)
        if policy is not None:
            p = tmp_path / "policy.json"
            p.write_text(json.dumps(policy))
            o.append(f"policy={p}")
        return emu, mount_factory(emu, opts=o, mnt_parent=mnt_parent)
    return make


def errno_of(fn):
    with pytest.raises(OSError) as e:
        fn()
    return e.value.errno


def log_has(m, text):
    return text in m.path(".clonefs/log").read_text()


def api_get(emu, path):
    st, body = emu.api("GET", path)
    return body if st == 200 else None


def inserts(emu, suffix):
    """insert operations of the zone whose target ends with suffix."""
    return [op for op in emu.list_all(f"zones/{ZONE}/operations")
            if op["operationType"] == "insert" and op["targetLink"].endswith(suffix)]


# ---- the three restores ----

def test_disk_from_snapshot_relative_link(env):
    emu, m = env()
    coll = m.path(DISKS)
    os.symlink("../../../global/snapshots/snap-00000", coll / "db-restored")
    # the next lookup shows the new disk's directory, not a symlink
    wait_for(lambda: (coll / "db-restored").is_dir() and not (coll / "db-restored").is_symlink(),
             10, "the restored disk's directory")
    assert "db-restored" in os.listdir(coll)
    wait_for(lambda: (coll / "db-restored/status").read_text() == "READY\n", 30,
             "the restored disk to be READY in the mount")
    disk = api_get(emu, f"{DISKS}/db-restored")
    snap = api_get(emu, "global/snapshots/snap-00000")
    assert disk["sourceSnapshot"].endswith("global/snapshots/snap-00000")
    assert disk["sourceSnapshotId"] == snap["id"]
    assert int(disk["sizeGb"]) >= int(snap["diskSizeGb"])
    labels = disk["labels"]
    assert labels["clonefs-restored-from"] == f"snap-00000-{snap['id']}"
    assert labels["clonefs-restored-at"][:2] == "20"
    assert labels["clonefs-source-created"][:2] == "20"
    assert labels["owner"] == snap["labels"]["owner"]           # inherited
    assert "clonefs-resync" not in labels
    # one insert, one disk; resource.json says where it came from
    assert len(inserts(emu, "/disks/db-restored")) == 1
    doc = json.loads((coll / "db-restored/resource.json").read_text())
    assert doc["sourceSnapshotId"] == snap["id"]


def test_ls_l_right_after_ln_s_shows_the_directory(env):
    """What `ls -l` shows meanwhile: the answer to symlink(2) is a symlink node
    (the kernel accepts nothing else), with zero timeouts, and its name is
    invalidated at once; any later lookup or listing shows the new directory,
    CREATING until the API says READY."""
    emu, m = env()
    coll = m.path(DISKS)
    os.symlink("../../../global/snapshots/snap-00001", coll / "quick")
    st = os.lstat(coll / "quick")
    assert (st.st_mode & 0o170000) == 0o040000, oct(st.st_mode)     # a directory
    out = subprocess.run(["ls", "-l", str(coll)], capture_output=True, text=True, check=True)
    line = [ln for ln in out.stdout.splitlines() if ln.endswith(" quick")]
    assert line and line[0].startswith("d"), out.stdout
    assert (coll / "quick/status").read_text().strip() in ("CREATING", "READY")


def test_restore_job_listed_in_clonefs_jobs_until_it_ended(env):
    """A restore is a job like a clone: while its operation runs (the emulator's operations
    take 600 s until its clock is moved) .clonefs/jobs/ lists it, "type": "restore", with its
    source and target; rm of it is EBUSY (a restore is not cancelled); once the disk is made
    the job is gone."""
    emu, m = env(emu_args=["--op-seconds", "600"])
    jobs = m.path(".clonefs/jobs")
    assert os.listdir(jobs) == []
    os.symlink("../../../global/snapshots/snap-00002", m.path(f"{DISKS}/slow-restore"))
    names = os.listdir(jobs)
    assert len(names) == 1, names
    job = json.loads((jobs / names[0]).read_text())
    assert job["id"] == int(names[0])
    assert job["type"] == "restore"
    assert job["source"] == "global/snapshots/snap-00002"
    assert job["target"] == f"{DISKS}/slow-restore"
    assert job["step"] == "wait_created" and job["accepted"] is True
    assert job["stop"] == [] and job["cancelled"] is False and job["error"] is None
    assert job["user"] and job["age"] >= 0
    assert errno_of(lambda: os.unlink(jobs / names[0])) == errno.EBUSY
    assert log_has(m, "a restore is never cancelled")
    assert os.listdir(jobs) == names                        # still there
    control(emu, "POST", "clock", {"advanceSeconds": 700})
    wait_for(lambda: os.listdir(jobs) == [], 60, "the restore job to end")
    wait_for(lambda: m.path(f"{DISKS}/slow-restore/status").read_text() == "READY\n", 30,
             "the restored disk READY in the mount")


def test_disk_from_image_absolute_link(env):
    emu, m = env()
    coll = m.path(f"zones/{seeds.ZONES[1]}/disks")
    os.symlink(str(m.path("global/images/golden-1")), coll / "scratch")
    wait_for(lambda: api_get(emu, f"zones/{seeds.ZONES[1]}/disks/scratch") is not None and
             api_get(emu, f"zones/{seeds.ZONES[1]}/disks/scratch")["status"] == "READY", 30,
             "the disk from the image")
    disk = api_get(emu, f"zones/{seeds.ZONES[1]}/disks/scratch")
    img = api_get(emu, "global/images/golden-1")
    assert disk["sourceImage"].endswith("global/images/golden-1")
    assert disk["sourceImageId"] == img["id"]
    assert int(disk["sizeGb"]) >= int(img["diskSizeGb"])
    assert disk["labels"]["clonefs-restored-from"] == f"golden-1-{img['id']}"
    assert (coll / "scratch").is_dir()


def test_instance_from_machine_image_waits_for_running(env):
    emu, m = env(opts=["mkdir_wait=ready"])
    coll = m.path(INSTANCES)
    os.symlink("../../../global/machineImages/db-0-mi-1", coll / "web-2")
    # with mkdir_wait=ready the call returns once the instance runs
    inst = api_get(emu, f"{INSTANCES}/web-2")
    assert inst["status"] == "RUNNING", inst
    mi = api_get(emu, "global/machineImages/db-0-mi-1")
    assert inst["sourceMachineImage"].endswith("global/machineImages/db-0-mi-1")
    assert inst["labels"]["clonefs-restored-from"] == f"db-0-mi-1-{mi['id']}"
    assert (coll / "web-2/status").read_text() == "RUNNING\n"
    assert len(inserts(emu, "/instances/web-2")) == 1


# ---- refusals: EINVAL, EEXIST, EACCES ----

def test_einval_eexist_eacces(env):
    emu, m = env(policy={"restore": {"allow_uids": [4242]}})
    coll = m.path(DISKS)
    link = "../../../global/snapshots/snap-00000"
    # root is not in restore.allow_uids: EACCES, with the rule in the log
    assert errno_of(lambda: os.symlink(link, coll / "denied")) == errno.EACCES
    assert log_has(m, "restore.allow_uids")
    emu2, m2 = env()
    coll = m2.path(DISKS)
    cases = {
        "not-a-copy": "../data-1",                                  # a disk
        "outside": "/etc/passwd",                                   # not in the mount
        "escapes": "../../../../../../etc",                         # leaves the mount
        "missing": "../../../global/snapshots/no-such-snapshot",   # not of this mount
        "wrong-kind": "../../../global/machineImages/db-0-mi-1",   # a disk from a machine image
    }
    for name, target in cases.items():
        assert errno_of(lambda: os.symlink(target, coll / name)) == errno.EINVAL, name
    # a collection where nothing is restored
    assert errno_of(lambda: os.symlink(link, m2.path("global/snapshots/x"))) == errno.EINVAL
    assert errno_of(lambda: os.symlink("../../../global/snapshots/snap-00000",
                                       m2.path(f"{INSTANCES}/x"))) == errno.EINVAL
    # a name taken: the kernel sees it (its lookup answers before we are asked) ...
    assert errno_of(lambda: os.symlink(link, coll / "data-0")) == errno.EEXIST
    # ... or only the API does (made a moment ago, not synced yet): its 409 is EEXIST
    st, _ = emu2.api("POST", DISKS, {"name": "raced", "sizeGb": "10"})
    assert st == 200
    assert errno_of(lambda: os.symlink(link, coll / "raced")) == errno.EEXIST
    log = m2.path(".clonefs/log").read_text()
    assert "not a resource of the mount" in log and "raced" in log, log
    assert "a disk is not made from global/machineImages/db-0-mi-1" in log, log
    # a copy in the trash: moved out first
    os.rmdir(m2.path("global/snapshots/snap-00005"))
    assert errno_of(lambda: os.symlink("../../../global/snapshots/snap-00005",
                                       coll / "from-trash")) == errno.EPERM
    assert log_has(m2, "is in .clonefs/trash")
    assert not [d for d in emu2.list_all(DISKS) if d["name"] in cases]


# ---- age ----

def test_old_copy_refused_then_approved(env):
    emu, m = env(policy={"restore": {"max_age_seconds": 30 * 86400}},
                 snaps={"old-copy": (45, {"owner": "team-a"}),
                        "fresh-copy": (2, {"owner": "team-a"})})
    coll = m.path(DISKS)
    assert errno_of(lambda: os.symlink("../../../global/snapshots/old-copy",
                                       coll / "from-old")) == errno.EPERM
    log = m.path(".clonefs/log").read_text()
    assert "older than restore.max_age_seconds" in log and "clonefs-restore-approved" in log
    assert api_get(emu, f"{DISKS}/from-old") is None
    os.symlink("../../../global/snapshots/fresh-copy", coll / "from-fresh")
    # the approval label (the prune right: root, the mounting user, here) lets it through
    os.setxattr(m.path("global/snapshots/old-copy"), "user.clonefs-restore-approved", b"yes")
    os.symlink("../../../global/snapshots/old-copy", coll / "from-old")
    disk = api_get(emu, f"{DISKS}/from-old")
    assert disk is not None
    # its age stays visible: clonefs-source-created is 45 days back
    created = disk["labels"]["clonefs-source-created"]
    assert created[:10] == (seeds.NOW - dt.timedelta(days=45)).strftime("%Y-%m-%d")
    st = m.status()["restores"]
    assert st["started"] == 2 and st["from_copies_older_than_30_days"] == 1, st
    metrics = {ln.split("{")[0].split(" ")[0]: ln.rsplit(" ", 1)[1]
               for ln in m.path(".clonefs/metrics").read_text().splitlines()
               if ln.startswith("clonefs_restores")}
    assert metrics["clonefs_restores_total"] == "2", metrics
    assert metrics["clonefs_restores_old_copies_total"] == "1", metrics


# ---- consistency ----

def test_weaker_consistency_refused(env):
    emu, m = env(policy={"restore": {"require_consistency": "flush"}},
                 snaps={"crashy": (1, {"clonefs-consistency": "crash"}),
                        "flushed": (1, {"clonefs-consistency": "flush"}),
                        "unknown": (1, {})})
    coll = m.path(DISKS)
    for name in ("crashy", "unknown"):
        assert errno_of(lambda: os.symlink(f"../../../global/snapshots/{name}",
                                           coll / f"from-{name}")) == errno.EPERM, name
    assert log_has(m, "made crash-consistent")
    os.symlink("../../../global/snapshots/flushed", coll / "from-flushed")
    assert api_get(emu, f"{DISKS}/from-flushed")["labels"]["clonefs-consistency"] == "flush"


# ---- replicated sources ----

def test_replicated_source_marked_command_run_confirmed(env, tmp_path):
    out = tmp_path / "after.out"
    script = tmp_path / "after.sh"
    script.write_text(f"#!/bin/sh\nenv | grep ^CLONEFS_ | sort > {out}\n")
    script.chmod(0o755)
    emu, m = env(policy={"clone": {"consistency": "crash"},
                         "restore": {"replicated_selector": {"role": "replica"},
                                     "after_command": [str(script)]}},
                 snaps={"replica-snap": (1, {"role": "replica", "owner": "team-a"})})
    coll = m.path(DISKS)
    os.symlink("../../../global/snapshots/replica-snap", coll / "db-b")
    disk = api_get(emu, f"{DISKS}/db-b")
    assert disk["labels"]["clonefs-resync"] == "required"
    # the after command ran once the disk was made, with the three variables
    wait_for(lambda: out.exists() and out.read_text(), 30, "the after command")
    env_lines = out.read_text().splitlines()
    assert f"CLONEFS_SOURCE={m.mnt}/global/snapshots/replica-snap" in env_lines, env_lines
    assert f"CLONEFS_TARGET={m.mnt}/{DISKS}/db-b" in env_lines, env_lines
    snap = api_get(emu, "global/snapshots/replica-snap")
    assert f"CLONEFS_RESTORED_FROM=replica-snap-{snap['id']}" in env_lines, env_lines
    # listed in .clonefs/resync
    wait_for(lambda: f"{DISKS}/db-b" in m.path(".clonefs/resync").read_text(), 30,
             "the disk in .clonefs/resync")
    # not a clone source while marked: EHOSTDOWN, as an unhealthy source
    wait_for(lambda: (coll / "db-b/status").read_text() == "READY\n", 30, "READY")
    assert errno_of(lambda: os.mkdir(coll / "db-b/snapshots/too-early")) == errno.EHOSTDOWN
    assert log_has(m, "resync is not confirmed")
    # the resync confirmed: the mark goes, who and when is recorded
    subprocess.run(["setfattr", "-x", "user.clonefs-resync", str(coll / "db-b")], check=True)
    labels = api_get(emu, f"{DISKS}/db-b")["labels"]
    assert "clonefs-resync" not in labels
    assert labels["clonefs-resync-confirmed"].endswith("-root"), labels
    assert f"{DISKS}/db-b" not in m.path(".clonefs/resync").read_text()
    assert log_has(m, "resync confirmed by root")
    os.mkdir(coll / "db-b/snapshots/in-sync")
    assert api_get(emu, "global/snapshots/in-sync") is not None


def test_unreplicated_source_is_not_marked(env, tmp_path):
    out = tmp_path / "after.out"
    emu, m = env(policy={"restore": {"replicated_selector": {"role": "replica"},
                                     "after_command": ["/bin/sh", "-c", f"touch {out}"]}})
    os.symlink("../../../global/snapshots/snap-00002", m.path(f"{DISKS}/plain"))
    wait_for(lambda: api_get(emu, f"{DISKS}/plain")["status"] == "READY", 30, "READY")
    assert "clonefs-resync" not in api_get(emu, f"{DISKS}/plain")["labels"]
    assert m.path(".clonefs/resync").read_text() == ""
    assert not out.exists()


# ---- quota and depth: a restored disk is a descendant of its copy ----

def test_restored_counts_toward_max_per_source_and_depth(env):
    emu, m = env(policy={"clone": {"max_per_source": 1, "max_depth": 1,
                                   "consistency": "crash"}},
                 snaps={"deep": (1, {"clonefs-depth": "2"})})
    coll = m.path(DISKS)
    # a copy deeper than max_depth allows now (the policy changed since): not restored
    assert errno_of(lambda: os.symlink("../../../global/snapshots/deep",
                                       coll / "from-deep")) == errno.EMLINK
    os.symlink("../../../global/snapshots/snap-00003", coll / "first")
    wait_for(lambda: "first" in os.listdir(coll), 10, "first")
    # the snapshot already has one resource made from it
    assert errno_of(lambda: os.symlink("../../../global/snapshots/snap-00003",
                                       coll / "second")) == errno.EDQUOT
    # the restored disk has the copy's depth (1): a snapshot of it would be depth 2
    wait_for(lambda: (coll / "first/status").read_text() == "READY\n", 30, "READY")
    assert api_get(emu, f"{DISKS}/first")["labels"]["clonefs-depth"] == "1"
    assert errno_of(lambda: os.mkdir(coll / "first/snapshots/deeper")) == errno.EMLINK


# ---- exactly once ----

def control(emu, method, sub, body=None):
    import urllib.request
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/{sub}", data=data,
                                 method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def test_fault_rate_one_resource_per_ln_s(env):
    emu, m = env(emu_args=["--random-seed", "11"])
    control(emu, "DELETE", "requests")
    control(emu, "POST", "faults", {"failRate": 0.15, "dropRate": 0.10, "garbageRate": 0.05})
    names = [f"faulty-{i:02d}" for i in range(10)]
    for i, name in enumerate(names):
        os.symlink(f"../../../global/snapshots/snap-{i % 6:05d}", m.path(f"{DISKS}/{name}"))
    control(emu, "POST", "faults", {"failRate": 0, "dropRate": 0, "garbageRate": 0})
    sent = control(emu, "GET", "requests")["requests"]
    posts = sum(v for k, v in sent.items() if k.startswith("POST") and k.endswith(f"{DISKS}"))
    disks = [d["name"] for d in emu.list_all(DISKS) if d["name"].startswith("faulty-")]
    assert sorted(disks) == names
    ops = [op for op in emu.list_all(f"zones/{ZONE}/operations")
           if op["operationType"] == "insert" and "/disks/faulty-" in op["targetLink"]]
    assert len(ops) == len(names), [op["targetLink"] for op in ops]
    print(f"{posts} inserts sent for {len(names)} restores")
    wait_for(lambda: all((m.path(f"{DISKS}/{n}/status").read_text() == "READY\n")
                         for n in names), 60, "every restored disk READY in the mount")


def posts_received(emu):
    got = control(emu, "GET", "requests")["received"]
    return sum(v for k, v in got.items() if k.startswith("POST") and k.endswith(DISKS))


def posts_sent(emu):
    sent = control(emu, "GET", "requests")["requests"]
    return sum(v for k, v in sent.items() if k.startswith("POST") and k.endswith(DISKS))


@pytest.mark.parametrize("moment", ["request-in-flight", "operation-running"])
def test_kill_9_mid_restore_finishes_exactly_once(emulator_factory, mount_factory, tmp_path,
                                                  moment):
    """kill -9 while the insert is on its way (held by a slow API) or while its operation
    runs: the restarted daemon resumes the journaled job with the same request id, so one
    disk and one operation, and the job's last step (the after command of a replicated
    source, which nothing but the job runs) happens exactly once."""
    out = tmp_path / "after.out"
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"restore": {
        "replicated_selector": {"role": "replica"},
        "after_command": ["/bin/sh", "-c", f"echo $CLONEFS_TARGET >> {out}"]}}))
    emu = emulator_factory(seed(rep=(1, {"role": "replica"})), args=["--op-seconds", "3"])
    cache = tmp_path / "cache"
    m = mount_factory(emu, cache=cache, opts=["mkdir_wait=ready", f"policy={pol}"])
    control(emu, "DELETE", "requests")
    if moment == "request-in-flight":
        control(emu, "POST", "faults", {"slowRate": 1.0, "slowSeconds": 4})
    ln = subprocess.Popen(["ln", "-s", "../../../global/snapshots/rep",
                           str(m.path(f"{DISKS}/survivor"))], stderr=subprocess.DEVNULL)
    if moment == "request-in-flight":
        # the API holds every request 4 s before handling it: a kill once the insert has
        # arrived (the emulator counts requests as they come) finds it on its way, its
        # answer never to arrive
        wait_for(lambda: posts_received(emu), 30, "the insert to reach the API")
        assert posts_sent(emu) == 0                         # not answered yet
    else:
        wait_for(lambda: inserts(emu, "/disks/survivor"), 30, "the insert to be accepted")
    m.kill()
    ln.wait(30)
    control(emu, "POST", "faults", {"slowRate": 0})
    # the cloud acted on it, whatever became of its answer: a resumed job must not
    # ask for it again under another request id (that would be refused: the name is taken)
    wait_for(lambda: inserts(emu, "/disks/survivor"), 30, "the insert to take effect")
    m2 = mount_factory(emu, cache=cache, opts=[f"policy={pol}"])
    wait_for(lambda: out.exists() and out.read_text(), 60, "the job to end after the restart")
    assert len(inserts(emu, "/disks/survivor")) == 1
    assert [d["name"] for d in emu.list_all(DISKS)].count("survivor") == 1
    disk = api_get(emu, f"{DISKS}/survivor")
    assert disk["status"] == "READY" and disk["labels"]["clonefs-resync"] == "required"
    assert out.read_text().splitlines() == [f"{m2.mnt}/{DISKS}/survivor"]
    assert "moved aside" not in m2.stderr()


# ---- who may restore, and who may approve an old copy ----

def as_user(who, *cmd):
    uid, gid, groups = who
    g = [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", *g, "--", *cmd],
                          capture_output=True, text=True, cwd="/", timeout=60)


@pytest.fixture
def shared():
    """A directory every user may pass through, for an allow_other mountpoint."""
    import tempfile
    from pathlib import Path
    d = Path(tempfile.mkdtemp(prefix="clonefs-shared-", dir="/tmp"))
    os.chmod(d, 0o711)
    yield d
    for p in d.iterdir():
        try:
            p.rmdir()
        except OSError:
            pass
    try:
        d.rmdir()
    except OSError:
        pass


def test_restore_right_and_approval_takes_the_prune_right(shared, env):
    # 4242 may restore and label, 4343 may only label; the prune right is root's
    emu, m = env(policy={"clone": {"allow_uids": [0]}, "prune": {"allow_uids": [0]},
                         "labels": {"allow_uids": [0, 4242, 4343]},
                         "restore": {"allow_uids": [4242], "max_age_seconds": 86400}},
                 snaps={"old-copy": (3, {})}, opts=["allow_other"], mnt_parent=shared)
    coll = m.path(DISKS)
    r = as_user(OUTSIDER, "ln", "-s", "../../../global/snapshots/snap-00000",
                str(coll / "by-outsider"))
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
    assert log_has(m, "not in the policy's restore.allow_uids")
    r = as_user(MEMBER, "ln", "-s", "../../../global/snapshots/snap-00000",
                str(coll / "by-member"))
    assert r.returncode == 0, r.stderr
    assert api_get(emu, f"{DISKS}/by-member")["labels"]["clonefs-created-by"] == "uid-4242"
    # test -w answers from the same rule
    assert as_user(MEMBER, "test", "-w", str(coll)).returncode == 0
    assert as_user(OUTSIDER, "test", "-w", str(coll)).returncode != 0
    # the approval label is the prune right's, even for one who may label and restore
    old = str(m.path("global/snapshots/old-copy"))
    r = as_user(MEMBER, "setfattr", "-n", "user.clonefs-restore-approved", "-v", "yes", old)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
    r = as_user(MEMBER, "ln", "-s", "../../../global/snapshots/old-copy", str(coll / "old"))
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    os.setxattr(old, "user.clonefs-restore-approved", b"yes")        # root: the prune right
    r = as_user(MEMBER, "ln", "-s", "../../../global/snapshots/old-copy", str(coll / "old"))
    assert r.returncode == 0, r.stderr


# ---- the emulator: disks.insert and instances.insert from the API reference ----

def test_emulator_inserts_follow_the_api(emulator_factory):
    emu = emulator_factory(seed())
    rid = {"requestId": "5f0c7c1e-8d1a-4c39-9a57-2f4f8e3c1a01"}
    body = {"name": "r1", "sourceSnapshot": "global/snapshots/snap-00000"}
    st, op = emu.api("POST", DISKS, body, rid)
    assert st == 200 and op["operationType"] == "insert"
    st, again = emu.api("POST", DISKS, body, rid)                   # the same request id
    assert st == 200 and again["name"] == op["name"]
    emu.wait_operation(op)
    disk = api_get(emu, f"{DISKS}/r1")
    assert disk["status"] == "READY" and disk["sizeGb"] == "10"
    assert disk["sourceSnapshotId"] == api_get(emu, "global/snapshots/snap-00000")["id"]
    # a second insert of the name (another request id): alreadyExists
    assert emu.api("POST", DISKS, body)[0] == 409
    # smaller than the source: invalid, with the API's words
    st, err = emu.api("POST", DISKS, {**body, "name": "r2", "sizeGb": "5"})
    assert st == 400 and "cannot be smaller than the snapshot size" in err["error"]["message"]
    # larger is fine; both sources at once are not
    assert emu.api("POST", DISKS, {**body, "name": "r3", "sizeGb": "20"})[0] == 200
    assert emu.api("POST", DISKS, {**body, "name": "r4",
                                   "sourceImage": "global/images/golden-1"})[0] == 400
    # sourceImage as the query parameter of disks.insert
    st, op = emu.api("POST", DISKS, {"name": "r5"}, {"sourceImage": "global/images/golden-1"})
    assert st == 200
    emu.wait_operation(op)
    assert api_get(emu, f"{DISKS}/r5")["sourceImage"].endswith("global/images/golden-1")
    # a source not there: notFound
    assert emu.api("POST", DISKS, {"name": "r6", "sourceSnapshot":
                                   "global/snapshots/nope"})[0] == 404
    # an instance from a machine image: RUNNING with the machine image's disks
    st, mi = emu.api("POST", "global/machineImages", {"name": "mi-x"},
                     {"sourceInstance": INSTANCE})
    emu.wait_operation(mi)
    st, op = emu.api("POST", INSTANCES, {"name": "vm-x", "labels": {"a": "b"}},
                     {"sourceMachineImage": "global/machineImages/mi-x"})
    assert st == 200, op
    emu.wait_operation(op)
    inst = api_get(emu, f"{INSTANCES}/vm-x")
    assert inst["status"] == "RUNNING" and inst["labels"] == {"a": "b"}
    assert inst["sourceMachineImage"].endswith("global/machineImages/mi-x")
    assert inst["disks"] and api_get(emu, f"{DISKS}/vm-x")["users"] == [inst["selfLink"]]
    # an instance without a source is not what this emulator makes
    assert emu.api("POST", INSTANCES, {"name": "vm-y"})[0] == 400


# ---- the README's restore recipes, run as written ----

def readme_block(marker):
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    m = re.search(rf"<!-- recipe: {marker} -->\s*```sh\n(.*?)```", text, re.S)
    assert m, f"README has no recipe {marker}"
    return m.group(1)


def run_recipe(marker, m, tmp_path):
    script = readme_block(marker).replace("/mnt/gce", str(m.path()))
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=True)


def test_recipes_restore_and_resync(env, tmp_path):
    emu, m = env(policy={"restore": {"replicated_selector": {"role": "replica"}}},
                 snaps={"db-2026-11-25": (8, {"owner": "team-a"}),
                        "db-b-copy": (1, {"role": "replica"})})
    out = run_recipe("restore", m, tmp_path).stdout.splitlines()
    snap = api_get(emu, "global/snapshots/db-2026-11-25")
    assert out[0] == f"db-2026-11-25-{snap['id']}", out
    assert out[1].startswith((seeds.NOW - dt.timedelta(days=8)).strftime("%Y-%m-%dt")), out
    assert api_get(emu, f"{DISKS}/db-restored") is not None
    os.symlink("../../../global/snapshots/db-b-copy", m.path(f"{DISKS}/db-b"))
    wait_for(lambda: "db-b" in m.path(".clonefs/resync").read_text(), 30, "the mark listed")
    out = run_recipe("resync", m, tmp_path).stdout
    assert f'"path":"{DISKS}/db-b"' in out, out
    assert "clonefs-resync" not in api_get(emu, f"{DISKS}/db-b")["labels"]
    assert m.path(".clonefs/resync").read_text() == ""
