"""test_prune_safety.py — a prune acts only on what the mount showed, under the
policy, every time (SEMANTICS.md, "Pruning: what is checked before anything is
deleted"): rmdir re-reads the resource and compares its id, the reaper acts
only on its own labels after a fresh read, keep_last counts only READY
siblings, and only a request actually sent spends the breaker."""
import datetime as dt
import errno
import json
import os
import re
import time
import urllib.request

import pytest

import seeds
from harness import wait_for

ZONE = seeds.ZONES[0]
DISK = f"zones/{ZONE}/disks/d-0"
PROJECT = "demo-project"
DAY = 86400


def seed(snaps, project=PROJECT):
    """One disk, d-0, and the given snapshots of it: (name, age_days, labels)."""
    disk_link = seeds.link(project, DISK)
    return {
        f"zones/{ZONE}/disks": [{
            "name": "d-0", "sizeGb": "10", "status": "READY",
            "creationTimestamp": seeds.rfc3339(seeds.NOW - dt.timedelta(days=60)),
            "labels": {"owner": "team-a"}}],
        f"zones/{ZONE}/instances": [],
        "global/snapshots": [{
            "name": name, "status": "READY", "sourceDisk": disk_link,
            "diskSizeGb": "10", "storageBytes": str(1 << 20),
            "creationTimestamp": seeds.rfc3339(dt.datetime.now(dt.timezone.utc) -
                                               dt.timedelta(days=age)),
            "labels": dict(labels)} for name, age, labels in snaps],
        "global/images": [], "global/machineImages": [],
    }


def policy_file(tmp_path, prune, clone=None):
    p = tmp_path / "policy.json"
    body = {"prune": prune, "labels": {"required": []}}
    if clone:
        body["clone"] = clone
    p.write_text(json.dumps(body))
    return f"policy={p}"


def errno_of(fn):
    with pytest.raises(OSError) as e:
        fn()
    return e.value.errno


def rmdir_errno(path):
    """0 when the rmdir succeeded, else its errno."""
    try:
        os.rmdir(path)
        return 0
    except OSError as e:
        return e.errno


def control(emu, sub, body):
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/{sub}",
                                 data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def api_ok(emu, method, path, body=None):
    st, doc = emu.api(method, path, body)
    assert st == 200, (method, path, doc)
    if doc and doc.get("kind") == "compute#operation":
        done = emu.wait_operation(doc)
        assert "error" not in done, done
    return doc


def get(emu, name):
    st, doc = emu.api("GET", f"global/snapshots/{name}")
    return doc if st == 200 else None


def set_labels(emu, name, **labels):
    """Another host (or anyone with setLabels rights) changes the labels."""
    doc = get(emu, name)
    new = dict(doc.get("labels", {}))
    for k, v in labels.items():
        if v is None:
            new.pop(k, None)
        else:
            new[k] = v
    api_ok(emu, "POST", f"global/snapshots/{name}/setLabels",
           {"labels": new, "labelFingerprint": doc["labelFingerprint"]})


def recreate(emu, name, labels):
    """Delete `name` and create another snapshot of the same name (a new id)."""
    old = get(emu, name)["id"]
    api_ok(emu, "DELETE", f"global/snapshots/{name}")
    api_ok(emu, "POST", "global/snapshots", {
        "name": name, "sourceDisk": seeds.link(emu.project, DISK), "labels": labels})
    new = get(emu, name)["id"]
    assert new != old
    return old, new


def log(m):
    return m.path(".clonefs/log").read_text()


def shown_id(m, name):
    return json.loads(m.path(f"global/snapshots/{name}/resource.json").read_text())["id"]


def reaper_passes(m, n):
    """Wait until the reaper has run n more passes than now: everything it
    would do with the trash it sees has been considered."""
    start = m.status()["reaper_passes"]
    wait_for(lambda: m.status()["reaper_passes"] >= start + n, 30, f"{n} reaper passes")


# ---- 1. rmdir acts only on the resource the mount showed ----

@pytest.mark.parametrize("grace", [0, 3600])
def test_rmdir_of_a_recreated_name_is_estale_and_deletes_nothing(
        emulator_factory, mount_factory, tmp_path, grace):
    emu = emulator_factory(seed([("s-old", 10, {}), ("s-new", 1, {})]))
    # no periodic sync: the mount keeps showing the old s-old
    m = mount_factory(emu, sync_interval=3600,
                      opts=[policy_file(tmp_path, {"grace_seconds": grace, "keep_last": 0})])
    old, new = recreate(emu, "s-old", {"keep": "yes"})
    assert shown_id(m, "s-old") == old
    assert errno_of(lambda: os.rmdir(m.path("global/snapshots/s-old"))) == errno.ESTALE
    doc = get(emu, "s-old")
    assert doc and doc["id"] == new
    assert doc["labels"] == {"keep": "yes"}             # no clonefs-delete-at either
    assert re.search(r"s-old: ESTALE .*" + new, log(m)), log(m)
    # the entry now shows the API's resource: a second rmdir (once the
    # kernel's own immediate retry of an ESTALE rmdir has been turned away
    # too) acts on it, and the policy, judged on it, refuses: keep=yes
    assert shown_id(m, "s-old") == new
    wait_for(lambda: rmdir_errno(m.path("global/snapshots/s-old")) == errno.EPERM, 10,
             "a second rmdir judged on the new snapshot", interval=0.2)
    assert get(emu, "s-old")["labels"] == {"keep": "yes"}
    assert "keep=yes" in log(m)


def test_the_kernels_retry_of_an_estale_rmdir_deletes_nothing(emulator_factory, mount_factory,
                                                             tmp_path):
    # Linux repeats an rmdir that failed ESTALE once, at once (retry_estale):
    # that repeat must not act on the entry the refusal has just refreshed
    emu = emulator_factory(seed([("s-old", 10, {}), ("s-new", 1, {})]))
    m = mount_factory(emu, sync_interval=3600,
                      opts=[policy_file(tmp_path, {"grace_seconds": 0, "keep_last": 0})])
    old, new = recreate(emu, "s-old", {})           # unprotected this time
    assert errno_of(lambda: os.rmdir(m.path("global/snapshots/s-old"))) == errno.ESTALE
    assert get(emu, "s-old")["id"] == new


def test_labels_of_a_recreated_name_are_not_changed(emulator_factory, mount_factory, tmp_path):
    """setfattr, setfattr -x and a restore act on the resource the mount showed:
    after a delete and re-create under the same name, each is ESTALE and the
    new resource's labels stay as they are (removing its keep label would
    unprotect a resource nobody looked at)."""
    emu = emulator_factory(seed([("s-old", 10, {"keep": "yes"}), ("s-new", 1, {})]))
    m = mount_factory(emu, sync_interval=3600,
                      opts=[policy_file(tmp_path, {"grace_seconds": 3600, "keep_last": 0})])
    snap = m.path("global/snapshots/s-old")
    assert os.getxattr(snap, "user.keep") == b"yes"
    old, new = recreate(emu, "s-old", {"keep": "yes", "owner": "ops"})
    assert errno_of(lambda: os.removexattr(snap, "user.keep")) == errno.ESTALE
    assert get(emu, "s-old")["labels"] == {"keep": "yes", "owner": "ops"}
    assert re.search(r"s-old: ESTALE .*" + new, log(m)), log(m)
    # the entry now shows the new one; a setfattr within the kernel's
    # immediate retry is turned away too, later ones act on the new one
    assert shown_id(m, "s-old") == new
    wait_for(lambda: not errno_of_or_0(lambda: os.setxattr(snap, "user.team", b"db")), 10,
             "a setfattr judged on the new snapshot", interval=0.2)
    assert get(emu, "s-old")["labels"] == {"keep": "yes", "owner": "ops", "team": "db"}
    # a restore out of the trash: the trashed one re-created meanwhile
    os.rmdir(m.path("global/snapshots/s-new"))
    trashed = m.path(".clonefs/trash/global/snapshots/s-new")
    assert trashed.is_dir()
    _, newer = recreate(emu, "s-new", {"clonefs-delete-at": "1-0123456789abcdef-1"})
    assert errno_of(lambda: os.rename(trashed, m.path("global/snapshots/s-new"))) == \
        errno.ESTALE
    assert get(emu, "s-new")["labels"] == {"clonefs-delete-at": "1-0123456789abcdef-1"}


def errno_of_or_0(fn):
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno


def test_rmdir_judges_the_policy_on_the_fresh_record(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seed([("s-a", 10, {}), ("s-b", 9, {})]))
    m = mount_factory(emu, sync_interval=3600,
                      opts=[policy_file(tmp_path, {"grace_seconds": 0, "keep_last": 0})])
    set_labels(emu, "s-a", keep="true")       # another host protects it; the cache lags
    assert errno_of(lambda: os.rmdir(m.path("global/snapshots/s-a"))) == errno.EPERM
    assert get(emu, "s-a") is not None
    assert os.getxattr(m.path("global/snapshots/s-a"), "user.keep") == b"true"


def test_rmdir_inside_the_trash_checks_the_id_too(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seed([("s-t", 10, {}), ("s-u", 1, {})]))
    m = mount_factory(emu, sync_interval=3600,
                      opts=[policy_file(tmp_path, {"grace_seconds": 3600, "keep_last": 0})])
    os.rmdir(m.path("global/snapshots/s-t"))
    trash = m.path(".clonefs/trash/global/snapshots")
    assert "s-t" in os.listdir(trash)
    # replaced in the cloud by one carrying a (copied) trash label
    label = get(emu, "s-t")["labels"]["clonefs-delete-at"]
    old, new = recreate(emu, "s-t", {"clonefs-delete-at": label})
    assert errno_of(lambda: os.rmdir(trash / "s-t")) == errno.ESTALE
    assert get(emu, "s-t")["id"] == new


# ---- 2. the reaper acts only on its own labels, after a fresh read ----

def test_reaper_never_acts_on_labels_it_did_not_write(emulator_factory, mount_factory, tmp_path):
    # the scenario: protected, 5 days old (min_age 30 days), labelled
    # for deletion by someone else; breaker 3 a minute
    snaps = [(f"s-{i:02d}", 5, {"keep": "yes", "clonefs-delete-at": "1"}) for i in range(12)]
    snaps += [("s-other-mount", 40, {"clonefs-delete-at": "1-0123456789abcdef-1"}),
              ("s-malformed", 40, {"clonefs-delete-at": "soon"}),
              ("s-bare", 40, {"clonefs-delete-at": "1"})]
    emu = emulator_factory(seed(snaps + [("s-keep", 0, {})]))
    m = mount_factory(emu, opts=[policy_file(tmp_path, {
        "grace_seconds": 60, "keep_last": 0, "min_age_seconds": 30 * DAY,
        "max_per_minute": 3})])
    names = [s[0] for s in snaps]
    reaper_passes(m, 3)
    st = m.status()
    held = sorted(os.path.basename(p) for p in st["trash_not_ours"])
    assert held == sorted(names), st
    for name in names:
        assert get(emu, name) is not None, name
    # reported once per resource and value, not every pass
    reaper_passes(m, 2)
    text = log(m)
    for name in names:
        assert len(re.findall(rf"/{name}: .*not written by this mount", text)) == 1, name
    # still listed in the trash: an operator can restore or delete them
    assert sorted(os.listdir(m.path(".clonefs/trash/global/snapshots"))) == sorted(names)


def test_reaper_rechecks_id_and_policy_and_deletes_only_what_holds(
        emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seed([("s-kept", 10, {}), ("s-moved", 10, {}), ("s-due", 10, {}),
                                 ("s-new", 0, {})]))
    m = mount_factory(emu, opts=[policy_file(tmp_path, {"grace_seconds": 3600,
                                                        "keep_last": 0})])
    mid = m.status()["mount_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", mid)
    os.rmdir(m.path("global/snapshots/s-kept"))
    value = get(emu, "s-kept")["labels"]["clonefs-delete-at"]
    at, rid = re.fullmatch(rf"(\d+)-{mid}-(\d+)", value).groups()
    assert rid == get(emu, "s-kept")["id"] and int(at) > time.time() + 3000
    # this mount's labels, due now: one protected since, one naming another
    # id, one good
    set_labels(emu, "s-kept", keep="yes", **{"clonefs-delete-at": f"1-{mid}-{rid}"})
    set_labels(emu, "s-moved", **{"clonefs-delete-at": f"1-{mid}-12345"})
    due_id = get(emu, "s-due")["id"]
    set_labels(emu, "s-due", **{"clonefs-delete-at": f"1-{mid}-{due_id}"})
    wait_for(lambda: get(emu, "s-due") is None, 30, "the reaper to delete s-due")
    m.wait_synced()
    reaper_passes(m, 2)
    assert get(emu, "s-kept") is not None and get(emu, "s-moved") is not None
    held = {os.path.basename(h["path"]): h["reason"] for h in m.status()["trash_held"]}
    assert "keep=yes" in held["s-kept"], held
    assert "12345" in held["s-moved"], held


def test_a_restore_elsewhere_wins_over_a_stale_cache(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seed([("s-r", 10, {}), ("s-x", 1, {})]))
    m = mount_factory(emu, sync_interval=3600,
                      opts=[policy_file(tmp_path, {"grace_seconds": 5, "keep_last": 0})])
    passes = m.status()["passes"]
    os.rmdir(m.path("global/snapshots/s-r"))
    set_labels(emu, "s-r", **{"clonefs-delete-at": None})   # restored on another host
    assert "s-r" in os.listdir(m.path(".clonefs/trash/global/snapshots"))
    # no pass has run since (a write kicks none; the next is an hour away): the cache is stale
    assert m.status()["passes"] == passes
    # the grace ends; the reaper re-reads, finds no label, and shows it again
    wait_for(lambda: "s-r" in os.listdir(m.path("global/snapshots")), 30,
             "the restored snapshot back in the listing")
    assert get(emu, "s-r") is not None
    reaper_passes(m, 1)
    assert get(emu, "s-r") is not None


# ---- 3. keep_last counts only READY siblings ----

def test_keep_last_does_not_count_a_clone_still_creating(emulator_factory, mount_factory,
                                                         tmp_path):
    emu = emulator_factory(seed([("only-ready", 3, {})]))
    m = mount_factory(emu, opts=[policy_file(tmp_path, {"grace_seconds": 0, "keep_last": 1},
                                             clone={"consistency": "crash"})])
    control(emu, "faults", {"opSeconds": 600})       # the new snapshot stays CREATING
    try:
        os.mkdir(m.path(f"{DISK}/snapshots/nightly"))
    finally:
        control(emu, "faults", {"opSeconds": 0.2})
    assert get(emu, "nightly")["status"] in ("CREATING", "UPLOADING")
    assert errno_of(lambda: os.rmdir(m.path("global/snapshots/only-ready"))) == errno.EPERM
    assert get(emu, "only-ready") is not None
    assert "keep_last" in log(m)
    control(emu, "clock", {"advanceSeconds": 700})    # let the clone finish
    wait_for(lambda: get(emu, "nightly")["status"] == "READY", 30, "the clone READY")


# ---- 4. only a request actually sent spends the breaker ----

def test_failed_prunes_do_not_spend_the_breaker(emulator_factory, mount_factory, tmp_path):
    names = ["s-stale", "s-protected", "s-gone", "s-unreadable", "s-1", "s-2", "s-3"]
    emu = emulator_factory(seed([(n, 10, {}) for n in names] + [("s-newest", 0, {})]))
    m = mount_factory(emu, sync_interval=3600, opts=[policy_file(tmp_path, {
        "grace_seconds": 3600, "keep_last": 0, "max_per_minute": 2})])
    snaps = m.path("global/snapshots")
    recreate(emu, "s-stale", {})
    set_labels(emu, "s-protected", keep="yes")
    api_ok(emu, "DELETE", "global/snapshots/s-gone")
    assert errno_of(lambda: os.rmdir(snaps / "s-stale")) == errno.ESTALE
    assert errno_of(lambda: os.rmdir(snaps / "s-protected")) == errno.EPERM
    os.rmdir(snaps / "s-gone")                    # already gone: nothing to do
    # the API refuses to show it (403): nothing can be checked, nothing is sent
    control(emu, "raw-override", {"path": "global/snapshots/s-unreadable", "method": "GET",
                                  "status": 403, "times": 1, "body": json.dumps({"error": {
                                      "code": 403, "message": "Required 'compute.snapshots.get'",
                                      "errors": [{"reason": "forbidden"}]}})})
    assert errno_of(lambda: os.rmdir(snaps / "s-unreadable")) == errno.EACCES
    assert "compute.snapshots.get" in log(m)
    for _ in range(3):
        assert errno_of(lambda: os.rmdir(snaps / "s-protected")) == errno.EPERM
    # the two the breaker allows in a minute are still there to spend
    os.rmdir(snaps / "s-1")
    os.rmdir(snaps / "s-2")
    assert errno_of(lambda: os.rmdir(snaps / "s-3")) == errno.EAGAIN
    assert "clonefs-delete-at" in get(emu, "s-1")["labels"]
    assert "clonefs-delete-at" in get(emu, "s-2")["labels"]
    assert "clonefs-delete-at" not in get(emu, "s-3")["labels"]


# ---- what the mount showed: a record without an id, the mount's identity ----

def test_a_record_without_an_id_is_never_pruned_by_name(emulator_factory, mount_factory,
                                                        tmp_path):
    emu = emulator_factory(seed([("s-noid", 10, {}), ("s-x", 1, {})]))
    # the listing the mount reads leaves the id out
    listing = {"kind": "compute#snapshotList",
               "items": [{k: v for k, v in s.items() if k != "id"}
                         for s in emu.list_all("global/snapshots")]}
    control(emu, "raw-override", {"path": "global/snapshots", "method": "GET", "status": 200,
                                  "body": json.dumps(listing)})
    m = mount_factory(emu, sync_interval=3600,
                      opts=[policy_file(tmp_path, {"grace_seconds": 0, "keep_last": 0})])
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/raw-override",
                                 method="DELETE")
    urllib.request.urlopen(req, timeout=30).close()
    snap = m.path("global/snapshots/s-noid")
    assert "id" not in json.loads((snap / "resource.json").read_text())
    assert errno_of(lambda: os.rmdir(snap)) == errno.ESTALE
    assert get(emu, "s-noid") is not None
    assert "no id" in log(m)
    # read again from the API, it has its id: a later rmdir prunes it
    assert shown_id(m, "s-noid") == get(emu, "s-noid")["id"]
    wait_for(lambda: rmdir_errno(snap) != errno.ESTALE, 10, "the rmdir to act", interval=0.2)
    assert get(emu, "s-noid") is None


def test_the_mount_keeps_its_identity_and_reaps_its_trash_after_a_restart(
        emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seed([("s-mine", 10, {}), ("s-x", 1, {})]))
    pol = policy_file(tmp_path, {"grace_seconds": 3600, "keep_last": 0})
    m = mount_factory(emu, opts=[pol])
    mid = m.status()["mount_id"]
    os.rmdir(m.path("global/snapshots/s-mine"))
    m.stop()
    files = list((tmp_path / "cache").glob("*/mount-id"))
    assert len(files) == 1 and files[0].read_text() == mid + "\n"
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    # the grace period ends while it is down
    value = get(emu, "s-mine")["labels"]["clonefs-delete-at"]
    set_labels(emu, "s-mine", **{"clonefs-delete-at": "1" + value[value.index("-"):]})
    m2 = mount_factory(emu, opts=[pol])
    assert m2.status()["mount_id"] == mid
    wait_for(lambda: get(emu, "s-mine") is None, 30, "the restarted mount to reap its trash")


def test_a_damaged_mount_identity_is_refused_not_replaced(emulator_factory, mount_factory,
                                                         tmp_path):
    emu = emulator_factory(seed([("s-a", 10, {})]))
    m = mount_factory(emu)
    m.stop()
    f = next((tmp_path / "cache").glob("*/mount-id"))
    f.write_text("not-an-id\n")
    m2 = mount_factory(emu, start=False)
    with pytest.raises(RuntimeError) as e:
        m2.start()
    assert "mount-id" in str(e.value) and "not a mount identity" in str(e.value)
    assert f.read_text() == "not-an-id\n"


def test_a_clone_just_made_carries_its_id_and_is_pruned_by_it(emulator_factory, mount_factory,
                                                              tmp_path):
    """mkdir stores the API's own record of the accepted clone, id included,
    when the API shows it already: an rmdir right after acts on that id
    (no ESTALE for a clone this mount just made)."""
    emu = emulator_factory(seed([("s-1", 10, {})]))
    m = mount_factory(emu, sync_interval=3600, opts=[
        policy_file(tmp_path, {"grace_seconds": 0, "keep_last": 0, "min_age_seconds": 0},
                    clone={"consistency": "crash", "require_healthy": False})])
    os.mkdir(m.path(f"{DISK}/snapshots/fresh"))
    assert shown_id(m, "fresh") == get(emu, "fresh")["id"]
    wait_for(lambda: get(emu, "fresh")["status"] == "READY", 30, "the clone to be READY")
    os.rmdir(m.path("global/snapshots/fresh"))
    assert get(emu, "fresh") is None
