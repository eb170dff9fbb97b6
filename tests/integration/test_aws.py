"""test_aws.py — clonefs mounting aws:us-east-1 from scripts/ec2-emulator:
the tree, names from Name tags (a collision too), stat and xattrs, mkdir of a
snapshot and of an AMI with every tag in the create call, rmdir (an AMI's
snapshots go with it, a shared one stays), the refusals AWS documents, tag
writes per key; rmdir through the trash (the label holds the id with its
'-'), mv back and the reaper; restore by ln -s (a volume from a snapshot, an
instance from an AMI, the zone, the refusals, one volume per ln -s through
faults and kill -9). What both providers share (listings, labels as xattrs,
the policy's refusals, prune, faults, exactly-once creates through a 30 %
fault rate, crashes, hostile input) runs on both from test_readonly.py,
test_writes.py, test_faults.py, test_crash.py and test_hostile.py
(clouds.py); what is here is AWS's own.

What the API holds afterwards is read with the AWS CLI (Debian's awscli),
not with clonefs. Resources are found in the mount by their id's entry when
they have no Name; a resource that has one is looked up through its
resource.json, so each test checks one thing.

Run: CLONEFS_BIN=$PWD/build/test/clonefs /usr/bin/python3 -m pytest -q \
     -p no:cacheprovider tests/integration/test_aws.py
"""
import errno
import json
import os
import re
import subprocess
from datetime import datetime, timezone

import pytest

from harness import wait_for

AWS = "/usr/bin/aws"
needs_cli = pytest.mark.skipif(not os.access(AWS, os.X_OK), reason="Debian's awscli is missing")

VOL = "vol-0a00000000000000d"     # attached to INST, no Name
VOL_OLD = "vol-0a000000000000011"  # Name=shared, the older: keeps the name
VOL_NEW = "vol-0a000000000000012"  # Name=shared, the newer: listed by its id
VOL_SLASH = "vol-0a000000000000013"  # Name with a '/': listed by its id
VOL_IDNAME = "vol-0a000000000000014"  # Name shaped like an id: listed by its id
INST = "i-0a000000000000001"
SNAP = "snap-0a000000000000001"    # used by AMI
SNAP_FREE = "snap-0a000000000000002"
SNAP_BACKUP = "snap-0a000000000000003"
SNAP_LOCKED = "snap-0a000000000000004"
SNAP_NAMED = "snap-0a000000000000005"
AMI = "ami-0a000000000000001"
AMI_TWIN = "ami-0a000000000000002"  # shares SNAP with AMI

SEED = {
    "volumes": [
        {"volumeId": VOL, "size": 100, "availabilityZone": "us-east-1a",
         "createTime": "2024-05-01T10:00:00Z"},
        {"volumeId": VOL_OLD, "size": 8, "createTime": "2024-01-01T00:00:00Z",
         "tags": {"Name": "shared"}},
        {"volumeId": VOL_NEW, "size": 8, "createTime": "2024-02-01T00:00:00Z",
         "tags": {"Name": "shared"}},
        {"volumeId": VOL_SLASH, "size": 1, "tags": {"Name": "a/b"}},
        {"volumeId": VOL_IDNAME, "size": 1, "tags": {"Name": "vol-0123456789abcdef0"}},
    ],
    "instances": [
        {"instanceId": INST, "state": "running", "attachTime": "2024-04-01T09:00:00Z",
         "launchTime": "2024-06-01T09:00:00Z",
         "volumes": [{"volumeId": VOL, "device": "/dev/xvda"}]},
    ],
    "snapshots": [
        {"snapshotId": SNAP, "volumeId": VOL, "volumeSize": 100,
         "startTime": "2024-05-02T10:00:00Z", "tags": {"owner": "alice", "aws:cloudformation:x": "y"}},
        {"snapshotId": SNAP_FREE, "volumeId": VOL, "volumeSize": 100,
         "startTime": "2024-05-03T10:00:00Z"},
        {"snapshotId": SNAP_BACKUP, "volumeId": VOL, "volumeSize": 100,
         "tags": {"aws:backup:source-resource": "arn:aws:ec2:us-east-1:123456789012:volume/x"}},
        {"snapshotId": SNAP_LOCKED, "volumeId": VOL, "volumeSize": 100, "locked": True},
        {"snapshotId": SNAP_NAMED, "volumeId": VOL, "volumeSize": 100,
         "tags": {"Name": "nightly"}},
    ],
    "images": [
        {"imageId": AMI, "name": "golden", "creationDate": "2024-05-04T10:00:00Z",
         "blockDeviceMappings": [{"deviceName": "/dev/xvda", "snapshotId": SNAP,
                                  "volumeSize": 100}]},
        {"imageId": AMI_TWIN, "name": "golden-twin", "creationDate": "2024-05-05T10:00:00Z",
         "blockDeviceMappings": [{"deviceName": "/dev/xvda", "snapshotId": SNAP,
                                  "volumeSize": 100}]},
    ],
}

CRASH = {"clone": {"consistency": "crash"}, "prune": {"grace_seconds": 0}}


def aws(emu, *args, check=True):
    """The AWS CLI against the emulator -> parsed JSON."""
    cmd = [AWS, "--endpoint-url", emu.url, "--region", emu.region, "--output", "json"] + list(args)
    r = subprocess.run(cmd, env=emu.env(), capture_output=True, text=True, timeout=120)
    if not check:
        return r
    assert r.returncode == 0, "%s\n%s" % (" ".join(args), r.stderr)
    return json.loads(r.stdout) if r.stdout.strip() else None


def snapshots(emu):
    return aws(emu, "ec2", "describe-snapshots", "--owner-ids", "self")["Snapshots"]


def tags_of(item):
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


def entry(m, coll, rid):
    """The entry of resource rid in collection coll: its id, or the name it is
    listed by (found through its resource.json)."""
    base = m.path(coll)
    if (base / rid).is_dir():
        return base / rid
    for name in os.listdir(base):
        try:
            doc = json.loads((base / name / "resource.json").read_text())
        except (OSError, ValueError):
            continue
        if rid in doc.values():
            return base / name
    return None


def errno_of(fn):
    with pytest.raises(OSError) as e:
        fn()
    return e.value.errno


@pytest.fixture
def aws_env(cloud):
    def make(policy=CRASH, **kw):
        return cloud("aws", seed=SEED, policy=policy, **kw)
    return make


@needs_cli
def test_tree_stat_and_tags(aws_env):
    emu, m = aws_env(policy=None)
    assert sorted(os.listdir(m.path())) == [".clonefs", "images", "instances", "snapshots",
                                            "volumes"]
    assert VOL in os.listdir(m.path("volumes"))
    assert INST in os.listdir(m.path("instances"))
    assert SNAP_FREE in os.listdir(m.path("snapshots"))
    # a volume's snapshots and an instance's volumes
    assert SNAP_FREE in os.listdir(m.path(f"volumes/{VOL}/snapshots"))
    assert os.readlink(m.path(f"instances/{INST}/volumes/{VOL}")).endswith(f"volumes/{VOL}")
    # mtime: createTime, startTime, creationDate, the primary interface's attach time
    # (not launchTime, the last start); st_size: the volume's size
    def mtime(p):
        return datetime.fromtimestamp(os.stat(p).st_mtime, timezone.utc).isoformat()
    assert mtime(m.path(f"volumes/{VOL}")) == "2024-05-01T10:00:00+00:00"
    assert mtime(m.path(f"snapshots/{SNAP_FREE}")) == "2024-05-03T10:00:00+00:00"
    assert mtime(entry(m, "images", AMI)) == "2024-05-04T10:00:00+00:00"
    assert mtime(m.path(f"instances/{INST}")) == "2024-04-01T09:00:00+00:00"
    assert os.stat(m.path(f"volumes/{VOL}")).st_size == 100 << 30
    # tags are user.* xattrs, aws:* ones too (read-only)
    out = subprocess.run(["getfattr", "-d", "-m", "-", str(m.path(f"snapshots/{SNAP}"))],
                         capture_output=True, text=True, check=True).stdout
    assert 'user.owner="alice"' in out and 'user.aws:cloudformation:x="y"' in out
    assert m.path(f"instances/{INST}/status").read_text().strip() == "RUNNING"
    doc = json.loads(m.path(f"snapshots/{SNAP_FREE}/resource.json").read_text())
    assert doc["snapshotId"] == SNAP_FREE and doc["volumeId"] == VOL


@needs_cli
def test_status_speaks_the_engines_words(aws_env):
    """status is the engine's word (READY, STOPPED, ...), resource.json AWS's own item."""
    emu, m = aws_env()
    snap = m.path(f"volumes/{VOL}/snapshots/nightly")
    out = subprocess.run(["cat", str(snap / "status")], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "READY"
    assert json.loads((snap / "resource.json").read_text())["status"] == "completed"
    assert m.path("images/golden/status").read_text().strip() == "READY"
    assert m.path(f"volumes/{VOL}/status").read_text().strip() == "READY"      # in-use
    # a stopped instance is STOPPED ("terminated" is deleted on AWS)
    aws(emu, "ec2", "stop-instances", "--instance-ids", INST)
    status = m.path(f"instances/{INST}/status")
    wait_for(lambda: status.read_text().strip() == "STOPPED", 30, "the instance STOPPED")
    doc = json.loads(m.path(f"instances/{INST}/resource.json").read_text())
    assert doc["instanceState"]["name"] == "stopped"


def test_sync_counts_what_the_listings_cost(aws_env):
    """The AWS pages carry their requests and bytes: the sync's pass line and the
    per-listing metrics are not 0."""
    emu, m = aws_env()
    passes = re.findall(r"sync: full pass: .*; (\d+) requests, (\d+) bytes;", m.stderr())
    assert passes, m.stderr()[-2000:]
    assert int(passes[0][0]) >= 4 and int(passes[0][1]) > 0      # four Describes at least
    metrics = m.path(".clonefs/metrics").read_text()
    for name in ("clonefs_sync_requests_total", "clonefs_sync_received_bytes_total"):
        got = dict(re.findall(r'^%s\{[^}]*collection="([^"]+)"\} (\d+)$' % name, metrics,
                              re.M))
        assert len(got) == 4 and all(int(v) > 0 for v in got.values()), (name, got)


def test_names_from_name_tags(aws_env):
    emu, m = aws_env(policy=None)
    vols = os.listdir(m.path("volumes"))
    # the oldest of two keeps "shared", the other is listed by id; a Name that is not
    # a safe entry name, or is shaped like an id, is not used
    assert "shared" in vols and VOL_NEW in vols and VOL_OLD not in vols
    assert json.loads(m.path("volumes/shared/resource.json").read_text())["volumeId"] == VOL_OLD
    assert VOL_SLASH in vols and VOL_IDNAME in vols
    assert "nightly" in os.listdir(m.path("snapshots"))
    assert "golden" in os.listdir(m.path("images"))


@needs_cli
def test_mkdir_snapshot_carries_every_tag(aws_env):
    emu, m = aws_env()
    os.mkdir(m.path(f"volumes/{VOL}/snapshots/before-upgrade"))
    assert "before-upgrade" in os.listdir(m.path(f"volumes/{VOL}/snapshots"))
    made = [s for s in snapshots(emu) if tags_of(s).get("Name") == "before-upgrade"]
    assert len(made) == 1, made
    s = made[0]
    t = tags_of(s)
    assert s["VolumeId"] == VOL
    # provenance and the request tag came with the create call itself
    assert t["clonefs-source"] and t["clonefs-consistency"] == "crash"
    assert len(t["clonefs-request"]) == 36
    # a taken name is EEXIST, a name shaped like an id EINVAL
    assert errno_of(lambda: os.mkdir(m.path(f"volumes/{VOL}/snapshots/before-upgrade"))) \
        == errno.EEXIST
    assert errno_of(lambda: os.mkdir(m.path(f"volumes/{VOL}/snapshots/snap-0123456789abcdef0"))) \
        == errno.EINVAL
    # it completes, and the mount says so
    wait_for(lambda: (p := entry(m, "snapshots", s["SnapshotId"])) is not None and
             (p / "status").read_text().strip() == "READY", 30, "the snapshot completed")


@needs_cli
def test_rmdir_snapshots_and_the_refusals(aws_env):
    emu, m = aws_env()
    os.rmdir(m.path(f"snapshots/{SNAP_FREE}"))
    assert SNAP_FREE not in [s["SnapshotId"] for s in snapshots(emu)]
    assert SNAP_FREE not in os.listdir(m.path("snapshots"))
    # an AMI uses it: EBUSY; AWS Backup's: EPERM; locked: EPERM; all still there
    assert errno_of(lambda: os.rmdir(m.path(f"snapshots/{SNAP}"))) == errno.EBUSY
    assert errno_of(lambda: os.rmdir(m.path(f"snapshots/{SNAP_BACKUP}"))) == errno.EPERM
    assert errno_of(lambda: os.rmdir(m.path(f"snapshots/{SNAP_LOCKED}"))) == errno.EPERM
    left = [s["SnapshotId"] for s in snapshots(emu)]
    assert SNAP in left and SNAP_BACKUP in left and SNAP_LOCKED in left


@needs_cli
def test_rmdir_through_the_trash_mv_back_and_the_reaper(aws_env):
    # the trash label holds the EC2 id, '-' and all: EPOCH-MOUNTID-snap-HEX
    emu, m = aws_env(policy={"prune": {"grace_seconds": 8, "keep_last": 0}})
    trash = m.path(".clonefs/trash/snapshots")
    os.rmdir(m.path(f"snapshots/{SNAP_FREE}"))
    assert SNAP_FREE not in os.listdir(m.path("snapshots"))
    assert SNAP_FREE in os.listdir(trash)
    def label(rid):
        return tags_of([s for s in snapshots(emu) if s["SnapshotId"] == rid][0]) \
            .get("clonefs-delete-at")
    at, mid, rid = label(SNAP_FREE).split("-", 2)
    assert int(at) > 0 and mid == m.status()["mount_id"] and rid == SNAP_FREE
    # one an AMI uses is EBUSY through the trash too (DeleteSnapshot would refuse it
    # when the grace ends): not trashed, no label
    assert errno_of(lambda: os.rmdir(m.path(f"snapshots/{SNAP}"))) == errno.EBUSY
    assert SNAP in os.listdir(m.path("snapshots")) and SNAP not in os.listdir(trash)
    assert label(SNAP) is None
    # mv it back: restored, the tag gone, still in the API after the grace
    os.rename(trash / SNAP_FREE, m.path(f"snapshots/{SNAP_FREE}"))
    assert SNAP_FREE in os.listdir(m.path("snapshots"))
    assert label(SNAP_FREE) is None
    # another one left in the trash: the reaper deletes it once the grace ends
    os.rmdir(m.path("snapshots/nightly"))
    assert "nightly" in os.listdir(trash)
    wait_for(lambda: SNAP_NAMED not in [s["SnapshotId"] for s in snapshots(emu)], 60,
             "the grace period to end and the reaper to delete it")
    wait_for(lambda: "nightly" not in os.listdir(trash), 30, "the trash entry gone")
    assert SNAP_FREE in [s["SnapshotId"] for s in snapshots(emu)]
    assert label(SNAP_FREE) is None


@needs_cli
def test_setfattr_writes_one_tag_and_never_an_aws_one(aws_env):
    emu, m = aws_env()
    p = m.path(f"snapshots/{SNAP}")
    os.setxattr(p, "user.team", b"storage")
    os.removexattr(p, "user.owner")
    t = tags_of([s for s in snapshots(emu) if s["SnapshotId"] == SNAP][0])
    assert t["team"] == "storage" and "owner" not in t
    assert t["aws:cloudformation:x"] == "y"
    assert errno_of(lambda: os.setxattr(p, "user.aws:x", b"1")) == errno.EINVAL
    assert errno_of(lambda: os.removexattr(p, "user.aws:cloudformation:x")) == errno.EINVAL
    # a tag another writer set: seen after a sync, removed with the value it has
    aws(emu, "ec2", "create-tags", "--resources", SNAP, "--tags", "Key=env,Value=prod")
    wait_for(lambda: "user.env" in os.listxattr(p), 30, "the sync showing the new tag")
    os.removexattr(p, "user.env")
    t = tags_of([s for s in snapshots(emu) if s["SnapshotId"] == SNAP][0])
    assert "env" not in t and t["team"] == "storage"


@needs_cli
def test_ami_mkdir_and_rmdir_takes_its_snapshots(aws_env):
    # keep_last 0: the AMI made here is its instance's only READY one
    emu, m = aws_env(policy={"clone": {"consistency": "crash"},
                             "prune": {"grace_seconds": 0, "keep_last": 0}})
    os.mkdir(m.path(f"instances/{INST}/images/db1-golden"))
    assert "db1-golden" in os.listdir(m.path(f"instances/{INST}/images"))
    imgs = aws(emu, "ec2", "describe-images", "--owners", "self")["Images"]
    ami = [i for i in imgs if i["Name"] == "db1-golden"][0]
    t = tags_of(ami)
    assert len(t["clonefs-request"]) == 36 and t["clonefs-source-id"] == INST
    snaps = [b["Ebs"]["SnapshotId"] for b in ami["BlockDeviceMappings"] if "Ebs" in b]
    assert snaps
    made = {s["SnapshotId"]: tags_of(s) for s in snapshots(emu)}
    assert all(made[s]["clonefs-request"] == t["clonefs-request"] for s in snaps)
    # an AMI's name too short for AWS: EINVAL, nothing sent
    assert errno_of(lambda: os.mkdir(m.path(f"instances/{INST}/images/ab"))) == errno.EINVAL
    wait_for(lambda: (p := entry(m, "images", ami["ImageId"])) is not None and
             (p / "status").read_text().strip() == "READY", 30, "the AMI available")
    os.rmdir(entry(m, "images", ami["ImageId"]))
    imgs = aws(emu, "ec2", "describe-images", "--owners", "self")["Images"]
    assert ami["ImageId"] not in [i["ImageId"] for i in imgs]
    left = [s["SnapshotId"] for s in snapshots(emu)]
    assert not set(snaps) & set(left), "the AMI's snapshots were not deleted"
    # the seed's AMI: deregistered, but its snapshot is its twin's too: kept (logged)
    os.rmdir(entry(m, "images", AMI))
    imgs = aws(emu, "ec2", "describe-images", "--owners", "self")["Images"]
    assert AMI not in [i["ImageId"] for i in imgs]
    assert SNAP in [s["SnapshotId"] for s in snapshots(emu)]
    assert f"snapshot {SNAP} kept: another AMI uses it" in m.stderr()


@needs_cli
def test_stop_mode_stops_and_starts_the_instance(aws_env):
    emu, m = aws_env(policy={"clone": {"consistency": "stop"}, "prune": {"grace_seconds": 0}},
                     opts=["mkdir_wait=ready"])
    emu.control("DELETE", "requests")
    os.mkdir(m.path(f"volumes/{VOL}/snapshots/cold"))
    sent = emu.control("GET", "requests")["requests"]
    assert sent.get("EC2 StopInstances") == 1 and sent.get("EC2 StartInstances") == 1, sent
    inst = aws(emu, "ec2", "describe-instances", "--instance-ids", INST)
    state = inst["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"
    made = [s for s in snapshots(emu) if tags_of(s).get("Name") == "cold"]
    assert len(made) == 1 and tags_of(made[0])["clonefs-consistency"] == "stop"
    # and by id: .clonefs/by-id links to where it is shown
    link = m.path(f".clonefs/by-id/{made[0]['SnapshotId']}")
    assert os.path.realpath(link) == str(m.path("snapshots/cold"))


@needs_cli
def test_setfattr_name_renames(aws_env):
    emu, m = aws_env()
    os.setxattr(m.path(f"snapshots/{SNAP_FREE}"), "user.Name", b"weekly")
    assert "weekly" in os.listdir(m.path("snapshots"))
    assert SNAP_FREE not in os.listdir(m.path("snapshots"))
    t = tags_of([s for s in snapshots(emu) if s["SnapshotId"] == SNAP_FREE][0])
    assert t["Name"] == "weekly"
    # a name listed already: EEXIST, nothing written
    assert errno_of(lambda: os.setxattr(m.path("snapshots/weekly"), "user.Name", b"nightly")) \
        == errno.EEXIST
    assert tags_of([s for s in snapshots(emu) if s["SnapshotId"] == SNAP_FREE][0])["Name"] \
        == "weekly"
    # a Name changed elsewhere moves the entry at the next sync
    aws(emu, "ec2", "create-tags", "--resources", SNAP_FREE, "--tags", "Key=Name,Value=monthly")
    wait_for(lambda: "monthly" in os.listdir(m.path("snapshots")), 30, "the rename elsewhere")


# ---- restore: ln -s into volumes/ or instances/ (SEMANTICS.md, Restore) ----

def volumes_named(emu, name):
    return aws(emu, "ec2", "describe-volumes", "--filters",
               f"Name=tag:Name,Values={name}")["Volumes"]


def instances_named(emu, name):
    res = aws(emu, "ec2", "describe-instances", "--filters",
              f"Name=tag:Name,Values={name}")["Reservations"]
    return [i for r in res for i in r["Instances"]]


def log_has(m, text):
    return text in m.path(".clonefs/log").read_text()


# the seed's copies are from 2024: older than restore.max_age_seconds' default
RESTORE = dict(CRASH, restore={"max_age_seconds": 0})


@needs_cli
def test_restore_volume_from_snapshot(aws_env):
    emu, m = aws_env(policy=RESTORE)
    emu.control("DELETE", "requests")
    os.symlink(f"../snapshots/{SNAP_FREE}", m.path("volumes/db-restored"))
    # the next lookup shows the new volume's directory, under its Name
    wait_for(lambda: m.path("volumes/db-restored").is_dir() and
             not m.path("volumes/db-restored").is_symlink(), 10, "the restored volume")
    made = volumes_named(emu, "db-restored")
    assert len(made) == 1, made
    v = made[0]
    t = tags_of(v)
    # from the snapshot, in its volume's zone, at least its size
    assert v["SnapshotId"] == SNAP_FREE and v["AvailabilityZone"] == "us-east-1a"
    assert v["Size"] >= 100
    # provenance and the request tag, in the create call itself
    assert SNAP_FREE in t["clonefs-restored-from"]
    assert t["clonefs-restored-at"][:2] == "20" and t["clonefs-source-created"][:2] == "20"
    assert len(t["clonefs-request"]) == 36
    assert emu.control("GET", "requests")["requests"].get("EC2 CreateVolume") == 1
    wait_for(lambda: m.path("volumes/db-restored/status").read_text().strip() == "READY",
             30, "the restored volume available in the mount")
    # a name taken: EEXIST; nothing sent
    assert errno_of(lambda: os.symlink(f"../snapshots/{SNAP_FREE}",
                                       m.path("volumes/db-restored"))) == errno.EEXIST
    # a volume from an AMI, a snapshot from a snapshot: EINVAL
    assert errno_of(lambda: os.symlink("../images/golden", m.path("volumes/x"))) == errno.EINVAL
    assert errno_of(lambda: os.symlink(f"../snapshots/{SNAP_FREE}",
                                       m.path("snapshots/x"))) == errno.EINVAL
    assert log_has(m, "a volume is not made from images/golden")
    # a snapshot shown under its volume names the snapshot itself
    os.symlink(f"{VOL}/snapshots/{SNAP_FREE}", m.path("volumes/via-view"))
    assert len(volumes_named(emu, "via-view")) == 1
    assert emu.control("GET", "requests")["requests"].get("EC2 CreateVolume") == 2


@needs_cli
def test_restore_volume_into_the_zone_given(aws_env):
    emu, m = aws_env(policy=RESTORE, opts=["zone=us-east-1b"])
    os.symlink(f"../snapshots/{SNAP_FREE}", m.path("volumes/elsewhere"))
    made = volumes_named(emu, "elsewhere")
    assert len(made) == 1 and made[0]["AvailabilityZone"] == "us-east-1b", made


@needs_cli
def test_restore_volume_whose_volume_is_gone_needs_a_zone(cloud):
    # a snapshot of a volume deleted since: no zone to take, and none given
    orphan = "snap-0a0000000000000f1"
    seed = dict(SEED, snapshots=SEED["snapshots"] + [
        {"snapshotId": orphan, "volumeId": "vol-0a0000000000000f1", "volumeSize": 8}])
    emu, m = cloud("aws", seed=seed, policy=RESTORE)
    emu.control("DELETE", "requests")
    assert errno_of(lambda: os.symlink(f"../snapshots/{orphan}", m.path("volumes/nowhere"))) \
        == errno.EINVAL
    assert log_has(m, "mount with -o zone=AZ")
    assert "EC2 CreateVolume" not in emu.control("GET", "requests")["requests"]
    assert volumes_named(emu, "nowhere") == []


@needs_cli
def test_restore_instance_from_ami(aws_env):
    emu, m = aws_env(policy=RESTORE, opts=["mkdir_wait=ready"])
    emu.control("DELETE", "requests")
    # an absolute target inside the mount; with mkdir_wait=ready it returns running
    os.symlink(str(m.path("images/golden")), m.path("instances/web-2"))
    made = instances_named(emu, "web-2")
    assert len(made) == 1, made
    i = made[0]
    assert i["ImageId"] == AMI and i["State"]["Name"] == "running"
    t = tags_of(i)
    assert AMI in t["clonefs-restored-from"] and len(t["clonefs-request"]) == 36
    # the instance's volumes carry the same tags
    vids = [b["Ebs"]["VolumeId"] for b in i["BlockDeviceMappings"]]
    vols = aws(emu, "ec2", "describe-volumes", "--volume-ids", *vids)["Volumes"]
    assert vols and all(tags_of(v)["clonefs-request"] == t["clonefs-request"] for v in vols)
    assert emu.control("GET", "requests")["requests"].get("EC2 RunInstances") == 1
    assert m.path("instances/web-2/status").read_text().strip() == "RUNNING"
    assert errno_of(lambda: os.symlink("../images/golden", m.path("instances/web-2"))) \
        == errno.EEXIST
    assert errno_of(lambda: os.symlink(f"../snapshots/{SNAP_FREE}", m.path("instances/x"))) \
        == errno.EINVAL


@needs_cli
def test_restore_kill_9_with_the_create_in_flight_makes_one_volume(aws_env):
    """kill -9 while CreateVolume is held by a slow API: the cloud makes the
    volume, its answer never arrives; the restarted daemon resumes the
    journaled job and asks again with the same ClientToken, which gets that
    volume: one volume for the ln -s."""
    from harness import AwsMount
    emu, m = aws_env(policy=RESTORE)
    emu.control("DELETE", "requests")
    emu.control("POST", "faults", {"slowRate": 1.0, "slowSeconds": 4})
    ln = subprocess.Popen(["ln", "-s", f"../snapshots/{SNAP_FREE}",
                           str(m.path("volumes/survivor"))], stderr=subprocess.DEVNULL)

    def creates():
        return emu.control("GET", "requests")["requests"].get("EC2 CreateVolume", 0)
    wait_for(lambda: creates() == 1, 60, "CreateVolume to reach the API")
    m.kill()                                  # the API holds it: no answer will arrive
    ln.wait(30)
    emu.control("POST", "faults", {"slowRate": 0})
    wait_for(lambda: len(volumes_named(emu, "survivor")) == 1, 30, "the volume to be made")
    m2 = AwsMount(emu, m.workdir, cache=m.cache, opts=list(m.opts))
    try:
        m2.start()
        wait_for(lambda: creates() >= 2, 60, "the resumed job to ask again")
        wait_for(lambda: m2.path("volumes/survivor/status").exists() and
                 m2.path("volumes/survivor/status").read_text().strip() == "READY", 60,
                 "the volume in the restarted mount")
        assert len(volumes_named(emu, "survivor")) == 1
        assert creates() == 2
    finally:
        m2.stop()


@needs_cli
def test_restore_through_a_30_percent_fault_rate_one_volume_per_ln_s(aws_env):
    emu, m = aws_env(policy=RESTORE, emu_args=["--random-seed", "11"])
    emu.control("DELETE", "requests")
    emu.control("POST", "faults", {"failRate": 0.15, "dropRate": 0.10, "garbageRate": 0.05})
    names = [f"faulty-{i:02d}" for i in range(10)]
    for name in names:
        os.symlink(f"../snapshots/{SNAP_FREE}", m.path(f"volumes/{name}"))   # never an error
    emu.control("POST", "faults", {"failRate": 0, "dropRate": 0, "garbageRate": 0})
    sent = emu.control("GET", "requests")["requests"]
    print(f"{sent.get('EC2 CreateVolume', 0)} CreateVolume sent for {len(names)} restores")
    made = sorted(tags_of(v).get("Name", "") for v in
                  aws(emu, "ec2", "describe-volumes")["Volumes"]
                  if tags_of(v).get("Name", "").startswith("faulty-"))
    assert made == names                                # each ln -s made one volume
    wait_for(lambda: all(m.path(f"volumes/{n}/status").exists() and
                         m.path(f"volumes/{n}/status").read_text().strip() == "READY"
                         for n in names), 60, "every restored volume available")
@needs_cli
def test_a_clone_deleted_while_pending_ends_its_job(aws_env):
    """mkdir, rmdir at once (the snapshot still pending): the clone job's follow sees it
    gone from Describe and ends, failed and logged, instead of polling to the op timeout."""
    emu, m = aws_env(emu_args=["--snapshot-seconds", "600"])
    os.mkdir(m.path(f"volumes/{VOL}/snapshots/doomed"))
    [made] = [s for s in snapshots(emu) if tags_of(s).get("Name") == "doomed"]
    assert made["State"] == "pending"
    os.rmdir(m.path(f"volumes/{VOL}/snapshots/doomed"))     # grace 0: DeleteSnapshot
    assert made["SnapshotId"] not in [s["SnapshotId"] for s in snapshots(emu)]
    wait_for(lambda: f"snapshot {made['SnapshotId']} is gone" in m.stderr(), 60,
             "the job's follow to end")
    wait_for(lambda: os.listdir(m.path(".clonefs/jobs")) == [], 10, "the job to end")
