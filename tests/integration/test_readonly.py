"""test_readonly.py — the read-only mount, driven with real tools.

The acceptance scenario of the read-only issue: 1,000 snapshots over 6 disks
in 2 zones; listings, mtimes, find -mmin, labels, du, per-disk listings,
links, sizes and statuses; and a remount with the API gone.

Tests taking `clouds` run on both providers (gce, aws) through clouds.py's
vocabulary; the others are GCE-only: zones, machine images, GCE's paths in
source links, 9,000-entry windows and large inventories (the provider
neutral code paths they test are covered once)."""
import datetime as dt
import errno
import json
import os
import shutil
import subprocess
import time

import pytest

import clouds as vocab
import seeds
from harness import wait_for


def run(*cmd, cwd=None, check=True):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}: {r.stderr}")
    return r


def created_epoch(s):
    return int(dt.datetime.fromisoformat(s).timestamp())


@pytest.fixture
def big(emulator_factory, mount_factory):
    seed = seeds.inventory(1000, 6)
    emu = emulator_factory(seed)
    m = mount_factory(emu)
    return seed, emu, m


@pytest.fixture
def big_any(clouds):
    """1,000 snapshots over 6 disks on either provider, as seeds.inventory lays them
    out: snapshot i is 7*i minutes old, of disk i % 6 (size 10 + i % 6 GiB), stores
    (i % 97 + 1) MiB."""
    c, emu, m = clouds(1000, 6)
    return c, emu, m


def test_thousand_snapshots_layout(big_any):
    c, emu, m = big_any
    snapdir = m.path(c.snapshots)
    names = [vocab.snap_name(i) for i in range(1000)]
    created = {vocab.snap_name(i): int((seeds.NOW - dt.timedelta(minutes=7 * i)).timestamp())
               for i in range(1000)}

    # The listing holds exactly 1,000, through ls.
    assert sorted(run("ls", "-1", str(snapdir)).stdout.split()) == sorted(names)

    # mtime = creation time to the second, through stat.
    out = run("stat", "-c", "%n %Y %s %b %B", *[str(snapdir / n) for n in names[:200]]).stdout
    for line in out.splitlines():
        path, mtime, size, blocks, bsize = line.split()
        i = int(os.path.basename(path)[5:])
        assert int(mtime) == created[vocab.snap_name(i)], line
        assert int(size) == (10 + i % 6) << 30, line
        stored = (i % 97 + 1) * 1024 * 1024
        assert abs(int(blocks) * int(bsize) - stored) < 512, line

    # find -mmin +600 agrees with the seed (snapshot i is 7*i minutes old).
    now = time.time()
    found = set(os.path.basename(p) for p in run(
        "find", str(snapdir), "-mindepth", "1", "-maxdepth", "1", "-mmin", "+600").stdout.split())
    expect = {n for n in names if now - created[n] > 600 * 60}
    # a snapshot within a minute of the boundary may fall either way while the test runs
    edge = {n for n in names if abs(now - created[n] - 600 * 60) < 90}
    assert found - edge == expect - edge
    assert len(found) > 800

    # du -s is within 2 % of the summed stored bytes.
    du = int(run("du", "-s", "--block-size=1", str(snapdir)).stdout.split()[0])
    total = sum((i % 97 + 1) * 1024 * 1024 for i in range(1000))
    assert abs(du - total) <= 0.02 * total, (du, total)

    # the labels (tags) of every snapshot as user.* xattrs (one getfattr -d for all)
    out = run("getfattr", "-d", "--absolute-names", *[str(snapdir / n) for n in names]).stdout
    got, cur = {}, None
    for line in out.splitlines():
        if line.startswith("# file: "):
            cur = os.path.basename(line[8:])
            got[cur] = {}
        elif "=" in line and cur:
            k, v = line.split("=", 1)
            got[cur][k] = json.loads(v)
    assert len(got) == 1000
    for i, n in enumerate(names):
        assert got[n] == c.xattrs_of(i), n


def test_labels_as_xattrs(clouds):
    """(every snapshot's labels: test_thousand_snapshots_layout)"""
    c, emu, m = clouds(3, 1)
    one = m.path(c.snapshot(vocab.snap_name(0)))
    labels = vocab.snap_labels(0)
    assert os.getxattr(one, "user.owner") == labels["owner"].encode()
    with pytest.raises(OSError) as e:
        os.getxattr(one, "user.no-such-label")
    assert e.value.errno == errno.ENODATA
    with pytest.raises(OSError) as e:
        os.getxattr(one, "security.selinux")
    assert e.value.errno == errno.EOPNOTSUPP
    assert sorted(os.listxattr(one)) == sorted(c.xattrs_of(0))


def test_per_disk_listing_links_and_files(big):
    seed, emu, m = big
    snaps = seed["global/snapshots"]
    for zone in seeds.ZONES:
        for d in seed[f"zones/{zone}/disks"]:
            ddir = m.path(f"zones/{zone}/disks/{d['name']}")
            listed = set(os.listdir(ddir / "snapshots"))
            expect = {s["name"] for s in snaps if s["sourceDisk"].endswith(f"/zones/{zone}/disks/{d['name']}")}
            assert listed == expect, d["name"]
            assert (ddir / "status").read_text() == "READY\n"
            assert os.stat(ddir).st_size == int(d["sizeGb"]) << 30
    s0 = snaps[0]
    sdir = m.path(f"global/snapshots/{s0['name']}")
    src = os.readlink(sdir / "source")
    zone_disk = s0["sourceDisk"].split("/projects/demo-project/")[1]
    assert src == "../../../" + zone_disk
    assert os.path.realpath(sdir / "source") == str(m.path(zone_disk))
    assert (sdir / "status").read_text() == "READY\n"
    doc = json.loads((sdir / "resource.json").read_text())
    assert doc["name"] == s0["name"] and doc["storageBytes"] == s0["storageBytes"]
    assert os.stat(sdir / "resource.json").st_size == len((sdir / "resource.json").read_bytes())
    # the same snapshot under its disk shows the same thing
    alias = m.path(zone_disk) / "snapshots" / s0["name"]
    assert os.stat(alias).st_mtime == os.stat(sdir).st_mtime
    assert os.path.realpath(alias / "source") == str(m.path(zone_disk))
    # an instance's disks/ holds symlinks to its attached disks
    inst = m.path(f"zones/{seeds.ZONES[0]}/instances/db-0")
    assert (inst / "status").read_text() == "RUNNING\n"
    links = sorted(os.listdir(inst / "disks"))
    assert links == ["data-0", "data-2"]
    assert os.path.realpath(inst / "disks" / "data-2") == str(m.path(f"zones/{seeds.ZONES[0]}/disks/data-2"))
    # machine image source link and clones/ listing
    mi = m.path("global/machineImages/db-0-mi-1")
    assert os.path.realpath(mi / "source") == str(inst)
    assert os.listdir(inst / "clones") == ["db-0-mi-1"]
    img = m.path("global/images/golden-1")
    assert os.stat(img).st_blocks * 512 == 3 << 30


def test_remount_with_api_down_keeps_inventory_and_inodes(big_any, clouds):
    c, emu, m = big_any
    snapdir = m.path(c.snapshots)
    before = {e.name: e.inode() for e in os.scandir(snapdir)}
    assert len(before) == 1000
    m.stop()
    stopped_at = time.time()
    emu.stop()
    # the same project at the stopped emulator's address, which no longer answers
    m2 = clouds.remount(emu, m, wait_sync=False)
    after = {e.name: e.inode() for e in os.scandir(m2.path(c.snapshots))}
    assert after == before
    st = m2.status()
    assert st["api_reachable"] is False
    snap = st["collections"]["snapshots"]
    assert snap["count"] == 1000
    # the last complete listing is the first mount's, and the age counts from it
    # (not from an attempt of this mount): it grows while the API stays down
    lc = snap["last_complete_epoch"]
    assert int(m.started_at) <= lc <= stopped_at

    def aged():
        t0 = time.time()
        snap = m2.status()["collections"]["snapshots"]
        t1 = time.time()
        return (t0, snap, t1) if snap["age_seconds"] >= 2 else None
    t0, snap, t1 = wait_for(aged, 20, "the age of the cached listing to grow", interval=0.2)
    assert snap["last_complete_epoch"] == lc and snap["count"] == 1000
    assert int(t0) - lc <= snap["age_seconds"] <= int(t1) - lc
    # a stat through the dead API still answers from the cache
    s0 = vocab.snap_name(0)
    assert os.stat(m2.path(c.snapshot(s0))).st_ino == before[s0]


def test_same_disk_name_in_two_zones(emulator_factory, mount_factory):
    seed = {
        "zones/us-central1-a/disks": [{"name": "data", "sizeGb": "10", "labels": {"z": "a"}}],
        "zones/europe-west1-b/disks": [{"name": "data", "sizeGb": "20", "labels": {"z": "b"}}],
    }
    m = mount_factory(emulator_factory(seed))
    a = m.path("zones/us-central1-a/disks/data")
    b = m.path("zones/europe-west1-b/disks/data")
    assert os.stat(a).st_size == 10 << 30 and os.stat(b).st_size == 20 << 30
    assert os.getxattr(a, "user.z") == b"a" and os.getxattr(b, "user.z") == b"b"
    assert os.stat(a).st_ino != os.stat(b).st_ino


def test_created_and_deleted_show_up_with_long_kernel_timeouts(clouds):
    c, emu, m = clouds(20, 2, opts=["timeout=3600"])
    snapdir = m.path(c.snapshots)
    assert len(os.listdir(snapdir)) == 20
    victim = "snap-00003"
    os.stat(snapdir / victim)  # the kernel now caches its entry for an hour
    c.create_snapshot_elsewhere(emu, "fresh-one", 0)
    c.delete_snapshot_elsewhere(emu, victim)
    wait_for(lambda: "fresh-one" in os.listdir(snapdir) and victim not in os.listdir(snapdir),
             30, "the sync to show the change")
    assert not os.path.exists(snapdir / victim)
    assert os.path.isdir(snapdir / "fresh-one")
    assert "fresh-one" in os.listdir(m.path(c.disk_snapshots(0)))


def test_pagination_across_pages(clouds):
    # GCE: pageToken pages of 500; AWS: NextToken pages (DescribeSnapshots: at most 1,000)
    c, emu, m = clouds(1234, 2)
    assert len(os.listdir(m.path(c.snapshots))) == 1234
    assert m.status()["collections"]["snapshots"]["count"] == 1234


def test_every_write_is_erofs_on_a_ro_mount(clouds):
    c, emu, m = clouds(3, 1, opts=["ro"])
    snap = m.path(c.snapshot("snap-00000"))
    attempts = [
        lambda: os.mkdir(m.path(c.disk_snapshots(0)) / "new"),
        lambda: os.mkdir(m.path(c.snapshots) / "new"),
        lambda: os.rmdir(snap),
        lambda: os.unlink(snap / "status"),
        lambda: os.setxattr(snap, "user.owner", b"x"),
        lambda: os.removexattr(snap, "user.owner"),
        lambda: open(snap / "status", "w"),
        lambda: os.rename(snap, m.path(c.snapshot("renamed"))),
    ]
    for attempt in attempts:
        with pytest.raises(OSError) as e:
            attempt()
        assert e.value.errno in (errno.EROFS, errno.EACCES), attempt
    r = run("setfattr", "-n", "user.owner", "-v", "x", str(snap), check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    r = run("rmdir", str(snap), check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert snap.is_dir()
    log = m.path(".clonefs/log").read_text()
    assert "EROFS" in log
    # refusals name the node by its path in the mount, not by an inode number
    assert f"/{c.snapshot('snap-00000')}: EROFS" in log


def test_control_files_copy_whole_with_sendfile(clouds, tmp_path):
    """shutil.copy opens, fstats and sends st_size bytes with sendfile: a control file must
    report the size of the text its open generated (it reported 0, and the copy was empty)."""
    c, emu, m = clouds(50, 2)
    m.wait_synced()
    # one resource without the required label, so that .clonefs/unlabeled has a line
    c.remove_label_elsewhere(emu, "snap-00000", "owner")
    wait_for(lambda: "user.owner" not in os.listxattr(m.path(c.snapshot("snap-00000"))), 30,
             "the sync to show the label gone")
    for name in ("inventory.jsonl", "policy", "metrics", "unlabeled"):
        src = m.path(".clonefs/" + name)
        dst = tmp_path / name
        shutil.copy(src, dst)
        got = dst.read_bytes()
        assert got == src.read_bytes(), name          # the text does not change between the two
        assert len(got) > 0, name
        assert os.stat(src).st_size == len(got), name  # the size of the latest open's text
    inv = [json.loads(l) for l in (tmp_path / "inventory.jsonl").read_text().splitlines()]
    assert sum(1 for r in inv if r["kind"] == "snapshot") == 50
    assert sum(1 for r in inv if r["kind"] == c.disk_kind) == 2
    # status changes by the second (ages): the copy is one whole JSON document all the same
    shutil.copy(m.path(".clonefs/status"), tmp_path / "status")
    assert "collections" in json.loads((tmp_path / "status").read_text())


def test_large_inventory_is_whole_from_every_reader(emulator_factory, mount_factory, tmp_path):
    """An inventory past 1 MiB is generated into an unlinked file in the cache directory and
    read back from it (the daemon does not hold it): cat, shutil.copy (fstat + sendfile) and
    reads at arbitrary offsets all see the same whole text, and no file is left behind."""
    emu = emulator_factory(seeds.inventory(6000, 6))
    m = mount_factory(emu)
    m.wait_synced()
    src = m.path(".clonefs/inventory.jsonl")
    text = run("cat", str(src)).stdout.encode()
    assert len(text) > (1 << 20)
    lines = [json.loads(l) for l in text.decode().splitlines()]
    assert sum(1 for r in lines if r["kind"] == "snapshot") == 6000
    assert len({r["path"] for r in lines}) == len(lines)
    shutil.copy(src, tmp_path / "inv")
    assert (tmp_path / "inv").read_bytes() == text
    assert os.stat(src).st_size == len(text)
    fd = os.open(src, os.O_RDONLY)
    try:
        for off in (len(text) - 100, 0, (1 << 20) - 7, len(text) // 2, len(text)):
            assert os.pread(fd, 4096, off) == text[off:off + 4096], off
    finally:
        os.close(fd)
    leftovers = [p.name for p in m.cache.rglob("*") if p.name.startswith(".control")]
    assert leftovers == []


def test_listing_past_one_window(emulator_factory, mount_factory):
    """A directory of 9,000 snapshots, and a disk's snapshots/ of 4,500, are served in windows
    of 4,096 entries (fs/read_ops.c): ls, ls -l and find each see every name once, in order,
    with its attributes; a seekdir back to a telldir position in an earlier window and a
    rewinddir give the same names again (perl's opendir/readdir/telldir/seekdir are libc's)."""
    seed = seeds.inventory(9000, 2)
    emu = emulator_factory(seed)
    m = mount_factory(emu)
    m.wait_synced()
    disk = seed["zones/%s/disks" % seeds.ZONES[0]][0]["name"]
    by_disk = sorted(s["name"] for s in seed["global/snapshots"]
                     if s["sourceDisk"].endswith("/disks/" + disk))
    assert len(by_disk) == 4500
    for d, want in ((m.path("global/snapshots"),
                     sorted(s["name"] for s in seed["global/snapshots"])),
                    (m.path("zones/%s/disks/%s/snapshots" % (seeds.ZONES[0], disk)), by_disk)):
        # ls -f: unsorted, the directory's own order (bytewise by name)
        names = [n for n in run("ls", "-1f", str(d)).stdout.split() if n not in (".", "..")]
        assert names == want, d
        long_ = run("ls", "-l", str(d)).stdout.splitlines()
        assert len(long_) == len(want) + 1 and all(l.startswith("d") for l in long_[1:])
        found = run("find", str(d), "-mindepth", "1", "-maxdepth", "1").stdout.split()
        assert sorted(os.path.basename(f) for f in found) == sorted(names)
        script = r"""
            opendir(my $d, $ARGV[0]) or die "opendir: $!";
            my (@all, $pos, @from);
            while (defined(my $e = readdir $d)) {
                push @all, $e;
                $pos = telldir $d if @all == 2000;
            }
            seekdir($d, $pos);
            while (defined(my $e = readdir $d)) { push @from, $e; }
            rewinddir $d;
            my @again;
            while (defined(my $e = readdir $d)) { push @again, $e; }
            print scalar(@all), " ", join(",", @all[2000 .. $#all]) eq join(",", @from) ? 1 : 0,
                  " ", join(",", @all) eq join(",", @again) ? 1 : 0, "\n";
        """
        out = run("perl", "-e", script, str(d)).stdout.split()
        assert out == [str(len(want) + 2), "1", "1"], (d, out)


def test_status_file_is_json_with_every_collection(emulator_factory, mount_factory):
    emu = emulator_factory(seeds.inventory(10, 2))
    m = mount_factory(emu)
    st = m.status()
    assert st["api_reachable"] is True
    assert st["project"] == emu.project
    for c in ("zones", "regions", "disks", "instances", "snapshots", "images", "machineImages"):
        assert c in st["collections"], c
        assert st["collections"][c]["last_error"] is None
    assert st["collections"]["snapshots"]["count"] == 10
    assert st["collections"]["disks"]["count"] == 2
