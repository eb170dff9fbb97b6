"""test_by_id.py — .clonefs/by-id/ID on Compute Engine (numeric ids): one
symlink per resource, listed with ls, followed with readlink, stat -L and
find -L (one level: the tree below has links back up), gone with the
resource."""
import os
import subprocess

import seeds
from harness import wait_for

ZONES = seeds.ZONES


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}: {r.stderr}"
    return r.stdout


def api_ids(emu):
    """id -> resource path, from the emulator's API."""
    out = {}
    colls = ["global/snapshots", "global/images", "global/machineImages"] + [
        f"zones/{z}/{c}" for z in ZONES for c in ("disks", "instances")]
    for coll in colls:
        st, body = emu.api("GET", coll)
        assert st == 200, body
        for item in body.get("items", []):
            out[item["id"]] = f"{coll}/{item['name']}"
    return out


def test_by_id_links_every_resource(emulator_factory, mount_factory):
    emu = emulator_factory(seeds.inventory(40, 4))
    m = mount_factory(emu)
    want = api_ids(emu)
    assert len(want) >= 40 + 4 + 2
    byid = m.path(".clonefs/by-id")
    assert "by-id" in run("ls", "-1", str(m.path(".clonefs"))).split()
    listed = run("ls", "-1", str(byid)).split()
    extra = [(i, os.readlink(byid / i)) for i in listed if i not in want]
    assert sorted(listed) == sorted(want), extra
    # each a relative link to where the resource is
    some = sorted(want)[:10]
    targets = run("readlink", *[str(byid / i) for i in some]).split()
    assert targets == [f"../../{want[i]}" for i in some]
    # followed: the resource's directory, its inode the same as through its path
    for i in some:
        assert os.stat(byid / i).st_ino == os.stat(m.path(want[i])).st_ino
    out = run("stat", "-L", "-c", "%F", *[str(byid / i) for i in some])
    assert set(out.splitlines()) == {"directory"}
    # find -L, one level: every entry a directory, no loop reported
    found = run("find", "-L", str(byid), "-mindepth", "1", "-maxdepth", "1", "-type", "d").split()
    assert len(found) == len(want)
    assert all(os.path.islink(p) for p in found)
    # a resource deleted in the cloud: its link goes at the next sync
    snap = next(i for i in sorted(want) if want[i].startswith("global/snapshots/"))
    st, op = emu.api("DELETE", want[snap])
    assert st == 200, op
    emu.wait_operation(op)
    wait_for(lambda: not os.path.lexists(byid / snap), 30, "the deleted snapshot's link to go")
    assert snap not in run("ls", "-1", str(byid)).split()
