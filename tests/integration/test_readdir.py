"""test_readdir.py — stateless readdir and the listings the kernel keeps.

A listing keeps nothing between readdir calls (the offset is a cookie the store resumes from)
and the kernel opens directories itself and keeps their listings (FUSE_CAP_NO_OPENDIR_SUPPORT):
 - a big directory read with a small getdents64 buffer while the cloud, the sync and mkdir/rmdir
   change it lists every name present throughout exactly once, and no name twice;
 - a change made elsewhere shows in `ls` of a directory whose listing the kernel keeps, after the
   next sync, and so do the trash and a restore out of it (SEMANTICS.md, "Reading");
 - a file's pages the kernel keeps are never an older copy than the last change's."""
import ctypes
import errno
import json
import os
import struct
import subprocess
import threading
import time
import urllib.request

import seeds
from harness import wait_for

ZONE = seeds.ZONES[0]
DISK = f"zones/{ZONE}/disks/data-0"
SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61}.get(os.uname().machine)
libc = ctypes.CDLL(None, use_errno=True)


def getdents_names(path, bufsize=256):
    """Every name of directory path, read with getdents64 into a bufsize-byte buffer (so the
    kernel stops, and the daemon is asked to resume, every few entries)."""
    assert SYS_GETDENTS64, "getdents64's number on this machine"
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    buf = ctypes.create_string_buffer(bufsize)
    names = []
    try:
        while True:
            n = libc.syscall(SYS_GETDENTS64, fd, buf, bufsize)
            if n < 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e), path)
            if n == 0:
                return names
            raw, off = buf.raw[:n], 0
            while off < n:
                reclen = struct.unpack_from("<H", raw, off + 16)[0]
                name = raw[off + 19:off + reclen].split(b"\0", 1)[0].decode()
                if name not in (".", ".."):
                    names.append(name)
                off += reclen
    finally:
        os.close(fd)


def ls(path):
    return subprocess.run(["ls", "-a", str(path)], check=True, capture_output=True,
                          text=True).stdout.split()


def policy(tmp_path, grace):
    p = tmp_path / "policy.json"
    p.write_text(json.dumps({
        "clone": {"consistency": "crash", "max_per_source": 100000},
        "prune": {"grace_seconds": grace, "keep_last": 0, "max_per_minute": 100000}}))
    return p


def last_sync(m):
    """When the oldest of the last complete listings ended (UTC seconds)."""
    return min(c.get("last_complete_epoch") or 0 for c in m.status()["collections"].values())


def snapshot_body(emu, name):
    disk = emu.api("GET", DISK)[1]
    return {"name": name, "sourceDisk": disk["selfLink"]}


def test_listing_under_churn_lists_every_name_once(emulator_factory, mount_factory, tmp_path):
    n = 1500
    emu = emulator_factory(seeds.inventory(n, 4))
    m = mount_factory(emu, opts=[f"policy={policy(tmp_path, 0)}"])
    snaps = m.path("global/snapshots")
    original = {f"snap-{i:05d}" for i in range(n)}
    assert set(getdents_names(snaps)) == original
    # removed while the listings run: through the API (the sync removes them) and by rmdir
    by_api = [f"snap-{i:05d}" for i in range(0, n, 29)]
    by_rmdir = [f"snap-{i:05d}" for i in range(7, n, 31)]
    doomed = set(by_api) | set(by_rmdir)
    stop = threading.Event()
    problems = []
    counts = {"api": 0, "mkdir": 0, "rmdir": 0}

    def churn_api():
        k = 0
        while not stop.is_set():
            k += 1
            emu.api("POST", "global/snapshots", snapshot_body(emu, f"ext-{k:04d}"))
            if k > 2:
                emu.api("DELETE", f"global/snapshots/ext-{k - 2:04d}")
            if k <= len(by_api):
                emu.api("DELETE", f"global/snapshots/{by_api[k - 1]}")
            counts["api"] += 1

    def churn_mount():
        k = 0
        while not stop.is_set():
            k += 1
            try:
                os.mkdir(m.path(f"{DISK}/snapshots/mk-{k:04d}"))
                counts["mkdir"] += 1
                if k <= len(by_rmdir):
                    os.rmdir(snaps / by_rmdir[k - 1])
                    counts["rmdir"] += 1
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.EBUSY):
                    problems.append(f"churn: {e}")

    threads = [threading.Thread(target=churn_api), threading.Thread(target=churn_mount)]
    for t in threads:
        t.start()
    listings = 0
    try:
        syncs_at_start = last_sync(m)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = getdents_names(snaps)
            listings += 1
            seen = {}
            for name in got:
                seen[name] = seen.get(name, 0) + 1
            twice = sorted(k for k, v in seen.items() if v > 1)
            missing = sorted((original - doomed) - set(seen))
            assert not twice, f"listing {listings}: listed twice: {twice[:10]}"
            assert not missing, f"listing {listings}: present throughout, not listed: " \
                f"{missing[:10]}"
            last = last_sync(m)
            if listings >= 8 and last >= syncs_at_start + 3 and counts["rmdir"] >= 5:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not problems, problems[:5]
    print("listings", listings, counts)
    assert listings >= 8 and counts["api"] >= 5 and counts["rmdir"] >= 5, (listings, counts)
    assert m.proc.poll() is None, "the daemon died"


def test_changes_elsewhere_show_in_kept_listings(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seeds.inventory(20, 2))
    m = mount_factory(emu, opts=[f"policy={policy(tmp_path, 3600)}"])
    snaps = m.path("global/snapshots")
    under_disk = m.path(f"{DISK}/snapshots")
    trash = m.path(".clonefs/trash/global/snapshots")
    # listed once: from now on the kernel answers these listings itself
    before = ls(snaps)
    assert "snap-00004" in before and "ext-1" not in before
    assert "snap-00004" in ls(under_disk) and "ext-1" not in ls(under_disk)
    assert ls(trash) == [".", ".."]
    doc = m.path("global/snapshots/snap-00004/resource.json")
    assert json.loads(doc.read_text())["labels"]["owner"] == "team-1"

    # made elsewhere: shown after the next sync, in both listings it is in. Nothing the
    # kernel holds a dentry of changed there: only the daemon's invalidation of the listings
    # can make the kernel ask again
    st, op = emu.api("POST", "global/snapshots", snapshot_body(emu, "ext-1"))
    assert st == 200, op
    wait_for(lambda: "ext-1" in ls(snaps), 30, "ext-1 in a kept global/snapshots")
    wait_for(lambda: "ext-1" in ls(under_disk), 30, f"ext-1 in a kept {DISK}/snapshots")
    # removed elsewhere
    assert emu.api("DELETE", "global/snapshots/snap-00002")[0] == 200
    wait_for(lambda: "snap-00002" not in ls(snaps) and "snap-00002" not in ls(under_disk), 30,
             "snap-00002 out of the kept listings")
    # a label changed elsewhere: the kept resource.json is dropped too
    cur = emu.api("GET", "global/snapshots/snap-00004")[1]
    st, _ = emu.api("POST", "global/snapshots/snap-00004/setLabels",
                    {"labels": {"owner": "elsewhere"}, "labelFingerprint": cur["labelFingerprint"]})
    assert st == 200
    wait_for(lambda: json.loads(doc.read_text())["labels"].get("owner") == "elsewhere", 30,
             "the new label in a kept resource.json")
    # put in the trash elsewhere (another mount's rmdir): moves to a kept trash listing
    cur = emu.api("GET", "global/snapshots/snap-00006")[1]
    at = f"{int(time.time()) + 3600}-0123456789abcdef-{cur['id']}"
    st, _ = emu.api("POST", "global/snapshots/snap-00006/setLabels",
                    {"labels": {"clonefs-delete-at": at},
                     "labelFingerprint": cur["labelFingerprint"]})
    assert st == 200
    wait_for(lambda: "snap-00006" in ls(trash) and "snap-00006" not in ls(snaps), 30,
             "snap-00006 moved to the kept trash listing")

    # the trash: rmdir moves a snapshot there, a rename brings it back
    os.rmdir(snaps / "snap-00004")
    assert "snap-00004" not in ls(snaps)
    wait_for(lambda: "snap-00004" in ls(trash), 10, "snap-00004 in a kept trash listing")
    os.rename(trash / "snap-00004", snaps / "snap-00004")
    wait_for(lambda: "snap-00004" not in ls(trash), 10, "snap-00004 out of the trash")
    assert "snap-00004" in ls(snaps)
    # and a restore stays through the next sync
    m.wait_synced()
    assert "snap-00004" in ls(snaps) and "snap-00004" not in ls(trash)


def test_an_instances_disks_follow_a_change_elsewhere(emulator_factory, mount_factory):
    emu = emulator_factory(seeds.inventory(4, 4))
    m = mount_factory(emu)
    inst = f"zones/{ZONE}/instances/db-0"
    disks = m.path(f"{inst}/disks")
    assert ls(disks)[2:] == ["data-0", "data-2"]     # listed: the kernel keeps it
    assert os.readlink(disks / "data-0").endswith("/data-0")   # a dentry and its target
    # data-0 detached elsewhere: the instance as the API now has it
    doc = emu.api("GET", inst)[1]
    doc["disks"] = [d for d in doc["disks"] if not d["source"].endswith("/data-0")]
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/resources/{inst}",
                                 method="DELETE")
    urllib.request.urlopen(req, timeout=30).read()
    req = urllib.request.Request(
        f"http://127.0.0.1:{emu.port}/emulator/v1/resources/zones/{ZONE}/instances",
        data=json.dumps(doc).encode(), method="POST")
    urllib.request.urlopen(req, timeout=30).read()
    wait_for(lambda: ls(disks)[2:] == ["data-2"], 30, "data-0 out of a kept disks/ listing")
    assert os.readlink(disks / "data-2").endswith(f"zones/{ZONE}/disks/data-2")
    # and its name goes too, though the kernel was given it (a dentry of its own)
    wait_for(lambda: not os.path.lexists(disks / "data-0"), 10, "data-0's dentry dropped")


def test_a_file_opened_before_a_change_leaves_no_stale_pages(emulator_factory, mount_factory):
    """A reader that opened resource.json before a change and reads after the change's
    invalidation gets the contents as cached at its open (SEMANTICS.md), but the kernel keeps
    the pages it was given: the next open must not be served that old copy. (This is how a
    restarted mount's status once read CREATING for a minute after the volume was READY.)"""
    emu = emulator_factory(seeds.inventory(6, 1))
    m = mount_factory(emu)
    doc = m.path("global/snapshots/snap-00004/resource.json")
    old = doc.read_text()
    assert json.loads(old)["labels"]["owner"] == "team-1"
    fd = os.open(doc, os.O_RDONLY)            # its contents are taken now
    try:
        cur = emu.api("GET", "global/snapshots/snap-00004")[1]
        st, _ = emu.api("POST", "global/snapshots/snap-00004/setLabels",
                        {"labels": {"owner": "elsewhere-and-longer"},
                         "labelFingerprint": cur["labelFingerprint"]})
        assert st == 200
        # the size changes only once the invalidation reached the kernel (its attributes
        # are kept for -o timeout until then): from here, what the kernel caches is news to it
        wait_for(lambda: os.stat(doc).st_size != len(old.encode()), 30,
                 "the change's invalidation")
        got = b""
        while True:                           # read through the old open file
            b = os.read(fd, 65536)
            if not b:
                break
            got += b
        assert b"team-1" in got              # as cached at its open
    finally:
        os.close(fd)
    # a new open, by a real tool: the new contents, not the pages the old open put in the cache
    def owner():
        text = subprocess.run(["cat", str(doc)], check=True, capture_output=True,
                              text=True).stdout
        try:
            return json.loads(text)["labels"].get("owner")
        except ValueError:
            return None                       # old pages cut to the new size
    wait_for(lambda: owner() == "elsewhere-and-longer", 10, "the new label through a new open")
