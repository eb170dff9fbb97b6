"""test_operator.py — what an operator touches besides the tree itself:

  - .clonefs/metrics, parsed with a small Prometheus text-format parser and
    checked against the seed (and against faults the emulator injects);
  - .clonefs/unlabeled;
  - the first sync's progress, on stderr and in .clonefs/status;
  - mounting like every FUSE filesystem: mount -t fuse.clonefs, /etc/fstab
    (mount -T), umount and fusermount3 -u, the daemon in the background
    logging to syslog; the systemd unit's own commands;
  - the man page, --help and `meson install`;
  - the README's recipes, each run as written.
"""
import datetime as dt
import errno
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import seeds
from harness import CLONEFS, ROOT, SANITIZER_MARKS, wait_for

DAY = 86400
ZONE = seeds.ZONES[0]


def run(*cmd, cwd=None, check=True, env=None, shell=False):
    r = subprocess.run(cmd[0] if shell else cmd, cwd=cwd, capture_output=True, text=True,
                       env=env, shell=shell)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


def policy_file(tmp_path, policy, name="policy.json"):
    p = tmp_path / name
    p.write_text(json.dumps(policy))
    return p


def aged_seed(ages_days, project="demo-project"):
    """Two disks in ZONE (d-0 attached to a RUNNING instance, d-1 not), and
    one snapshot per age, alternating between them: snap-<i> is ages_days[i]
    days old and stores (i + 1) MiB."""
    now = seeds.NOW
    link = lambda p: seeds.link(project, p)  # noqa: E731
    seed = {f"zones/{ZONE}/disks": [
        {"name": f"d-{d}", "sizeGb": "10", "status": "READY",
         "creationTimestamp": seeds.rfc3339(now - dt.timedelta(days=500)),
         "labels": {"owner": "team-a"}} for d in range(2)]}
    seed[f"zones/{ZONE}/instances"] = [{
        "name": "vm-0", "status": "RUNNING", "labels": {"owner": "team-a"},
        "creationTimestamp": seeds.rfc3339(now - dt.timedelta(days=500)),
        "disks": [{"source": link(f"zones/{ZONE}/disks/d-0"), "boot": True}]}]
    seed["global/snapshots"] = [{
        "name": f"snap-{i:03d}", "status": "READY",
        "creationTimestamp": seeds.rfc3339(now - dt.timedelta(days=a)),
        "diskSizeGb": "10", "storageBytes": str((i + 1) << 20),
        "sourceDisk": link(f"zones/{ZONE}/disks/d-{i % 2}"),
        "labels": {"owner": "team-a"} if i % 3 else {"tier": "gold"},
    } for i, a in enumerate(ages_days)]
    seed["global/images"] = []
    seed["global/machineImages"] = []
    return seed


# ---- a small parser of the Prometheus text exposition format (0.0.4) ----

METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)')
VALUE = re.compile(r"^[+-]?(?:Inf|NaN|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_prometheus(text):
    """Parse text or raise AssertionError naming the line. Returns
    {family: {"type", "help", "samples": [(name, {labels}, float)]}}.
    Checks what node_exporter's textfile collector checks: one HELP and TYPE
    per family before its samples, valid names, labels, escapes and values,
    no sample repeated, histogram buckets cumulative up to +Inf = _count."""
    fams, seen, current = {}, set(), None
    assert text.endswith("\n"), "the last line must end with a newline"
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}: {line!r}"
        if not line.strip():
            continue
        if line.startswith("#"):
            m = re.match(rf"^# (HELP|TYPE) ({METRIC}) ?(.*)$", line)
            if not m:
                continue  # a plain comment
            kind, name, rest = m.groups()
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            assert not f["samples"], f"{where}: {kind} after the family's samples"
            if kind == "TYPE":
                assert f["type"] is None and rest in TYPES, where
                f["type"] = rest
            else:
                assert f["help"] is None, f"{where}: second HELP"
                f["help"] = rest.replace("\\n", "\n").replace("\\\\", "\\")
            current = name
            continue
        m = re.match(rf"^({METRIC})(\{{(.*)\}})?\s+(\S+)(\s+-?[0-9]+)?$", line)
        assert m, f"{where}: not a sample"
        name, _, body, value, _ = m.groups()
        labels = {}
        if body:
            rest = body
            while rest.strip():
                lm = LABEL_PAIR.match(rest)
                assert lm, f"{where}: bad label syntax at {rest!r}"
                k, v, _ = lm.groups()
                assert k not in labels, f"{where}: label {k} twice"
                labels[k] = v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                rest = rest[lm.end():]
        assert VALUE.match(value), f"{where}: bad value"
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in fams and \
                    fams[name[: -len(suffix)]]["type"] in ("histogram", "summary"):
                fam = name[: -len(suffix)]
        assert fam in fams and fams[fam]["type"], f"{where}: no TYPE line before it"
        assert fam == current, f"{where}: family {fam} is not contiguous"
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"{where}: sample repeated"
        seen.add(key)
        fams[fam]["samples"].append((name, labels, float(value.replace("Inf", "inf"))))
    for fam, f in fams.items():
        if f["type"] != "histogram":
            continue
        groups = {}
        for name, labels, v in f["samples"]:
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            groups.setdefault(rest, {})[(name, labels.get("le"))] = v
        for rest, g in groups.items():
            buckets = sorted(((float(le.replace("Inf", "inf")), v) for (nm, le), v in g.items()
                              if nm == fam + "_bucket"))
            assert buckets and math.isinf(buckets[-1][0]), f"{fam}{rest}: no +Inf bucket"
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), f"{fam}{rest}: buckets not cumulative"
            assert g[(fam + "_count", None)] == counts[-1], f"{fam}{rest}: _count != +Inf"
            assert (fam + "_sum", None) in g, f"{fam}{rest}: no _sum"
    return fams


def value(fams, name, **labels):
    fam = fams[re.sub(r"_(bucket|sum|count)$", "", name)] if name not in fams else fams[name]
    hits = [v for n, l, v in fam["samples"]
            if n == name and all(l.get(k) == str(x) for k, x in labels.items())]
    assert len(hits) == 1, f"{name}{labels}: {len(hits)} samples"
    return hits[0]


def test_prometheus_parser_rejects_what_node_exporter_rejects():
    good = ("# HELP a_total A.\n# TYPE a_total counter\n"
            'a_total{x="1",y="q\\"uote"} 3\n')
    assert value(parse_prometheus(good), "a_total", x=1, y='q"uote') == 3
    for bad in ("a 1\n",                                            # no TYPE
                "# TYPE a gauge\na{x=1} 1\n",                       # unquoted label
                "# TYPE a gauge\na 1\na 2\n",                       # repeated
                "# TYPE a gauge\na one\n",                          # value
                "# TYPE a gauge\n# TYPE b gauge\na 1\n",            # not contiguous
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                "h_sum 1\nh_count 1\n"):                            # not cumulative
        with pytest.raises(AssertionError):
            parse_prometheus(bad)


# ---- .clonefs/metrics ----

AGES = [0.5, 3, 10, 45, 100, 400, 0.2, 2]   # days


@pytest.fixture
def aged(emulator_factory, mount_factory, tmp_path):
    def make(policy=None, ages=AGES, **kw):
        emu = emulator_factory(aged_seed(ages))
        opts = [f"policy={policy_file(tmp_path, policy)}"] if policy is not None else []
        return emu, mount_factory(emu, opts=opts, **kw)
    return make


def test_metrics_agree_with_the_inventory(aged):
    emu, m = aged(policy={"labels": {"required": ["owner"]},
                          "prune": {"keep_last": 0, "grace_seconds": 3600}})
    snaps = emu.list_all("global/snapshots")
    # one refusal of our own, and one snapshot into the trash
    with pytest.raises(OSError) as e:
        os.setxattr(m.path("global/snapshots/snap-001"), "user.owner", b"Not Valid")
    assert e.value.errno == errno.EINVAL
    os.rmdir(m.path("global/snapshots/snap-005"))

    read_at = time.time()
    text = m.path(".clonefs/metrics").read_text()
    fams = parse_prometheus(text)
    for fam in fams.values():
        assert fam["help"] and fam["type"]
        for _, labels, _ in fam["samples"]:
            assert labels["project"] == "demo-project"

    assert value(fams, "clonefs_resources", kind="snapshot", status="READY") == len(AGES)
    assert value(fams, "clonefs_resources", kind="disk", status="READY") == 2
    assert value(fams, "clonefs_resources", kind="instance", status="RUNNING") == 1
    assert value(fams, "clonefs_stored_bytes", kind="snapshot") == \
        sum(int(s["storageBytes"]) for s in snaps)
    assert value(fams, "clonefs_size_bytes", kind="snapshot") == len(AGES) * (10 << 30)
    # ages: 1 d, 7 d, 30 d, 90 d, 365 d, +Inf
    for le, days in ((86400, 1), (604800, 7), (2592000, 30), (7776000, 90), (31536000, 365)):
        assert value(fams, "clonefs_age_seconds_bucket", kind="snapshot", le=le) == \
            sum(a <= days for a in AGES), le
    assert value(fams, "clonefs_age_seconds_bucket", kind="snapshot", le="+Inf") == len(AGES)
    assert value(fams, "clonefs_age_seconds_count", kind="snapshot") == len(AGES)
    # ages are counted from when the metrics were read, not from seeds.NOW (the
    # suite's start: minutes earlier when the tests before this one are long)
    since_seed = read_at - seeds.NOW.timestamp()
    assert abs(value(fams, "clonefs_age_seconds_sum", kind="snapshot") -
               len(AGES) * since_seed - sum(AGES) * DAY) < 120 * len(AGES)
    newest = value(fams, "clonefs_newest_creation_timestamp_seconds", kind="snapshot")
    assert abs(newest - (seeds.NOW.timestamp() - 0.2 * DAY)) < 2
    # snapshots 0, 3, 6 carry no owner label; 5 is in the trash and not counted
    assert value(fams, "clonefs_unlabeled_resources", kind="snapshot") == 3
    assert value(fams, "clonefs_trash_resources", kind="snapshot") == 1
    assert value(fams, "clonefs_trash_stored_bytes", kind="snapshot") == 6 << 20
    assert abs(value(fams, "clonefs_trash_next_deletion_timestamp_seconds") -
               (time.time() + 3600)) < 60
    # the sync, per collection
    assert value(fams, "clonefs_sync_resources", collection="snapshots") == len(AGES)
    for coll in ("zones", "regions", "disks", "instances", "snapshots", "images",
                 "machineImages"):
        assert value(fams, "clonefs_sync_age_seconds", collection=coll) < 60
        assert value(fams, "clonefs_sync_failing", collection=coll) == 0
        assert value(fams, "clonefs_sync_errors_total", collection=coll) == 0
        assert 0 <= value(fams, "clonefs_sync_duration_seconds", collection=coll) < 30
    assert value(fams, "clonefs_api_reachable") == 1
    assert value(fams, "clonefs_api_requests_total") >= 7
    assert value(fams, "clonefs_refusals_total", errno="EINVAL") == 1
    assert value(fams, "clonefs_refusals_total", errno="EDQUOT") == 0
    assert value(fams, "clonefs_operations_pending") == 0
    assert value(fams, "clonefs_info", version="0.1.0", mode="rw") == 1

    # a prune (rmdir in the trash: deleted now) counts exactly once
    prunes = value(fams, "clonefs_prunes_total")
    os.rmdir(m.path(".clonefs/trash/global/snapshots/snap-005"))
    assert emu.api("GET", "global/snapshots/snap-005")[0] == 404
    fams = parse_prometheus(m.path(".clonefs/metrics").read_text())
    assert value(fams, "clonefs_prunes_total") == prunes + 1


def test_metrics_count_api_faults_retries_and_failed_listings(aged):
    emu, m = aged()
    # every request answers 503 or 429 (Retry-After: 1): a pass fails after its retries
    emu_faults(emu, {"failRate": 1.0})

    def failed():
        fams = parse_prometheus(m.path(".clonefs/metrics").read_text())
        return fams if value(fams, "clonefs_sync_errors_total", collection="zones") >= 1 \
            else None
    fams = wait_for(failed, 120, "a failed listing in the metrics", interval=0.5)
    emu_faults(emu, {"failRate": 0.0})
    assert value(fams, "clonefs_sync_failing", collection="zones") == 1
    assert value(fams, "clonefs_api_retries_total") >= 1
    errs = [(l["call"], l["code"], l["reason"], v) for n, l, v in
            fams["clonefs_api_errors_total"]["samples"]]
    assert any(c == "list" and code in ("503", "429") and v >= 1 for c, code, _, v in errs), errs
    # the status says the same in JSON
    assert m.status()["collections"]["zones"]["last_error"]


def emu_faults(emu, faults):
    import urllib.request
    req = urllib.request.Request(emu.url.split("/compute/")[0] + "/emulator/v1/faults",
                                 data=json.dumps(faults).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read() or b"null")


# ---- .clonefs/unlabeled ----

def test_unlabeled_lists_every_resource_missing_a_required_label(aged):
    emu, m = aged(policy={"labels": {"required": ["owner", "tier"]},
                          "prune": {"keep_last": 0, "grace_seconds": 3600}})
    os.rmdir(m.path("global/snapshots/snap-000"))   # trashed: no longer listed
    lines = m.path(".clonefs/unlabeled").read_text().splitlines()
    expect = set()
    for coll in ("global/snapshots", f"zones/{ZONE}/disks", f"zones/{ZONE}/instances"):
        for r in emu.list_all(coll):
            if r["name"] == "snap-000":
                continue
            if not {"owner", "tier"} <= set(r.get("labels", {})):
                expect.add(f"{coll}/{r['name']}")
    assert sorted(lines) == sorted(expect) and len(lines) == len(set(lines))
    # every line is a path in the mount, and xargs can act on the list
    for p in lines:
        assert m.path(p).is_dir(), p
    # a label set through the mount takes a resource off the list
    os.setxattr(m.path("global/snapshots/snap-003"), "user.owner", b"team-b")
    wait_for(lambda: "global/snapshots/snap-003" not in
             m.path(".clonefs/unlabeled").read_text().splitlines(), 20, "the list to shrink")


# ---- the first sync's progress ----

def progress_lines(text):
    return re.findall(r"first sync: snapshots ([0-9,]+)( / ~([0-9,]+))?\n", text)


def test_first_sync_progress_on_stderr_and_in_status(emulator_factory, mount_factory):
    emu = emulator_factory(seeds.inventory(3000, 2))
    emu_faults(emu, {"slowRate": 1.0, "slowSeconds": 0.25})   # 0.25 s a page
    m = mount_factory(emu, wait_sync=False, sync_interval=3600)

    seen = []

    def snapshots_running():
        pg = m.status()["progress"]
        if pg and pg["listing"] == "snapshots" and pg["done"] > 0:
            seen.append(pg)
        return m.status()["collections"]["snapshots"]["last_complete"] is not None
    wait_for(snapshots_running, 60, "the snapshots listing")
    assert seen, "the status never showed the snapshots listing running"
    assert all(p["first_pass"] and p["estimate"] is None for p in seen)
    assert all(p["done"] % 500 == 0 and 0 < p["done"] <= 3000 for p in seen)
    wait_for(lambda: m.status()["progress"] is None, 30, "the end of the pass")
    took = time.time() - m.started_at
    lines = progress_lines(m.stderr())
    assert lines, m.stderr()
    assert all(est == "" for _, est, _ in lines)                 # no estimate yet
    assert len(lines) <= took + 1, (lines, took)                 # about once a second
    assert "first sync: snapshots 3,000, complete in" in m.stderr()
    m.stop()

    # again with the same cache: the previous count is the estimate
    m2 = mount_factory(emu, wait_sync=False, sync_interval=3600)
    wait_for(lambda: "first sync: snapshots 3,000, complete" in m2.stderr(), 60, "the end line")
    lines = progress_lines(m2.stderr())
    assert lines and all(est == "3,000" for _, _, est in lines), m2.stderr()
    assert all(int(done.replace(",", "")) % 500 == 0 for done, _, _ in lines)


# ---- mounting like every FUSE filesystem ----

class PrivateMounts:
    """A private mount namespace held open by a `sleep`, so the test can bind
    over /usr/local/sbin (mount(8) resets PATH, and its helper runs
    `clonefs` through /bin/sh's default PATH) and over /dev/log (to read the
    daemon's syslog lines) without touching the machine's own mounts.
    Files in it are reached through /proc/PID/root."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                        "sleep", "900"])
        mine = os.readlink("/proc/self/ns/mnt")
        wait_for(lambda: os.readlink(f"/proc/{self.holder.pid}/ns/mnt") != mine, 10,
                 "the private mount namespace")
        self.daemons = []

    def sh(self, script, env=None, check=True):
        return run("nsenter", "-t", str(self.holder.pid), "-m", "--", "/bin/sh", "-ec", script,
                   env=env, check=check)

    def path(self, p):
        return Path(f"/proc/{self.holder.pid}/root{p}")

    def mounts(self):
        return Path(f"/proc/{self.holder.pid}/mounts").read_text().splitlines()

    def close(self):
        for pid in self.daemons:   # a daemon this test started that is still serving
            if daemon_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.holder.kill()
        self.holder.wait()


def daemon_alive(pid):
    """The daemon runs (a zombie has exited: nothing reaps it in a container)."""
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return st.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def ns(tmp_path):
    n = PrivateMounts(tmp_path)
    yield n
    n.close()


def setup_helper_env(ns, tmp_path):
    """clonefs on mount's PATH, a syslog socket on /dev/log; returns the socket."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "clonefs").symlink_to(CLONEFS)
    realdev = tmp_path / "realdev"
    realdev.mkdir()
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(str(tmp_path / "log.sock"))
    log.settimeout(0.2)
    ns.sh(f"""
        mount --bind {bindir} /usr/local/sbin
        mount --bind /dev {realdev}
        mount -t tmpfs -o mode=755 clonefs-test-dev /dev
        for n in null zero full random urandom fuse tty; do
            [ -e {realdev}/$n ] || continue
            touch /dev/$n; mount --bind {realdev}/$n /dev/$n
        done
        touch /dev/log; mount --bind {tmp_path}/log.sock /dev/log
    """)
    return log


def syslog_lines(sock, want, timeout=20):
    got = []

    def has():
        try:
            got.append(sock.recv(8192).decode(errors="replace"))
        except socket.timeout:
            pass
        return any(want in g for g in got)
    wait_for(has, timeout, f"a syslog line with {want!r}", interval=0)
    return got


def helper_env(tmp_path):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = f"log_path={tmp_path}/asan:detect_leaks=1"
    env["UBSAN_OPTIONS"] = f"log_path={tmp_path}/ubsan:print_stacktrace=1"
    return env


def no_sanitizer_logs(tmp_path):
    logs = list(tmp_path.glob("asan*")) + list(tmp_path.glob("ubsan*"))
    assert not logs, "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)


def clonefs_mounts(ns, mnt):
    return [l for l in ns.mounts() if l.split()[1] == str(mnt)]


def test_mount_t_fuse_clonefs_daemonizes_logs_to_syslog_and_umount_stops_it(
        emulator_factory, ns, tmp_path):
    emu = emulator_factory(seeds.inventory(30, 2))
    log = setup_helper_env(ns, tmp_path)
    token = tmp_path / "token"
    token.write_text(emu.token)
    token.chmod(0o600)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    opts = f"endpoint={emu.url},token_file={token},cache={tmp_path}/cache,sync_interval=1"
    # returns once mounted, the daemon in the background
    ns.sh(f"mount -t fuse.clonefs gce:{emu.project} {mnt} -o {opts}", env=helper_env(tmp_path))
    lines = clonefs_mounts(ns, mnt)
    assert len(lines) == 1 and lines[0].split()[0] == "gce:demo-project" \
        and lines[0].split()[2] == "fuse.clonefs", lines
    status = json.loads(ns.path(f"{mnt}/.clonefs/status").read_text())
    pid = status["pid"]
    ns.daemons.append(pid)
    assert pid != os.getpid() and daemon_alive(pid)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"-f" not in cmdline and cmdline[1] == b"gce:demo-project", cmdline
    assert Path(f"/proc/{pid}/fd/2").resolve() == Path("/dev/null") or \
        os.readlink(f"/proc/{pid}/fd/2").endswith("null")
    got = syslog_lines(log, "mounted project demo-project")
    assert any(re.match(r"<30>.*clonefs\[\d+\]: mounted project demo-project", g) for g in got)
    wait_for(lambda: ns.path(f"{mnt}/global/snapshots/snap-00029").is_dir(), 30,
             "the snapshots through the mount")
    assert len(os.listdir(ns.path(f"{mnt}/global/snapshots"))) == 30
    ns.sh(f"umount {mnt}")
    wait_for(lambda: not daemon_alive(pid), 30, "the daemon to exit after umount")
    assert not clonefs_mounts(ns, mnt)
    syslog_lines(log, f"unmounted {mnt}")
    no_sanitizer_logs(tmp_path)


def test_fstab_entry_mounts_once_and_fusermount_unmounts(emulator_factory, ns, tmp_path):
    emu = emulator_factory(seeds.inventory(10, 2))
    setup_helper_env(ns, tmp_path)
    token = tmp_path / "token"
    token.write_text(emu.token)
    token.chmod(0o600)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "# an /etc/fstab line, read from this file with mount -T\n"
        f"gce:{emu.project}  {mnt}  fuse.clonefs  _netdev,nofail,ro,endpoint={emu.url},"
        f"token_file={token},cache={tmp_path}/cache,sync_interval=1  0  0\n")
    env = helper_env(tmp_path)
    ns.sh(f"mount -T {fstab} {mnt}", env=env)
    status = json.loads(ns.path(f"{mnt}/.clonefs/status").read_text())
    ns.daemons.append(status["pid"])
    assert status["read_only"] is True            # ro from the fstab line
    # mount -a sees it mounted (the source is the fsname): nothing stacks on it
    r = ns.sh(f"mount -a -v -T {fstab}", env=env)
    assert "already mounted" in r.stdout + r.stderr
    assert len(clonefs_mounts(ns, mnt)) == 1
    # the disk exists once the first sync has listed it (before, mkdir is ENOENT)
    snaps = ns.path(f"{mnt}/zones/{ZONE}/disks/data-0/snapshots")
    wait_for(snaps.is_dir, 30, "the disk's snapshots/ through the mount")
    with pytest.raises(OSError) as e:
        os.mkdir(snaps / "x")
    assert e.value.errno == errno.EROFS
    ns.sh(f"fusermount3 -u {mnt}")
    wait_for(lambda: not daemon_alive(status["pid"]), 30, "the daemon to exit")
    assert not clonefs_mounts(ns, mnt)
    no_sanitizer_logs(tmp_path)


def unit_file():
    return (ROOT / "contrib" / "clonefs@.service").read_text()


def unit_values(key):
    return [l.split("=", 1)[1] for l in unit_file().splitlines() if l.startswith(key + "=")]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_unit_verifies(tmp_path):
    unit = tmp_path / "clonefs@demo-project.service"
    shutil.copy(ROOT / "contrib" / "clonefs@.service", tmp_path / "clonefs@.service")
    r = run("systemd-analyze", "verify", "--man=no", str(unit), check=False)
    # the only complaint allowed: clonefs itself is not installed on this machine
    for line in (r.stdout + r.stderr).splitlines():
        assert "Command clonefs is not executable" in line, line


def test_systemd_unit_commands_mount_and_unmount(emulator_factory, tmp_path):
    """Run the unit's ExecStartPre / ExecStart / ExecStop as systemd would for
    instance demo-project, with /mnt/clonefs and /var/cache/clonefs moved
    into the test's directory."""
    emu = emulator_factory(seeds.inventory(10, 2))
    token = tmp_path / "token"
    token.write_text(emu.token)
    token.chmod(0o600)
    assert unit_values("Type") == ["forking"]

    def cmd(line):
        line = line.replace("%i", emu.project).replace("/mnt/clonefs", f"{tmp_path}/mnt") \
            .replace("/var/cache/clonefs", f"{tmp_path}/cache")
        line = line.replace("$CLONEFS_OPTIONS",
                            f"-o endpoint={emu.url},token_file={token},sync_interval=1")
        argv = line.split()
        argv[0] = str(CLONEFS) if argv[0] == "clonefs" else argv[0]
        return argv
    for pre in unit_values("ExecStartPre"):
        run(*cmd(pre))
    mnt = tmp_path / "mnt" / emu.project
    # Type=forking: ExecStart returns once the mount is there
    start = subprocess.run(cmd(unit_values("ExecStart")[0]), capture_output=True, text=True,
                           timeout=60, env=helper_env(tmp_path))
    assert start.returncode == 0, start.stderr
    try:
        assert os.path.ismount(mnt)
        pid = json.loads((mnt / ".clonefs/status").read_text())["pid"]
        wait_for(lambda: (mnt / f"zones/{ZONE}/disks/data-0").is_dir(), 30, "a sync")
    finally:
        run(*cmd(unit_values("ExecStop")[0]), check=False)
    wait_for(lambda: not daemon_alive(pid), 30, "the daemon to exit on ExecStop")
    assert not os.path.ismount(mnt)
    no_sanitizer_logs(tmp_path)


# ---- the man page, --help, meson install ----

def help_text():
    return run(str(CLONEFS), "--help").stdout


def clonefs_help_options():
    """{option: its help text} from --help's "clonefs options" block."""
    block = help_text().split("clonefs options:\n", 1)[1].split("\n\n", 1)[0]
    opts, cur = {}, None
    for line in block.splitlines():
        m = re.match(r"^    (-o [a-z_]+|-[a-z])", line)
        if m:
            cur = m.group(1)
            opts[cur] = line
        elif cur:
            opts[cur] += " " + line.strip()
    return opts


def test_help_lists_every_option_with_its_default():
    opts = clonefs_help_options()
    src = (ROOT / "fs" / "options.c").read_text()
    table = re.findall(r'CF_OPT\("([a-z_]+)', src)
    assert table and set(f"-o {t}" for t in table) <= set(opts), (table, list(opts))
    for o in ("-f", "-d"):
        assert o in opts
    for o, text in opts.items():
        assert "default" in text, f"{o} gives no default: {text}"


def test_man_page_renders_without_warnings_and_documents_every_option():
    page = ROOT / "doc" / "clonefs.1"
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    r = run("man", "--warnings=w", "-l", str(page), env=env)
    assert r.stderr == "", r.stderr
    r = run("groff", "-man", "-Tutf8", "-ww", "-z", str(page))
    assert r.stderr == "", r.stderr
    text = run("man", "-l", str(page), env=env).stdout
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "LAYOUT", "ATTRIBUTES",
                    "LABELS", "CLONES", "PRUNING", "POLICY", "ERRORS", "FILES",
                    "ENVIRONMENT", "EXAMPLES", "SEE ALSO"):
        assert re.search(rf"^{section}$", text, re.M), section
    flat = re.sub(r"\s+", " ", text.replace("\u2010", "-").replace("-\n", "-"))
    for o in clonefs_help_options():
        assert o.split("=")[0] in flat, o
    for e in ("EINVAL", "EEXIST", "EACCES", "EPERM", "EHOSTDOWN", "EMLINK", "EDQUOT", "EBUSY",
              "EAGAIN", "EROFS"):
        assert e in text, e


def policy_keys(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and prefix == "":
            yield from policy_keys(v, k + ".")
        else:
            yield prefix + k


def test_example_policy_loads_and_every_key_is_documented(emulator_factory, mount_factory):
    example = ROOT / "contrib" / "policy.example.json"
    data = json.loads(example.read_text())
    keys = list(policy_keys(data))
    emu = emulator_factory(seeds.inventory(4, 2))
    m = mount_factory(emu, opts=[f"policy={example}"])
    effective = json.loads(m.path(".clonefs/policy").read_text())
    # every key of the example is a key of the policy, and it took effect
    assert sorted(keys) == sorted(policy_keys(effective))
    for k in keys:
        sect, key = k.split(".")
        assert effective[sect][key] == data[sect][key], k
    readme = (ROOT / "README.md").read_text()
    man = (ROOT / "doc" / "clonefs.1").read_text().replace("\\-", "-")
    for k in keys:
        assert f"`{k}`" in readme, f"README does not document {k}"
        assert f".B {k}" in man, f"the man page does not document {k}"


def test_meson_install_puts_everything_in_place(tmp_path):
    build = ROOT / "build" / "test"
    if not (build / "build.ninja").exists():
        pytest.skip("no build/test")
    dest = tmp_path / "dest"
    r = run("meson", "install", "-C", str(build), "--destdir", str(dest), "--no-rebuild",
            "--quiet")
    prefix = run("meson", "introspect", str(build), "--buildoptions").stdout
    pre = next(o["value"] for o in json.loads(prefix) if o["name"] == "prefix")
    root = dest / pre.lstrip("/")
    for rel in ("bin/clonefs", "share/man/man1/clonefs.1", "lib/systemd/system/clonefs@.service",
                "share/doc/clonefs/policy.example.json"):
        assert (root / rel).is_file(), (rel, r.stdout)
    assert (root / "share/man/man1/clonefs.1").read_bytes() == \
        (ROOT / "doc/clonefs.1").read_bytes()


# ---- the README's recipes, run as written ----

def readme_block(marker):
    """The shell code block that follows `<!-- recipe: marker -->` in README.md."""
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- recipe: {marker} -->\s*```sh\n(.*?)```", text, re.S)
    assert m, f"README has no recipe {marker}"
    return m.group(1)


def run_recipe(marker, m, tmp_path, **subst):
    """Run a README recipe with /mnt/gce replaced by the mount (and other words
    by subst), in bash with -e and pipefail."""
    script = readme_block(marker).replace("/mnt/gce", str(m.path()))
    for k, v in subst.items():
        script = script.replace(k, v)
    return run("bash", "-euo", "pipefail", "-c", script, cwd=tmp_path)


def test_recipe_stale_snapshots_find_mtime(aged, tmp_path):
    emu, m = aged()
    out = run_recipe("stale", m, tmp_path).stdout.split()
    expect = {f"snap-{i:03d}" for i, a in enumerate(AGES) if a > 31}
    assert {os.path.basename(p) for p in out} == expect and len(out) == len(expect)


def test_recipe_retention_keeps_the_newest_seven(emulator_factory, mount_factory, tmp_path):
    ages = [0.1 + i for i in range(24)]             # 12 snapshots on each disk
    emu = emulator_factory(aged_seed(ages))
    pol = policy_file(tmp_path, {"prune": {"keep_last": 7, "grace_seconds": 3600,
                                           "max_per_minute": 100},
                                 "clone": {"consistency": "crash"}})
    m = mount_factory(emu, opts=[f"policy={pol}"])
    run_recipe("retention", m, tmp_path, **{"us-central1-a": ZONE, "db-data": "d-0"})
    left = sorted(os.listdir(m.path(f"zones/{ZONE}/disks/d-0/snapshots")))
    mine = [f"snap-{i:03d}" for i in range(0, 24, 2)]   # d-0's, newest first
    assert left == sorted(mine[:7])
    trashed = sorted(os.listdir(m.path(".clonefs/trash/global/snapshots")))
    assert trashed == sorted(mine[7:])
    # still in the cloud, labelled for deletion after the grace period
    for name in mine[7:]:
        st, s = emu.api("GET", f"global/snapshots/{name}")
        at = s["labels"]["clonefs-delete-at"].split("-")[0]      # EPOCH-MOUNTID-ID
        assert st == 200 and int(at) > time.time() + 3000
    # d-1 untouched
    assert len(os.listdir(m.path(f"zones/{ZONE}/disks/d-1/snapshots"))) == 12


PLUGIN = "/usr/lib/nagios/plugins/check_file_age"


@pytest.mark.skipif(not os.path.exists(PLUGIN), reason="monitoring-plugins-basic missing")
def test_recipe_nagios_check_file_age(aged, tmp_path):
    emu, m = aged(ages=[3, 10])             # d-0's newest is 3 days old, d-1's 10 days
    r = run_recipe("nagios", m, tmp_path, **{"us-central1-a": ZONE, "db-data": "d-0"})
    assert r.stdout.startswith("FILE_AGE OK"), r.stdout
    # one too old: CRITICAL, exit 2, through the same command
    script = readme_block("nagios").replace("/mnt/gce", str(m.path())) \
        .replace("us-central1-a", ZONE).replace("db-data", "d-0") \
        .replace("-w 432000 -c 864000", "-w 86400 -c 172800")
    r = run("bash", "-c", script, check=False)
    assert r.returncode == 2 and r.stdout.startswith("FILE_AGE CRITICAL"), r.stdout
    r = run(PLUGIN, "-w", str(5 * DAY), "-c", str(7 * DAY), "-f",
            str(m.path("global/snapshots/snap-001")), check=False)
    assert r.returncode == 2 and "CRITICAL" in r.stdout, r.stdout


def test_recipe_node_exporter_textfile(aged, tmp_path):
    emu, m = aged()
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    run_recipe("node-exporter", m, tmp_path,
               **{"/var/lib/node_exporter/textfile_collector": str(textdir)})
    files = list(textdir.iterdir())
    assert [f.name for f in files] == ["clonefs.prom"]     # no temporary file left behind
    fams = parse_prometheus(files[0].read_text())
    assert value(fams, "clonefs_resources", kind="snapshot", status="READY") == len(AGES)
    assert {"counter", "gauge", "histogram"} <= {f["type"] for f in fams.values()}


def test_recipe_du_is_the_storage_bill(aged, tmp_path):
    emu, m = aged()
    out = run_recipe("du", m, tmp_path).stdout
    total = sum(int(s["storageBytes"]) for s in emu.list_all("global/snapshots"))
    human, path = out.splitlines()[0].split("\t")
    assert path.endswith("global/snapshots")
    exact = int(run("du", "-s", "-B1", str(m.path("global/snapshots"))).stdout.split()[0])
    assert exact == total
    assert human == f"{total >> 20}M", (human, total)     # 1 + 2 + ... + 8 MiB = 36M
