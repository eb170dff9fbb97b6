"""conftest.py — fixtures that give each test its own emulator and mounts,
torn down by pytest's finalizers whatever the test's outcome; a sanitizer
report from a mount, or a bug the emulator hit, fails the test."""
from pathlib import Path

import pytest

from harness import Emulator, Mount


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows the end of every daemon's log it started: a CI
    failure is read from its output alone."""
    outcome = yield
    rep = outcome.get_result()
    tmp = item.funcargs.get("tmp_path") if hasattr(item, "funcargs") else None
    if not rep.failed or tmp is None:
        return
    for log in sorted(Path(tmp).glob("clonefs-*.stderr")):
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        rep.sections.append((f"{log.name} (last 80 lines)", "\n".join(lines[-80:])))


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


@pytest.fixture
def cloud(tmp_path):
    """An emulator and a mount of it for a provider by name ("gce", "aws"):
    make(provider, seed=None, policy=None, emu_args=(), opts=(), start=True)
    -> (emulator, mount); both taken down whatever the test's outcome. The
    seed is in that provider's emulator's format; policy a dict written to a
    file and given as -o policy=."""
    import json
    from harness import AwsMount, Ec2Emulator
    emus, mounts = [], []

    def make(provider, seed=None, policy=None, emu_args=(), opts=(), start=True, **kw):
        if provider == "aws":
            emu = Ec2Emulator(tmp_path, seed=seed, args=list(emu_args)).start()
        else:
            emu = Emulator(tmp_path, seed=seed, args=list(emu_args)).start()
        emus.append(emu)
        o = list(opts)
        if policy is not None:
            p = tmp_path / f"policy-{len(emus)}.json"
            p.write_text(json.dumps(policy))
            o.append(f"policy={p}")
        m = (AwsMount if provider == "aws" else Mount)(emu, tmp_path, opts=o, **kw)
        mounts.append(m)
        if start:
            m.start()
        return emu, m
    yield make
    errors = []
    # the mounts first, while their emulators still answer (a daemon with a job in
    # flight against a stopped emulator takes its full HTTP deadline to unmount)
    for x in list(reversed(mounts)) + list(reversed(emus)):
        try:
            x.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture(params=["gce", "aws"])
def clouds(request, cloud, tmp_path):
    """One test on both providers (clouds.py's vocabulary): start(n_snapshots=12,
    n_disks=2, policy=None, opts=(), emu_args=(), **mount_kw) -> (Cloud, emulator,
    mount) with the same small inventory on either; remount(emu, m, **kw) -> a
    second mount of that emulator (on m's cache unless told), taken down too."""
    import clouds as vocab
    from harness import AwsMount
    provider = request.param
    remounts = []

    def start(n_snapshots=12, n_disks=2, emu_args=(), **kw):
        c = vocab.make(provider, n_disks)
        emu, m = cloud(provider, seed=c.seed(n_snapshots),
                       emu_args=list(c.emu_args) + list(emu_args), **kw)
        return c, emu, m

    def remount(emu, m, wait_sync=True, **kw):
        kw.setdefault("cache", m.cache)
        m2 = (AwsMount if provider == "aws" else Mount)(emu, tmp_path, **kw)
        remounts.append(m2)
        m2.start(wait_sync=wait_sync)
        return m2
    start.provider = provider
    start.remount = remount

    def known_bug(on, reason):
        """An xfail of this test's variant on provider `on`: a clonefs bug, named."""
        if provider == on:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=False))
    start.known_bug = known_bug
    yield start
    errors = []
    for m in reversed(remounts):
        try:
            m.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)
