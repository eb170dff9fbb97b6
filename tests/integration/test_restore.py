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
import time

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
