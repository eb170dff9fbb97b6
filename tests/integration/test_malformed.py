"""test_malformed.py — bad input from the API is skipped with a log line;
the daemon never crashes and no path escapes the mount."""
import os

import seeds


def hostile_seed():
    seed = seeds.inventory(5, 1)
    big = "x" * (10 * 1024 * 1024)
    seed["global/snapshots"] += [
        {"name": "../escape", "status": "READY"},
        {"name": "a/b", "status": "READY"},
        {"name": "..", "status": "READY"},
        {"status": "READY"},                         # no name at all
        {"name": 12345, "status": "READY"},          # wrong type
        {"name": big, "status": "READY"},            # a 10 MB name
        {"name": "UPPER", "status": "READY"},        # outside the API's alphabet
        {"name": "ok-weird-types", "status": ["READY"], "diskSizeGb": {"a": 1},
         "storageBytes": "lots", "creationTimestamp": 17, "labels": ["not", "a", "map"],
         "sourceDisk": 42},
        {"name": "ok-huge-label", "labels": {"big": big, "fine": "yes"}},
        {"name": "ok-bad-source", "sourceDisk": "https://evil.example/../../etc/passwd"},
        {"name": "ok-negative-id", "sourceDiskId": "-8794561234", "id": "18446744073709551615"},
    ]
    return seed


def test_hostile_items_are_skipped_and_the_rest_served(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(hostile_seed())
    m = mount_factory(emu)
    names = set(os.listdir(m.path("global/snapshots")))
    good = {f"snap-{i:05d}" for i in range(5)} | {
        "ok-weird-types", "ok-huge-label", "ok-bad-source", "ok-negative-id"}
    assert names == good
    # nothing escaped: no entry named like the hostile ones anywhere near the mount
    assert not (m.path("global") / "escape").exists()
    assert not (tmp_path / "escape").exists()
    # the odd-but-named resource is served with what could be decoded
    weird = m.path("global/snapshots/ok-weird-types")
    assert os.stat(weird).st_size == 0
    assert os.listxattr(weird) == []
    huge = m.path("global/snapshots/ok-huge-label")
    assert os.listxattr(huge) == ["user.fine"]
    assert not os.path.lexists(m.path("global/snapshots/ok-bad-source/source"))
    # every skip left a reason in the log
    log = m.stderr()
    assert "skip" in log.lower()
    # and the daemon is alive and serving
    assert m.proc.poll() is None
    assert m.status()["collections"]["snapshots"]["last_error"] is None
