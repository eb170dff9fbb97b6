"""test_writes.py — mkdir clones, rmdir prunes, setfattr labels, under a
policy: every refusal's errno from DESIGN.md's table, provoked through the
mount, and what the emulator's API holds afterwards."""
import ctypes
import errno
import json
import os
import subprocess

import pytest

import seeds
from harness import wait_for

ZONE = seeds.ZONES[0]
DISK = f"zones/{ZONE}/disks/data-0"      # attached to db-0 (RUNNING)
INSTANCE = f"zones/{ZONE}/instances/db-0"


def policy_file(tmp_path, **sections):
    p = tmp_path / "policy.json"
    p.write_text(json.dumps(sections))
    return p


@pytest.fixture
def env(emulator_factory, mount_factory, tmp_path):
    """An emulator with a small inventory and a rw mount with the given policy."""
    def make(policy=None, seed=None, opts=(), emu_args=()):
        emu = emulator_factory(seed or seeds.inventory(12, 2), args=list(emu_args))
        o = list(opts)
        if policy is not None:
            o.append(f"policy={policy_file(tmp_path, **policy)}")
        return emu, mount_factory(emu, opts=o)
    return make


def errno_of(fn):
    with pytest.raises(OSError) as e:
        fn()
    return e.value.errno


def log_has(m, text):
    return text in m.path(".clonefs/log").read_text()


def api_labels(emu, path):
    st, body = emu.api("GET", path)
    assert st == 200, body
    return body.get("labels", {})


def operations(emu, scope, target_suffix):
    st, body = emu.api("GET", f"{scope}/operations")
    assert st == 200, body
    return [op for op in body.get("items", []) if op.get("targetLink", "").endswith(target_suffix)]


# ---- mkdir: a consistent clone ----

def test_mkdir_snapshot_is_ready_with_provenance_and_listed_twice(env):
    emu, m = env(policy={"clone": {"consistency": "crash"}})
    snaps = m.path(f"{DISK}/snapshots")
    os.mkdir(snaps / "nightly-1")
    # there at once, CREATING or already further along
    assert (snaps / "nightly-1").is_dir()
    assert (m.path("global/snapshots/nightly-1") / "status").read_text().strip() in (
        "CREATING", "UPLOADING", "READY")
    wait_for(lambda: (m.path("global/snapshots/nightly-1/status").read_text() == "READY\n"),
             30, "the snapshot to become READY in the mount")
    st, snap = emu.api("GET", "global/snapshots/nightly-1")
    assert st == 200 and snap["status"] == "READY"
    assert snap["sourceDisk"].endswith(DISK)
    labels = snap["labels"]
    assert labels["clonefs-source"] == DISK.replace("/", "-")
    assert labels["clonefs-depth"] == "1"
    assert labels["clonefs-consistency"] == "crash"
    assert labels["clonefs-created-by"] == "root"
    assert labels["clonefs-created"].endswith("z") and labels["clonefs-created"][:2] == "20"
    assert labels["owner"] == "team-a" and labels["app"] == "db"   # inherited
    # listed in both places, with the labels as xattrs
    assert "nightly-1" in os.listdir(m.path("global/snapshots"))
    assert "nightly-1" in os.listdir(snaps)
    assert os.getxattr(m.path("global/snapshots/nightly-1"), "user.clonefs-depth") == b"1"


def test_mkdir_flush_sends_guest_flush_and_a_failed_flush_fails_the_clone(env, tmp_path):
    emu, m = env(policy={"clone": {"consistency": "flush"}}, opts=["mkdir_wait=ready"])
    os.mkdir(m.path(f"{DISK}/snapshots/flushed"))
    st, snap = emu.api("GET", "global/snapshots/flushed")
    assert st == 200 and snap["status"] == "READY"
    assert snap["labels"]["clonefs-consistency"] == "flush"
    # the instance's guest flush fails: the clone fails, never a silent crash snapshot
    st, inst = emu.api("GET", INSTANCE)
    st, op = emu.api("POST", f"{INSTANCE}/setLabels", {
        "labels": dict(inst.get("labels", {}), **{"emulator-flush-fails": "true"}),
        "labelFingerprint": inst["labelFingerprint"]})
    assert st == 200, op
    emu.wait_operation(op)
    e = errno_of(lambda: os.mkdir(m.path(f"{DISK}/snapshots/not-flushed")))
    assert e == errno.EHOSTDOWN
    st, _ = emu.api("GET", "global/snapshots/not-flushed")
    assert st == 404
    assert log_has(m, "not-flushed")


def test_mkdir_stop_mode_stops_snapshots_and_starts(env):
    emu, m = env(policy={"clone": {"consistency": "crash"}}, opts=["mkdir_wait=ready"])
    os.setxattr(m.path(INSTANCE), "user.clone-consistency", b"stop")
    os.mkdir(m.path(f"{INSTANCE}/clones/db-0-image-1"))
    st, mi = emu.api("GET", "global/machineImages/db-0-image-1")
    assert st == 200 and mi["status"] == "READY", mi
    assert mi["labels"]["clonefs-consistency"] == "stop"
    ops = operations(emu, f"zones/{ZONE}", "/instances/db-0")
    kinds = [op["operationType"] for op in sorted(ops, key=lambda o: o["insertTime"])
             if op["operationType"] in ("stop", "start")]
    assert kinds == ["stop", "start"], kinds
    st, inst = emu.api("GET", INSTANCE)
    assert inst["status"] == "RUNNING"
    assert "db-0-image-1" in os.listdir(m.path(f"{INSTANCE}/clones"))


def test_mkdir_refusals(env, tmp_path):
    emu, m = env(policy={"clone": {"consistency": "crash", "max_per_source": 7}})
    snaps = m.path(f"{DISK}/snapshots")
    # EINVAL: not a name the API accepts
    assert errno_of(lambda: os.mkdir(snaps / "Bad_Name")) == errno.EINVAL
    assert errno_of(lambda: os.mkdir(snaps / ("x" * 64))) == errno.EINVAL
    # EEXIST: the name is used (by another disk's snapshot)
    assert errno_of(lambda: os.mkdir(snaps / "snap-00001")) == errno.EEXIST
    # EPERM: mkdir outside a snapshots/ or clones/ directory
    assert errno_of(lambda: os.mkdir(m.path("global/snapshots/loose"))) == errno.EPERM
    # EDQUOT: data-0 already has 6 of the 12 snapshots (even i); quota 7
    os.mkdir(snaps / "third")
    assert errno_of(lambda: os.mkdir(snaps / "fourth")) == errno.EDQUOT
    st, _ = emu.api("GET", "global/snapshots/fourth")
    assert st == 404
    for word in ("EINVAL", "EEXIST", "EPERM", "EDQUOT"):
        assert log_has(m, word), word


def test_mkdir_eacces_for_a_caller_not_allowed(env):
    emu, m = env(policy={"clone": {"allow_uids": [4242], "allow_gids": [4242]}})
    e = errno_of(lambda: os.mkdir(m.path(f"{DISK}/snapshots/by-root")))
    assert e == errno.EACCES
    assert log_has(m, "uid 0")
    assert emu.api("GET", "global/snapshots/by-root")[0] == 404


def test_mkdir_eperm_when_the_source_is_not_allowed(env):
    emu, m = env(policy={"clone": {"allow_sources": {"clone-allowed": "true"},
                                   "consistency": "crash"}})
    assert errno_of(lambda: os.mkdir(m.path(f"{DISK}/snapshots/nope"))) == errno.EPERM
    os.setxattr(m.path(DISK), "user.clone-allowed", b"true")
    os.mkdir(m.path(f"{DISK}/snapshots/yes"))
    assert emu.api("GET", "global/snapshots/yes")[0] == 200


def test_mkdir_ehostdown_unhealthy_source(env):
    emu, m = env(policy={"clone": {"consistency": "crash"}})
    st, op = emu.api("POST", f"{INSTANCE}/stop")
    assert st == 200
    emu.wait_operation(op)
    # the disk's instance is TERMINATED, and so is the instance itself
    assert errno_of(lambda: os.mkdir(m.path(f"{DISK}/snapshots/sick"))) == errno.EHOSTDOWN
    assert errno_of(lambda: os.mkdir(m.path(f"{INSTANCE}/clones/sick"))) == errno.EHOSTDOWN
    assert log_has(m, "TERMINATED")


def test_mkdir_ehostdown_health_command(env, tmp_path):
    check = tmp_path / "check"
    check.write_text("#!/bin/sh\ncase \"$CLONEFS_SOURCE\" in *data-0) exit 1;; esac\nexit 0\n")
    check.chmod(0o755)
    emu, m = env(policy={"clone": {"consistency": "crash", "health_command": [str(check)]}})
    assert errno_of(lambda: os.mkdir(m.path(f"{DISK}/snapshots/h1"))) == errno.EHOSTDOWN
    assert log_has(m, "exited with status 1")
    os.mkdir(m.path(f"zones/{seeds.ZONES[1]}/disks/data-1/snapshots/h2"))  # its check passes
    assert emu.api("GET", "global/snapshots/h2")[0] == 200


def test_mkdir_emlink_depth_from_lineage(env):
    seed = seeds.inventory(6, 2)
    # a disk restored from snapshot snap-00000 (of data-0): depth 1
    seed[f"zones/{ZONE}/disks"].append({
        "name": "restored", "sizeGb": "10", "status": "READY",
        "sourceSnapshot": seeds.link("demo-project", "global/snapshots/snap-00000")})
    emu, m = env(policy={"clone": {"consistency": "crash", "max_depth": 1}}, seed=seed)
    os.mkdir(m.path(f"{DISK}/snapshots/depth-one"))            # depth 1: allowed
    e = errno_of(lambda: os.mkdir(m.path(f"zones/{ZONE}/disks/restored/snapshots/depth-two")))
    assert e == errno.EMLINK
    assert log_has(m, "max_depth")


# ---- rmdir: prune ----

def test_rmdir_grace_trash_restore_and_delete_now(env):
    emu, m = env(policy={"prune": {"grace_seconds": 3600, "keep_last": 0}})
    snapdir = m.path("global/snapshots")
    subprocess.run(["rmdir", str(snapdir / "snap-00007")], check=True)
    assert "snap-00007" not in os.listdir(snapdir)
    assert "snap-00007" not in os.listdir(m.path(f"zones/{seeds.ZONES[1]}/disks/data-1/snapshots"))
    trash = m.path(".clonefs/trash/global/snapshots")
    assert "snap-00007" in os.listdir(trash)
    # EPOCH-MOUNTID-ID: when, which mount labelled it, and the id it labelled
    at, mid, rid = api_labels(emu, "global/snapshots/snap-00007")["clonefs-delete-at"].split("-")
    assert int(at) > 0 and mid == m.status()["mount_id"]
    assert rid == emu.api("GET", "global/snapshots/snap-00007")[1]["id"]
    # mv it back: restored, label gone
    os.rename(trash / "snap-00007", snapdir / "snap-00007")
    assert "snap-00007" in os.listdir(snapdir)
    assert "clonefs-delete-at" not in api_labels(emu, "global/snapshots/snap-00007")
    # rmdir inside the trash deletes now
    os.rmdir(snapdir / "snap-00008")
    os.rmdir(trash / "snap-00008")
    assert emu.api("GET", "global/snapshots/snap-00008")[0] == 404
    assert "snap-00008" not in os.listdir(trash)


def test_rmdir_grace_zero_deletes_at_once_and_rm_r_prunes_too(env):
    emu, m = env(policy={"prune": {"grace_seconds": 0, "keep_last": 0}})
    os.rmdir(m.path("global/snapshots/snap-00005"))
    assert emu.api("GET", "global/snapshots/snap-00005")[0] == 404
    r = subprocess.run(["rm", "-r", str(m.path("global/snapshots/snap-00004"))],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert emu.api("GET", "global/snapshots/snap-00004")[0] == 404
    assert not m.path("global/snapshots/snap-00004").exists()


def test_trash_expires_and_the_mount_that_trashed_it_deletes_it(env):
    emu, m = env(policy={"prune": {"grace_seconds": 1, "keep_last": 0}})
    os.rmdir(m.path("global/snapshots/snap-00003"))
    wait_for(lambda: emu.api("GET", "global/snapshots/snap-00003")[0] == 404, 30,
             "the grace period to end and the reaper to delete it")


def test_rmdir_refusals(env):
    emu, m = env(policy={"prune": {"grace_seconds": 0, "keep_last": 2,
                                   "max_per_minute": 3}})
    snapdir = m.path("global/snapshots")
    # EPERM: disks and instances are never deleted
    assert errno_of(lambda: os.rmdir(m.path(DISK))) == errno.EPERM
    assert errno_of(lambda: os.rmdir(m.path(INSTANCE))) == errno.EPERM
    # EPERM: protected by the keep label
    os.setxattr(snapdir / "snap-00006", "user.keep", b"true")
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00006")) == errno.EPERM
    # EPERM: among the newest keep_last of its source (snap-00000 is data-0's newest)
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00000")) == errno.EPERM
    # EBUSY: an image was made from it
    st, op = emu.api("POST", "global/images", {
        "name": "from-snap", "sourceSnapshot": f"projects/{emu.project}/global/snapshots/snap-00011"})
    assert st == 200, op
    emu.wait_operation(op)
    wait_for(lambda: "from-snap" in os.listdir(m.path("global/images")), 30, "the image")
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00011")) == errno.EBUSY
    # EAGAIN: the breaker opens after max_per_minute deletions
    for name in ("snap-00010", "snap-00009", "snap-00008"):
        os.rmdir(snapdir / name)
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00007")) == errno.EAGAIN
    assert emu.api("GET", "global/snapshots/snap-00007")[0] == 200
    for word in ("keep=true", "keep_last", "made from it", "max_per_minute", "never deletes"):
        assert log_has(m, word), word


def test_rmdir_min_age(env):
    emu, m = env(policy={"prune": {"grace_seconds": 0, "keep_last": 0,
                                   "min_age_seconds": 86400 * 365}})
    assert errno_of(lambda: os.rmdir(m.path("global/snapshots/snap-00001"))) == errno.EPERM
    assert log_has(m, "min_age_seconds")


# ---- setfattr: labels ----

def test_setfattr_sets_and_removes_in_the_api(env):
    emu, m = env()
    snap = m.path("global/snapshots/snap-00002")
    subprocess.run(["setfattr", "-n", "user.env", "-v", "prod", str(snap)], check=True)
    assert api_labels(emu, "global/snapshots/snap-00002")["env"] == "prod"
    assert os.getxattr(snap, "user.env") == b"prod"
    subprocess.run(["setfattr", "-x", "user.env", str(snap)], check=True)
    assert "env" not in api_labels(emu, "global/snapshots/snap-00002")
    assert errno_of(lambda: os.getxattr(snap, "user.env")) == errno.ENODATA
    # disks and instances take labels too
    os.setxattr(m.path(DISK), "user.tier", b"gold")
    assert api_labels(emu, DISK)["tier"] == "gold"


def test_setfattr_errnos(env):
    emu, m = env()
    snap = m.path("global/snapshots/snap-00002")
    assert errno_of(lambda: os.setxattr(snap, "user.owner", b"x", os.XATTR_CREATE)) == errno.EEXIST
    assert errno_of(lambda: os.setxattr(snap, "user.nope", b"x", os.XATTR_REPLACE)) == errno.ENODATA
    assert errno_of(lambda: os.removexattr(snap, "user.nope")) == errno.ENODATA
    assert errno_of(lambda: os.setxattr(snap, "user.Bad", b"x")) == errno.EINVAL
    assert errno_of(lambda: os.setxattr(snap, "user.ok", b"Not Valid")) == errno.EINVAL
    assert errno_of(lambda: os.setxattr(snap, "user.ok", b"x" * 64)) == errno.EINVAL
    assert errno_of(lambda: os.setxattr(snap, "trusted.x", b"1")) == errno.EOPNOTSUPP
    assert api_labels(emu, "global/snapshots/snap-00002").get("owner") == "team-2"
    # a 65th label is ENOSPC
    st, cur = emu.api("GET", "global/snapshots/snap-00003")
    many = {f"l{i}": "v" for i in range(64)}
    st, op = emu.api("POST", "global/snapshots/snap-00003/setLabels",
                     {"labels": many, "labelFingerprint": cur["labelFingerprint"]})
    assert st == 200, op
    emu.wait_operation(op)
    full = m.path("global/snapshots/snap-00003")
    wait_for(lambda: len(os.listxattr(full)) == 64, 30, "the 64 labels to sync")
    assert errno_of(lambda: os.setxattr(full, "user.one-more", b"x")) == errno.ENOSPC
    # ERANGE for a buffer too short
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(2)
    n = libc.getxattr(str(snap).encode(), b"user.owner", buf, ctypes.c_size_t(2))
    assert n == -1 and ctypes.get_errno() == errno.ERANGE
    n = libc.listxattr(str(snap).encode(), buf, ctypes.c_size_t(2))
    assert n == -1 and ctypes.get_errno() == errno.ERANGE


def test_label_update_survives_a_concurrent_change(env):
    emu, m = env()
    snap = m.path("global/snapshots/snap-00004")
    os.getxattr(snap, "user.owner")             # the mount's view is now cached
    st, cur = emu.api("GET", "global/snapshots/snap-00004")   # another host changes labels
    st, op = emu.api("POST", "global/snapshots/snap-00004/setLabels", {
        "labels": dict(cur["labels"], other="host"), "labelFingerprint": cur["labelFingerprint"]})
    assert st == 200
    os.setxattr(snap, "user.mine", b"yes")      # must merge, not overwrite
    labels = api_labels(emu, "global/snapshots/snap-00004")
    assert labels["mine"] == "yes" and labels["other"] == "host"


# ---- the policy itself ----

def test_policy_errors_name_the_key_and_policy_file_shows_the_effective_one(
        emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seeds.inventory(2, 1))
    bad = policy_file(tmp_path, clone={"max_depht": 3})
    m = mount_factory(emu, start=False, opts=[f"policy={bad}"])
    r = subprocess.run(m.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "clone.max_depht" in r.stderr and "unknown key" in r.stderr
    # the policy's labels are judged by the mount's provider (GCE: no upper case)
    # before it exists: the start stops, naming the key (started through the
    # fixture, so a daemon that mounted anyway is unmounted)
    upper = policy_file(tmp_path, clone={"labels": {"Owner": "team-a"}})
    m = mount_factory(emu, start=False, opts=[f"policy={upper}"])
    with pytest.raises(RuntimeError, match=r"(?s)exited with 2: .*clone\.labels: keys and "
                                           r"values must be valid labels"):
        m.start(wait_sync=False)
    good = policy_file(tmp_path, prune={"keep_last": 5})
    m2 = mount_factory(emu, opts=[f"policy={good}"])
    eff = json.loads(m2.path(".clonefs/policy").read_text())
    assert eff["prune"]["keep_last"] == 5
    assert eff["clone"]["max_depth"] == 2          # defaults fill the rest
    assert eff["labels"]["required"] == ["owner"]


# ---- crashes: the journal resumes ----

@pytest.mark.parametrize("kill_when", ["stopping", "creating"])
def test_kill_9_mid_stop_mode_clone_resumes_to_exactly_one(emulator_factory, mount_factory,
                                                           tmp_path, kill_when):
    emu = emulator_factory(seeds.inventory(4, 2), args=["--op-seconds", "1.5"])
    pol = policy_file(tmp_path, clone={"consistency": "stop"})
    m = mount_factory(emu, opts=[f"policy={pol}"])
    target = m.path(f"{INSTANCE}/clones/crash-image")
    proc = subprocess.Popen(["mkdir", str(target)], stderr=subprocess.DEVNULL)
    try:
        if kill_when == "stopping":
            wait_for(lambda: emu.api("GET", INSTANCE)[1]["status"] in ("STOPPING", "TERMINATED"),
                     30, "the stop to be sent")
        else:
            wait_for(lambda: emu.api("GET", "global/machineImages/crash-image")[0] == 200,
                     30, "the machine image to be created")
        m.kill()
    finally:
        proc.wait(30)
    # restart on the same cache: the journal finishes the job
    m2 = mount_factory(emu, cache=m.cache, opts=[f"policy={pol}"])

    def finished():
        st, inst = emu.api("GET", INSTANCE)
        st2, mi = emu.api("GET", "global/machineImages/crash-image")
        return inst["status"] == "RUNNING" and st2 == 200 and mi["status"] == "READY"
    wait_for(finished, 60, "the resumed clone to finish and the instance to run")
    images = [i["name"] for i in emu.list_all("global/machineImages")]
    assert images.count("crash-image") == 1
    ops = operations(emu, f"zones/{ZONE}", "/instances/db-0")
    kinds = [op["operationType"] for op in sorted(ops, key=lambda o: o["insertTime"])
             if op["operationType"] in ("stop", "start")]
    assert kinds == ["stop", "start"], kinds        # once each: request ids made retries safe
    wait_for(lambda: "crash-image" in os.listdir(m2.path(f"{INSTANCE}/clones")), 30,
             "the clone in the mount")
