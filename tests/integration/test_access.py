"""test_access.py — who may do what on an allow_other mount: the policy's allow
lists (supplementary groups included) decide every write of every caller,
each refusal is EACCES with a line in .clonefs/log naming the rule, the
labels the policy reads take the prune right, a restore takes the prune
right, access(2) (`test -w`) answers from the same policy, and the policy's
protect label drives the write bits. Real tools run as other users through
setpriv, on a mount started with -o allow_other."""
import errno
import json
import os
import re
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import seeds
from harness import wait_for

ROOT = Path(__file__).resolve().parents[2]
ZONE = seeds.ZONES[0]
DISK = f"zones/{ZONE}/disks/data-0"      # attached to db-0 (RUNNING)
INSTANCE = f"zones/{ZONE}/instances/db-0"

MEMBER = (4242, 4242, [27])     # uid, gid, supplementary groups: no passwd entry
OUTSIDER = (4343, 4343, [])
LABELLER = (4444, 4444, [])


def as_user(who, *cmd):
    """Run cmd as uid/gid/groups `who`; returns the CompletedProcess."""
    uid, gid, groups = who
    g = [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", *g, "--", *cmd],
                          capture_output=True, text=True, cwd="/", timeout=60)


def ok(r):
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def refused(r, word="Permission denied"):
    assert r.returncode != 0, (r.args, r.stdout)
    assert word in r.stderr, (r.args, r.stderr)
    return r


def log_lines(m, text):
    return [ln for ln in m.path(".clonefs/log").read_text().splitlines() if text in ln]


def api_labels(emu, path):
    st, body = emu.api("GET", path)
    assert st == 200, body
    return body.get("labels", {})


@pytest.fixture
def shared():
    """A directory every user may pass through (0711) for the mountpoints:
    pytest's own base directory is 0700, and a pytest session that starts
    meanwhile sets it back to 0700. Only empty directories are removed after,
    once the mounts are down (env lists this fixture first, so it is torn
    down last), never anything inside a mount."""
    d = Path(tempfile.mkdtemp(prefix="clonefs-shared-", dir="/tmp"))
    os.chmod(d, 0o711)
    yield d
    for p in d.iterdir():
        try:
            p.rmdir()
        except OSError:
            pass
    try:
        d.rmdir()
    except OSError:
        pass


@pytest.fixture
def env(shared, emulator_factory, mount_factory, tmp_path):
    """An emulator and an allow_other mount with the given policy."""
    def make(policy=None, opts=(), seed=None, emu=None):
        emu = emu or emulator_factory(seed or seeds.inventory(12, 2))
        o = ["allow_other", *opts]
        if policy is not None:
            n = len(list(tmp_path.glob("policy*.json")))
            pf = tmp_path / f"policy{n}.json"
            pf.write_text(json.dumps(policy))
            o.append(f"policy={pf}")
        return emu, mount_factory(emu, opts=o, mnt_parent=shared)
    return make


EXAMPLE = {"clone": {"consistency": "crash", "allow_uids": [0], "allow_gids": [27]},
           "prune": {"keep_last": 0}}


# ---- item 5: the allow lists admit who they name, and only them ----

def test_a_group_member_may_clone_prune_label_and_restore(env):
    emu, m = env(policy=EXAMPLE)
    snaps = m.path(f"{DISK}/snapshots")
    ok(as_user(MEMBER, "mkdir", str(snaps / "by-member")))
    st, snap = emu.api("GET", "global/snapshots/by-member")
    assert st == 200
    # no passwd entry: the provenance label names the uid
    assert snap["labels"]["clonefs-created-by"] == "uid-4242"
    s = m.path("global/snapshots/snap-00010")
    ok(as_user(MEMBER, "setfattr", "-n", "user.env", "-v", "prod", str(s)))
    assert api_labels(emu, "global/snapshots/snap-00010")["env"] == "prod"
    ok(as_user(MEMBER, "setfattr", "-x", "user.env", str(s)))
    assert "env" not in api_labels(emu, "global/snapshots/snap-00010")
    # prune (through the grace period), then restore with mv
    ok(as_user(MEMBER, "rmdir", str(s)))
    trash = m.path(".clonefs/trash/global/snapshots/snap-00010")
    assert trash.is_dir()
    ok(as_user(MEMBER, "mv", str(trash), str(s)))
    assert s.is_dir()
    assert "clonefs-delete-at" not in api_labels(emu, "global/snapshots/snap-00010")
    # the protect label takes the prune right, which the member has
    ok(as_user(MEMBER, "setfattr", "-n", "user.keep", "-v", "yes", str(s)))
    ok(as_user(MEMBER, "setfattr", "-x", "user.keep", str(s)))


def test_an_outsider_gets_eacces_and_a_log_line_for_every_write(env):
    emu, m = env(policy=EXAMPLE)
    os.rmdir(m.path("global/snapshots/snap-00008"))          # root prunes: in the trash
    before = {p: api_labels(emu, p) for p in ("global/snapshots/snap-00010",
                                             "global/snapshots/snap-00008")}
    s = m.path("global/snapshots/snap-00010")
    trash = m.path(".clonefs/trash/global/snapshots/snap-00008")
    refused(as_user(OUTSIDER, "mkdir", str(m.path(f"{DISK}/snapshots/by-outsider"))))
    refused(as_user(OUTSIDER, "mkdir", str(m.path(f"{INSTANCE}/clones/by-outsider"))))
    refused(as_user(OUTSIDER, "rmdir", str(s)))
    refused(as_user(OUTSIDER, "setfattr", "-n", "user.env", "-v", "x", str(s)))
    refused(as_user(OUTSIDER, "setfattr", "-x", "user.owner", str(s)))
    refused(as_user(OUTSIDER, "mv", str(trash), str(m.path("global/snapshots/snap-00008"))))
    refused(as_user(OUTSIDER, "rmdir", str(trash)))            # delete now from the trash
    # nothing changed in the cloud
    assert emu.api("GET", "global/snapshots/by-outsider")[0] == 404
    assert emu.api("GET", "global/machineImages/by-outsider")[0] == 404
    for p, labels in before.items():
        assert api_labels(emu, p) == labels, p
    # one line per refusal, each naming the caller and the rule
    lines = log_lines(m, "uid 4343")
    assert len(lines) == 7, lines
    assert all("EACCES" in ln or "Permission denied" in ln for ln in lines), lines
    assert all("not in the policy's clone.allow_uids / allow_gids" in ln for ln in lines)
    assert sum("may not clone" in ln for ln in lines) == 2
    assert sum("may not prune" in ln for ln in lines) == 3   # rmdir, restore, delete now
    assert sum("may not label" in ln for ln in lines) == 2
    assert any("restore" in ln for ln in lines)


def test_reads_stay_open_to_everyone_and_root_keeps_working(env):
    emu, m = env(policy=EXAMPLE)
    s = m.path("global/snapshots/snap-00010")
    for who in (OUTSIDER, MEMBER):
        assert ok(as_user(who, "ls", str(m.path("global/snapshots")))).stdout.count("snap-") == 12
        assert ok(as_user(who, "cat", str(s / "status"))).stdout == "READY\n"
        ok(as_user(who, "cat", str(s / "resource.json")))
        r = ok(as_user(who, "getfattr", "-n", "user.owner", "--only-values", str(s)))
        assert r.stdout == "team-1"
        ok(as_user(who, "cat", str(m.path(".clonefs/status"))))
        ok(as_user(who, "sh", "-c", f"cd {m.path(DISK)} && ls snapshots"))
    # root is in allow_uids: clones, labels, prunes
    os.mkdir(m.path(f"{DISK}/snapshots/by-root"))
    os.setxattr(s, "user.env", b"prod")
    os.rmdir(s)
    assert emu.api("GET", "global/snapshots/by-root")[0] == 200


def test_no_allow_lists_admit_the_mounting_user_and_root_only(env):
    # the defaults: no lists. Other users were stopped by the kernel's modes before; now by
    # the policy, with a log line
    emu, m = env(policy={"clone": {"consistency": "crash"}, "prune": {"keep_last": 0}})
    refused(as_user(MEMBER, "mkdir", str(m.path(f"{DISK}/snapshots/nope"))))
    refused(as_user(MEMBER, "setfattr", "-n", "user.env", "-v", "x",
                    str(m.path("global/snapshots/snap-00010"))))
    lines = log_lines(m, "uid 4242")
    assert len(lines) == 2 and all("only the mounting user and root" in ln for ln in lines)
    r = as_user(MEMBER, "sh", "-c", f"test -w {m.path(DISK)}/snapshots")
    assert r.returncode == 1
    os.mkdir(m.path(f"{DISK}/snapshots/by-root"))             # root mounted it
    assert emu.api("GET", "global/snapshots/by-root")[0] == 200


# ---- item 6: labels the policy reads take the prune right ----

def test_labels_and_restores_no_longer_bypass_the_policy(env):
    # the case: a caller refused mkdir and rmdir (here root, who mounted it but is
    # not in the lists) could remove user.keep, relabel, and restore
    seed = seeds.inventory(12, 2)
    snaps = {s["name"]: s for s in seed["global/snapshots"]}
    snaps["snap-00010"]["labels"]["keep"] = "yes"
    snaps["snap-00008"]["labels"]["clonefs-delete-at"] = str(int(time.time()) + 86400)
    emu, m = env(policy={"clone": {"allow_uids": [4242]}, "prune": {"keep_last": 0}},
                 seed=seed)
    trash = m.path(".clonefs/trash/global/snapshots/snap-00008")
    assert trash.is_dir()
    before = {n: api_labels(emu, f"global/snapshots/{n}")
              for n in ("snap-00008", "snap-00010", "snap-00011")}

    def eacces(fn):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == errno.EACCES

    eacces(lambda: os.rmdir(m.path("global/snapshots/snap-00011")))
    eacces(lambda: os.removexattr(m.path("global/snapshots/snap-00010"), "user.keep"))
    eacces(lambda: os.setxattr(m.path("global/snapshots/snap-00011"), "user.owner", b"x"))
    eacces(lambda: os.rename(trash, m.path("global/snapshots/snap-00008")))
    for n, labels in before.items():
        assert api_labels(emu, f"global/snapshots/{n}") == labels, n
    lines = log_lines(m, "uid 0 ")
    assert len(lines) == 4, lines
    assert any("remove label keep" in ln and "takes the prune right" in ln for ln in lines)
    assert any("set label owner" in ln and "may not label" in ln for ln in lines)
    assert any("restore" in ln and "may not prune" in ln for ln in lines)
    # the uid the lists name does all of it
    ok(as_user(MEMBER, "setfattr", "-x", "user.keep", str(m.path("global/snapshots/snap-00010"))))
    ok(as_user(MEMBER, "mv", str(trash), str(m.path("global/snapshots/snap-00008"))))
    assert "keep" not in api_labels(emu, "global/snapshots/snap-00010")
    assert "clonefs-delete-at" not in api_labels(emu, "global/snapshots/snap-00008")


def test_label_right_and_prune_right(env):
    policy = {"clone": {"consistency": "crash", "allow_gids": [27],
                        "allow_sources": {"backup": "enabled"}},
              "prune": {"protect_label": "hold", "keep_last": 0},
              "labels": {"allow_uids": [4444], "allow_gids": [27]}}
    emu, m = env(policy=policy)
    s = str(m.path("global/snapshots/snap-00010"))
    d = str(m.path(DISK))
    # the labeller sets and removes ordinary labels ("keep" is one here: the policy's
    # protect label is "hold")
    ok(as_user(LABELLER, "setfattr", "-n", "user.env", "-v", "prod", s))
    ok(as_user(LABELLER, "setfattr", "-n", "user.keep", "-v", "yes", s))
    ok(as_user(LABELLER, "setfattr", "-x", "user.owner", s))
    labels = api_labels(emu, "global/snapshots/snap-00010")
    assert labels["env"] == "prod" and labels["keep"] == "yes" and "owner" not in labels
    # ... but not the ones the policy reads: the protect label, clone-consistency, the
    # allow_sources keys, clonefs-*
    for key, path in (("hold", s), ("clone-consistency", d), ("backup", d),
                      ("clonefs-source", s)):
        refused(as_user(LABELLER, "setfattr", "-n", f"user.{key}", "-v", "x", path))
    # a protected one cannot be unprotected by the labeller either
    ok(as_user(MEMBER, "setfattr", "-n", "user.hold", "-v", "yes", s))
    refused(as_user(LABELLER, "setfattr", "-x", "user.hold", s))
    assert api_labels(emu, "global/snapshots/snap-00010")["hold"] == "yes"
    lines = log_lines(m, "uid 4444")
    assert len(lines) == 5, lines
    assert all("takes the prune right" in ln and "may not prune" in ln for ln in lines)
    assert all("clone.allow_uids / allow_gids" in ln for ln in lines)   # the prune list
    # a group-27 member holds both rights
    ok(as_user(MEMBER, "setfattr", "-x", "user.hold", s))
    ok(as_user(MEMBER, "setfattr", "-n", "user.backup", "-v", "enabled", d))
    assert api_labels(emu, DISK)["backup"] == "enabled"
    # the labeller clones nothing and prunes nothing
    refused(as_user(LABELLER, "mkdir", str(m.path(f"{DISK}/snapshots/by-labeller"))))
    refused(as_user(LABELLER, "rmdir", s))


# ---- test -w: access(2) answers from the policy ----

def test_test_w_tells_whether_you_may_clone_there(env):
    policy = {"clone": {"consistency": "crash", "allow_uids": [0], "allow_gids": [27],
                        "allow_sources": {"backup": "enabled"}}}
    emu, m = env(policy=policy)
    os.setxattr(m.path(DISK), "user.backup", b"enabled")

    def w(who, rel):
        return as_user(who, "sh", "-c", f"test -w '{m.path(rel)}'").returncode == 0

    disk1 = f"zones/{seeds.ZONES[1]}/disks/data-1"            # no backup=enabled label
    assert w(MEMBER, f"{DISK}/snapshots")
    assert not w(OUTSIDER, f"{DISK}/snapshots")
    assert not w(MEMBER, f"{disk1}/snapshots")                 # the source is not allowed
    assert not w(MEMBER, f"{INSTANCE}/clones")
    # collections and the trash: the prune right; a resource directory: the label right
    for rel in ("global/snapshots", ".clonefs/trash/global/snapshots",
                "global/snapshots/snap-00002", f"{DISK}/snapshots/snap-00002"):
        assert w(MEMBER, rel) and not w(OUTSIDER, rel), rel
    # never writable: files, containers, .clonefs
    for rel in ("global/snapshots/snap-00002/status", "global", "zones", ".clonefs",
                ".clonefs/status", ""):
        assert not w(MEMBER, rel) and not w((0, 0, []), rel), rel
    # and what test -w said is what mkdir does
    ok(as_user(MEMBER, "mkdir", str(m.path(f"{DISK}/snapshots/as-said"))))
    refused(as_user(MEMBER, "mkdir", str(m.path(f"{disk1}/snapshots/as-said-2"))),
            "Operation not permitted")
    # reads and searches: everyone's
    assert as_user(OUTSIDER, "sh", "-c", f"test -r '{m.path(DISK)}/status' && "
                                         f"test -x '{m.path(DISK)}'").returncode == 0
    assert as_user(OUTSIDER, "sh", "-c", f"test -x '{m.path(DISK)}/status'").returncode == 1


def test_test_w_follows_a_prune_list_of_its_own(env):
    emu, m = env(policy={"clone": {"allow_gids": [27]}, "prune": {"allow_uids": [0]},
                         "labels": {"allow_uids": [4444]}})

    def w(who, rel):
        return as_user(who, "sh", "-c", f"test -w '{m.path(rel)}'").returncode == 0

    assert w(MEMBER, f"{DISK}/snapshots") and not w((0, 0, []), f"{DISK}/snapshots")
    assert w((0, 0, []), "global/snapshots") and not w(MEMBER, "global/snapshots")
    assert w(LABELLER, "global/snapshots/snap-00002")
    assert not w(MEMBER, "global/snapshots/snap-00002")
    refused(as_user(MEMBER, "rmdir", str(m.path("global/snapshots/snap-00002"))))
    assert log_lines(m, "prune.allow_uids")


def test_test_w_on_a_read_only_mount_is_false_even_for_root(env):
    emu, m = env(policy=EXAMPLE, opts=["ro"])
    r = subprocess.run(["sh", "-c", f"test -w '{m.path(DISK)}/snapshots'"])
    assert r.returncode == 1
    assert not os.access(m.path("global/snapshots"), os.W_OK)
    with pytest.raises(OSError) as e:
        os.mkdir(m.path(f"{DISK}/snapshots/x"))
    assert e.value.errno == errno.EROFS


# ---- the protect label's name comes from the policy ----

def test_the_policys_protect_label_drives_the_write_bits(env, mount_factory):
    emu, m = env(policy={"prune": {"protect_label": "hold"}})
    hold, keep = (m.path(f"global/snapshots/snap-0000{i}") for i in (1, 2))
    os.setxattr(hold, "user.hold", b"yes")
    os.setxattr(keep, "user.keep", b"yes")
    wait_for(lambda: stat.S_IMODE(os.stat(hold).st_mode) == 0o555, 10, "hold: no write bits")
    assert stat.S_IMODE(os.stat(keep).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(m.path("global/snapshots/snap-00002/status")).st_mode) == 0o444
    m.stop()
    # the same cache under the default policy ("keep"), with the API gone: the modes are
    # right before any listing completes
    emu.stop()
    m2 = mount_factory(emu, cache=m.cache, wait_sync=False, opts=["allow_other"])
    assert stat.S_IMODE(os.stat(m2.path("global/snapshots/snap-00001")).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(m2.path("global/snapshots/snap-00002")).st_mode) == 0o555
    assert emu.proc.poll() is not None                          # no listing can complete


# ---- uid=, gid=, umask=, default_permissions ----

def mount_options(mnt):
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == str(mnt):
            sep = fields.index("-")
            return set(fields[5].split(",")) | set(fields[sep + 3].split(","))
    raise AssertionError(f"{mnt} not in mountinfo")


def test_uid_gid_umask_and_default_permissions_options(env, mount_factory):
    emu, m = env(policy=EXAMPLE, opts=["uid=4242", "gid=27", "umask=002"])
    assert "default_permissions" not in mount_options(m.mnt)
    for rel, mode in (("", 0o775), (f"{DISK}/snapshots", 0o775), ("global/snapshots/snap-00003",
                      0o775), ("global/snapshots/snap-00003/status", 0o444)):
        st = os.stat(m.path(rel))
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4242, 27, mode), rel
    assert os.lstat(m.path("global/snapshots/snap-00003/source")).st_mode & 0o777 == 0o777
    # asked for, the kernel checks those modes first: group 27 may write (0775), others
    # are stopped by the kernel (and the policy still decides what reaches it)
    emu2, m2 = env(policy=EXAMPLE, opts=["gid=27", "umask=002", "default_permissions"])
    assert "default_permissions" in mount_options(m2.mnt)
    ok(as_user(MEMBER, "mkdir", str(m2.path(f"{DISK}/snapshots/by-group"))))
    refused(as_user(OUTSIDER, "mkdir", str(m2.path(f"{DISK}/snapshots/by-other"))))
    assert not log_lines(m2, "uid 4343")                       # the kernel refused it
    # bad values are usage errors naming the option
    for bad in ("uid=alice", "gid=-1", "umask=999", "umask=", "uid=4294967295"):
        mb = mount_factory(emu, start=False, opts=[bad])
        r = subprocess.run(mb.command(), capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and bad.split("=")[0] + "=" in r.stderr, (bad, r.stderr)


# ---- the README's worked example, as written there ----

def readme_example():
    text = (ROOT / "README.md").read_text()
    sect = text[text.index("### A worked example: a group that may clone"):]
    sect = sect[:sect.index("\n## ")]
    policy = json.loads(re.search(r"```json\n(.*?)```", sect, re.S).group(1))
    shell = re.search(r"```sh\n(.*?)```", sect, re.S).group(1)
    return policy, shell


def test_the_readmes_allow_other_group_example(env):
    policy, shell = readme_example()
    assert policy["clone"]["allow_gids"] == [27]
    emu, m = env(policy=policy)
    steps = [ln for ln in shell.splitlines() if ln.startswith(("alice$", "bob$"))]
    assert steps, shell
    users = {"alice": (4242, 4242, [27]), "bob": (4343, 4343, [])}
    for ln in steps:
        who, rest = ln.split("$", 1)
        cmd, _, note = rest.partition("#")
        cmd = cmd.strip().replace("/mnt/gce", str(m.mnt))
        note = note.strip()
        r = as_user(users[who], "sh", "-c", cmd)
        assert (r.returncode != 0) == note.startswith("refused"), (ln, r.stdout, r.stderr)
        want = note.partition(":")[2].strip()
        assert want in r.stdout + r.stderr, (ln, want, r.stdout, r.stderr)
    wait_for(lambda: emu.api("GET", "global/snapshots/before-upgrade")[0] == 200, 10,
             "alice's snapshot")
    assert log_lines(m, "uid 4343"), "bob's refusal is logged"
