"""test_flush_commands.py — the policy's clone.flush_command and
clone.thaw_command on Compute Engine (which has a guest flush of its own,
kept): both run around the create with the source in their environment, a
failing flush sends nothing and still thaws."""
import errno
import json
import os

import pytest

import seeds

ZONE = seeds.ZONES[0]
DISK = f"zones/{ZONE}/disks/data-0"      # attached to db-0 (RUNNING)


@pytest.fixture
def hooks(tmp_path):
    """flush, thaw and a failing flush script, each appending a line to log."""
    log = tmp_path / "hooks.log"
    paths = {}
    for name, tail in (("flush", ""), ("thaw", ""), ("badflush", "exit 4\n")):
        p = tmp_path / f"{name}.sh"
        p.write_text("#!/bin/sh\n"
                     f"echo \"{name} $CLONEFS_SOURCE $CLONEFS_CONSISTENCY "
                     "$(printf %s \"$CLONEFS_SOURCE_JSON\" | grep -c data-0)\" "
                     f">> '{log}'\n" + tail)
        p.chmod(0o755)
        paths[name] = str(p)
    return log, paths


def mount_with(emulator_factory, mount_factory, tmp_path, clone):
    emu = emulator_factory(seeds.inventory(12, 2))
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"clone": dict({"consistency": "flush"}, **clone)}))
    return emu, mount_factory(emu, opts=[f"policy={pol}", "mkdir_wait=ready"])


def test_flush_and_thaw_commands_run_around_the_create(emulator_factory, mount_factory,
                                                         tmp_path, hooks):
    log, cmd = hooks
    emu, m = mount_with(emulator_factory, mount_factory, tmp_path,
                        {"flush_command": [cmd["flush"]], "thaw_command": [cmd["thaw"]]})
    os.mkdir(m.path(f"{DISK}/snapshots/frozen-1"))
    st, snap = emu.api("GET", "global/snapshots/frozen-1")
    assert st == 200 and snap["labels"]["clonefs-consistency"] == "flush"
    src = str(m.path(DISK))
    assert log.read_text().splitlines() == [f"flush {src} flush 1", f"thaw {src} flush 1"]
    assert "frozen-1" in os.listdir(m.path(f"{DISK}/snapshots"))


def test_a_failing_flush_command_sends_nothing_and_thaws(emulator_factory, mount_factory,
                                                          tmp_path, hooks):
    log, cmd = hooks
    emu, m = mount_with(emulator_factory, mount_factory, tmp_path,
                        {"flush_command": [cmd["badflush"]], "thaw_command": [cmd["thaw"]]})
    with pytest.raises(OSError) as e:
        os.mkdir(m.path(f"{DISK}/snapshots/not-frozen"))
    assert e.value.errno == errno.EHOSTDOWN
    assert emu.api("GET", "global/snapshots/not-frozen")[0] == 404
    src = str(m.path(DISK))
    assert log.read_text().splitlines() == [f"badflush {src} flush 1", f"thaw {src} flush 1"]
    text = m.path(".clonefs/log").read_text()
    assert "flush command" in text and "exited with status 4" in text
