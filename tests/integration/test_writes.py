"""test_writes.py — mkdir clones, rmdir prunes, setfattr labels, under a
policy: every refusal's errno from DESIGN.md's table, provoked through the
mount, and what the emulator's API holds afterwards.

Tests taking `anyenv` or `clouds` run on both providers (gce, aws) through
clouds.py's vocabulary (the kill -9 of a stop-mode clone too: a machine image
on GCE, an AMI on AWS). GCE-only (fixture `env`): guestFlush, GCE's label
syntax and 64-label limit, disk lineage from sourceSnapshot, the policy's
label check by provider, the stop-mode clone's operations; AWS's own (AMIs,
Name tags, stop mode, tag rules) are in test_aws.py."""
import ctypes
import errno
import json
import os
import subprocess

import pytest

import clouds as vocab
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


@pytest.fixture
def anyenv(clouds):
    """Either provider with the same 12 snapshots over 2 disks and a rw mount with
    the given policy -> (Cloud, emulator, mount)."""
    def make(policy=None, n=12, opts=(), emu_args=()):
        return clouds(n, 2, policy=policy, opts=opts, emu_args=emu_args)
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


def test_mkdir_refusals(anyenv):
    c, emu, m = anyenv(policy={"clone": {"consistency": "crash", "max_per_source": 7}})
    snaps = m.path(c.disk_snapshots(0))
    # EINVAL: not a name the API accepts
    for bad in c.bad_snapshot_names:
        assert errno_of(lambda: os.mkdir(snaps / bad)) == errno.EINVAL, bad
    # EEXIST: the name is used (by another disk's snapshot)
    assert errno_of(lambda: os.mkdir(snaps / "snap-00001")) == errno.EEXIST
    # EPERM: mkdir outside a snapshots/ or clones/ directory
    assert errno_of(lambda: os.mkdir(m.path(c.snapshot("loose")))) == errno.EPERM
    # EDQUOT: data-0 already has 6 of the 12 snapshots (even i); quota 7
    os.mkdir(snaps / "third")
    assert errno_of(lambda: os.mkdir(snaps / "fourth")) == errno.EDQUOT
    assert c.api_snapshot(emu, "fourth") is None
    for word in ("EINVAL", "EEXIST", "EPERM", "EDQUOT"):
        assert log_has(m, word), word


def test_mkdir_eacces_for_a_caller_not_allowed(anyenv):
    c, emu, m = anyenv(policy={"clone": {"allow_uids": [4242], "allow_gids": [4242]}})
    e = errno_of(lambda: os.mkdir(m.path(c.disk_snapshots(0)) / "by-root"))
    assert e == errno.EACCES
    assert log_has(m, "uid 0")
    assert c.api_snapshot(emu, "by-root") is None


def test_mkdir_eperm_when_the_source_is_not_allowed(anyenv):
    c, emu, m = anyenv(policy={"clone": {"allow_sources": {"clone-allowed": "true"},
                                         "consistency": "crash"}})
    snaps = m.path(c.disk_snapshots(0))
    assert errno_of(lambda: os.mkdir(snaps / "nope")) == errno.EPERM
    os.setxattr(m.path(c.disk(0)), "user.clone-allowed", b"true")
    os.mkdir(snaps / "yes")
    assert c.api_snapshot(emu, "yes") is not None


def test_mkdir_ehostdown_unhealthy_source(anyenv):
    c, emu, m = anyenv(policy={"clone": {"consistency": "crash"}})
    c.stop_instance_elsewhere(emu, 0)
    # the disk's instance is stopped, and so is the instance itself
    assert errno_of(lambda: os.mkdir(m.path(c.disk_snapshots(0)) / "sick")) == errno.EHOSTDOWN
    assert errno_of(lambda: os.mkdir(m.path(c.instance_clones(0)) / "sick")) == errno.EHOSTDOWN
    assert log_has(m, c.stopped)


def test_mkdir_ehostdown_health_command(anyenv, tmp_path):
    check = tmp_path / "check"
    check.write_text("#!/bin/sh\ncase \"$CLONEFS_SOURCE\" in *data-0) exit 1;; esac\nexit 0\n")
    check.chmod(0o755)
    c, emu, m = anyenv(policy={"clone": {"consistency": "crash",
                                         "health_command": [str(check)]}})
    assert errno_of(lambda: os.mkdir(m.path(c.disk_snapshots(0)) / "h1")) == errno.EHOSTDOWN
    assert log_has(m, "exited with status 1")
    os.mkdir(m.path(c.disk_snapshots(1)) / "h2")  # its check passes
    assert c.api_snapshot(emu, "h2") is not None


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

def test_rmdir_grace_trash_restore_and_delete_now(anyenv, clouds):
    c, emu, m = anyenv(policy={"prune": {"grace_seconds": 3600, "keep_last": 0}})
    snapdir = m.path(c.snapshots)
    subprocess.run(["rmdir", str(snapdir / "snap-00007")], check=True)
    assert "snap-00007" not in os.listdir(snapdir)
    assert "snap-00007" not in os.listdir(m.path(c.disk_snapshots(1)))
    trash = m.path(c.trash())
    assert "snap-00007" in os.listdir(trash)
    # EPOCH-MOUNTID-ID: when, which mount labelled it, and the id it labelled
    at, mid, rid = c.api_labels(emu, "snap-00007")[c.delete_label].split("-", 2)
    assert int(at) > 0 and mid == m.status()["mount_id"]
    assert rid == c.api_snapshot(emu, "snap-00007")["id"]
    # mv it back: restored, label gone
    os.rename(trash / "snap-00007", snapdir / "snap-00007")
    assert "snap-00007" in os.listdir(snapdir)
    assert c.delete_label not in c.api_labels(emu, "snap-00007")
    # rmdir inside the trash deletes now
    os.rmdir(snapdir / "snap-00008")
    os.rmdir(trash / "snap-00008")
    assert c.api_snapshot(emu, "snap-00008") is None
    assert "snap-00008" not in os.listdir(trash)


def test_rmdir_grace_zero_deletes_at_once_and_rm_r_prunes_too(anyenv):
    c, emu, m = anyenv(policy={"prune": {"grace_seconds": 0, "keep_last": 0}})
    os.rmdir(m.path(c.snapshot("snap-00005")))
    assert c.api_snapshot(emu, "snap-00005") is None
    r = subprocess.run(["rm", "-r", str(m.path(c.snapshot("snap-00004")))],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert c.api_snapshot(emu, "snap-00004") is None
    assert not m.path(c.snapshot("snap-00004")).exists()


def test_trash_expires_and_the_mount_that_trashed_it_deletes_it(anyenv, clouds):
    c, emu, m = anyenv(policy={"prune": {"grace_seconds": 1, "keep_last": 0}})
    os.rmdir(m.path(c.snapshot("snap-00003")))
    wait_for(lambda: c.api_snapshot(emu, "snap-00003") is None, 30,
             "the grace period to end and the reaper to delete it")


def test_rmdir_refusals(anyenv):
    c, emu, m = anyenv(policy={"prune": {"grace_seconds": 0, "keep_last": 0,
                                         "max_per_minute": 3}})
    snapdir = m.path(c.snapshots)
    # EPERM: disks and instances are never deleted
    assert errno_of(lambda: os.rmdir(m.path(c.disk(0)))) == errno.EPERM
    assert errno_of(lambda: os.rmdir(m.path(c.instance(0)))) == errno.EPERM
    # EPERM: protected by the keep label
    os.setxattr(snapdir / "snap-00006", "user.keep", b"true")
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00006")) == errno.EPERM
    # EBUSY: an image was made from it
    image = c.image_from_elsewhere(emu, "from-snap", "snap-00011")
    wait_for(lambda: image in os.listdir(m.path(c.images)), 30, "the image")
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00011")) == errno.EBUSY
    # EAGAIN: the breaker opens after max_per_minute deletions
    for name in ("snap-00010", "snap-00009", "snap-00008"):
        os.rmdir(snapdir / name)
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00007")) == errno.EAGAIN
    assert c.api_snapshot(emu, "snap-00007") is not None
    for word in ("keep=true", c.in_use, "max_per_minute", "never deletes"):
        assert log_has(m, word), word


def test_rmdir_keep_last(anyenv, clouds):
    c, emu, m = anyenv(policy={"prune": {"grace_seconds": 0, "keep_last": 2}})
    snapdir = m.path(c.snapshots)
    # EPERM: among the newest keep_last of its source (data-0's: snap-00000, snap-00002)
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00000")) == errno.EPERM
    assert errno_of(lambda: os.rmdir(snapdir / "snap-00002")) == errno.EPERM
    assert log_has(m, "keep_last")
    os.rmdir(snapdir / "snap-00004")                 # the third newest goes
    assert c.api_snapshot(emu, "snap-00004") is None
    assert c.api_snapshot(emu, "snap-00000") is not None


def test_rmdir_min_age(anyenv):
    c, emu, m = anyenv(policy={"prune": {"grace_seconds": 0, "keep_last": 0,
                                         "min_age_seconds": 86400 * 365}})
    assert errno_of(lambda: os.rmdir(m.path(c.snapshot("snap-00001")))) == errno.EPERM
    assert log_has(m, "min_age_seconds")


# ---- setfattr: labels ----

def test_setfattr_sets_and_removes_in_the_api(anyenv):
    c, emu, m = anyenv()
    snap = m.path(c.snapshot("snap-00002"))
    subprocess.run(["setfattr", "-n", "user.env", "-v", "prod", str(snap)], check=True)
    assert c.api_labels(emu, "snap-00002")["env"] == "prod"
    assert os.getxattr(snap, "user.env") == b"prod"
    subprocess.run(["setfattr", "-x", "user.env", str(snap)], check=True)
    assert "env" not in c.api_labels(emu, "snap-00002")
    assert errno_of(lambda: os.getxattr(snap, "user.env")) == errno.ENODATA
    # disks and instances take labels too
    os.setxattr(m.path(c.disk(0)), "user.tier", b"gold")
    assert c.api_disk_labels(emu, 0)["tier"] == "gold"


def test_setfattr_errnos(anyenv):
    c, emu, m = anyenv()
    snap = m.path(c.snapshot("snap-00002"))
    assert errno_of(lambda: os.setxattr(snap, "user.owner", b"x", os.XATTR_CREATE)) == errno.EEXIST
    assert errno_of(lambda: os.setxattr(snap, "user.nope", b"x", os.XATTR_REPLACE)) == errno.ENODATA
    assert errno_of(lambda: os.removexattr(snap, "user.nope")) == errno.ENODATA
    assert errno_of(lambda: os.setxattr(snap, "trusted.x", b"1")) == errno.EOPNOTSUPP
    assert c.api_labels(emu, "snap-00002").get("owner") == "team-2"
    # ERANGE for a buffer too short
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(2)
    n = libc.getxattr(str(snap).encode(), b"user.owner", buf, ctypes.c_size_t(2))
    assert n == -1 and ctypes.get_errno() == errno.ERANGE
    n = libc.listxattr(str(snap).encode(), buf, ctypes.c_size_t(2))
    assert n == -1 and ctypes.get_errno() == errno.ERANGE


def test_setfattr_gce_label_syntax_and_limit(env):
    """GCE-only: the label syntax and the 64-label limit are Compute Engine's (AWS's tag
    rules: test_aws.py)."""
    emu, m = env()
    snap = m.path("global/snapshots/snap-00002")
    assert errno_of(lambda: os.setxattr(snap, "user.Bad", b"x")) == errno.EINVAL
    assert errno_of(lambda: os.setxattr(snap, "user.ok", b"Not Valid")) == errno.EINVAL
    assert errno_of(lambda: os.setxattr(snap, "user.ok", b"x" * 64)) == errno.EINVAL
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


def test_label_update_survives_a_concurrent_change(anyenv):
    c, emu, m = anyenv()
    snap = m.path(c.snapshot("snap-00004"))
    os.getxattr(snap, "user.owner")             # the mount's view is now cached
    c.add_label_elsewhere(emu, "snap-00004", "other", "host")   # another host changes labels
    os.setxattr(snap, "user.mine", b"yes")      # must merge, not overwrite
    labels = c.api_labels(emu, "snap-00004")
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
def test_kill_9_mid_stop_mode_clone_resumes_to_exactly_one(clouds, kill_when):
    c = vocab.make(clouds.provider)
    c, emu, m = clouds(4, 2, policy={"clone": {"consistency": "stop"}},
                       emu_args=c.slow_ops(1.5))
    target = m.path(c.instance_clones(0)) / "crash-image"
    proc = subprocess.Popen(["mkdir", str(target)], stderr=subprocess.DEVNULL)
    try:
        if kill_when == "stopping":
            wait_for(lambda: c.instance_state(emu, 0) in c.stopping, 30, "the stop to be sent")
        else:
            wait_for(lambda: c.api_clones(emu, "crash-image"), 30,
                     "the instance clone to be created")
        m.kill()
    finally:
        proc.wait(30)
    # restart on the same cache: the journal finishes the job
    m2 = clouds.remount(emu, m, opts=m.opts)

    def finished():
        return c.instance_state(emu, 0) == c.running and \
            c.api_clones(emu, "crash-image") == [c.image_ready]
    wait_for(finished, 60, "the resumed clone to finish and the instance to run")
    assert c.api_clones(emu, "crash-image") == [c.image_ready]     # exactly one
    if c.name == "gce":
        ops = operations(emu, f"zones/{ZONE}", "/instances/db-0")
        kinds = [op["operationType"] for op in sorted(ops, key=lambda o: o["insertTime"])
                 if op["operationType"] in ("stop", "start")]
        assert kinds == ["stop", "start"], kinds    # once each: request ids made retries safe
    else:
        # AWS: CreateImage has no client token; the request tag found the first create,
        # so no second image's snapshots were left behind (a duplicate AMI name would
        # have been refused, its snapshots not)
        ami = c.api_images(emu, "crash-image")[0]
        req = c.tags(ami)["clonefs-request"]
        made = [s for s in c._snaps(emu) if c.tags(s).get("clonefs-request") == req]
        mapped = [b["Ebs"]["SnapshotId"] for b in ami["BlockDeviceMappings"] if "Ebs" in b]
        assert sorted(s["SnapshotId"] for s in made) == sorted(mapped), (made, mapped)
    wait_for(lambda: "crash-image" in os.listdir(m2.path(c.instance_clones(0))), 30,
             "the clone in the mount")
