"""conftest.py — fixtures that give each test its own emulator and mounts,
torn down by pytest's finalizers whatever the test's outcome; a sanitizer
report from a mount, or a bug the emulator hit, fails the test."""
import pytest

from harness import Emulator, Mount


@pytest.fixture
def emulator_factory(tmp_path):
    started = []

    def make(seed=None, **kw):
        emu = Emulator(tmp_path, seed=seed, **kw).start()
        started.append(emu)
        return emu
    yield make
    # An emulator that hit a bug of its own fails the test that used it.
    errors = []
    for emu in reversed(started):
        try:
            emu.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def mount_factory(tmp_path):
    started = []

    def make(emu, start=True, wait_sync=True, **kw):
        m = Mount(emu, tmp_path, **kw)
        started.append(m)
        if start:
            m.start(wait_sync=wait_sync)
        return m
    yield make
    errors = []
    for m in reversed(started):
        try:
            m.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)
