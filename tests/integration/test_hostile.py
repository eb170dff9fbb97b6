"""test_hostile.py — hostile names from users and from the API, and the
promises about secrets and privilege: a name with '/', '..', NUL, 256+ bytes,
bytes that are not UTF-8, or outside the API's alphabet is EINVAL (from a
user) or skipped with a log line (from the API), never a path outside the
mount; HTTPS is verified; plain http goes only to loopback; default_permissions
and allow_other only when asked; the health command gets a clean
environment. (The libFuzzer targets in tests/fuzz/ drive the decoders
themselves.)

Tests taking `clouds` run on both providers (gce, aws; clouds.py holds each
one's rules for names and labels). GCE-only: hostile JSON pages and names from
the API (AWS's Name tags: test_aws.py), the HTTPS proxy and plain-http checks
(the same code for both), instance metadata, sizes past int64 and GCE's
international label rules."""
import errno
import http.server
import json
import os
import ssl
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

import seeds
from harness import wait_for

ZONE = seeds.ZONES[0]
DISK = f"zones/{ZONE}/disks/data-0"


def control(emu, method, sub, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/{sub}", data=data,
                                 method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def errno_of(fn):
    with pytest.raises(OSError) as e:
        fn()
    return e.value.errno


def walk_stays_inside(mnt):
    """Every entry of the mount is one safe name, every symlink resolves inside."""
    root = os.path.realpath(mnt)
    seen = 0
    for dirpath, dirnames, filenames in os.walk(mnt):
        for name in dirnames + filenames:
            assert name not in (".", "..") and "/" not in name and "\0" not in name, name
            assert len(name.encode()) <= 255
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                target = os.readlink(p)
                assert not target.startswith("/"), (p, target)
                resolved = os.path.normpath(os.path.join(dirpath, target))
                assert resolved == root or resolved.startswith(root + "/"), (p, target)
            seen += 1
    return seen


# ---- from users ----------------------------------------------------------------------

def test_hostile_names_from_users_are_einval(clouds, tmp_path):
    c, emu, m = clouds(6, 2, policy={"clone": {"consistency": "crash"}})
    snaps = os.fsencode(m.path(c.disk_snapshots(0)))
    before = set(c.api_snapshot_names(emu))
    refused = c.hostile_user_names
    for name in refused:
        assert errno_of(lambda: os.mkdir(snaps + b"/" + name)) == errno.EINVAL, name
    # the kernel stops these before they reach the daemon
    assert errno_of(lambda: os.mkdir(snaps + b"/" + b"x" * 256)) == errno.ENAMETOOLONG
    assert errno_of(lambda: os.mkdir(snaps + b"/..")) == errno.EEXIST
    with pytest.raises(ValueError):
        os.mkdir(snaps + b"/nul\x00byte")                 # no system call carries a NUL
    # lookups of such names find nothing
    for name in (b"\xff", b"x" * 255, b"..." , b"snap-00001\n"):
        assert errno_of(lambda: os.stat(snaps + b"/" + name)) == errno.ENOENT
    # labels: keys and values outside the provider's rules
    snap = os.fsencode(m.path(c.snapshot("snap-00001")))
    for key, value in c.hostile_labels:
        assert errno_of(lambda: os.setxattr(snap, key, value)) == errno.EINVAL, (key, value)
    assert errno_of(lambda: os.setxattr(snap, b"user." + b"k" * 251, b"x")) == errno.ERANGE
    # nothing reached the API; every refusal has a log line
    assert set(c.api_snapshot_names(emu)) == before
    assert set(c.api_labels(emu, "snap-00001")) == {"owner", "tier"}
    log = m.path(".clonefs/log").read_bytes()    # names are logged as given (flattened)
    assert log.count(b"EINVAL") >= len(refused) + len(c.hostile_labels), log
    assert not (tmp_path / "x").exists()
    walk_stays_inside(m.mnt)


# ---- from the API --------------------------------------------------------------------

HOSTILE_SNAPSHOTS = [
    {"name": "."}, {"name": ".."}, {"name": "../up"}, {"name": "a/b"}, {"name": "nul\u0000in"},
    {"name": "caf\u00e9"}, {"name": "x" * 300}, {"name": "UPPER"}, {"name": "new\nline"},
    {"name": "%2e%2e"}, {"name": ""}, {"name": None}, {"name": ["list"]},
    {"name": "ok-label-keys", "labels": {"../../k": "v\nx", "fine": "yes",
                                         "k2": "bad\u0000value", "": "empty",
                                         "long": "v" * 64}},
    {"name": "ok-sources", "sourceDisk": "zones/../../../etc/disks/passwd",
     "sourceImage": "https://evil.example/compute/v1/projects/p/global/images/../../x"},
    {"name": "ok-plain"},
]


def test_hostile_names_from_the_api_are_skipped_never_outside(emulator_factory, mount_factory,
                                                             tmp_path):
    emu = emulator_factory(seeds.inventory(3, 2))
    snaps = [dict(s, kind="compute#snapshot", status="READY") for s in HOSTILE_SNAPSHOTS]
    control(emu, "POST", "raw-override", {"path": "global/snapshots", "status": 200, "body":
            json.dumps({"kind": "compute#snapshotList", "items": snaps})})
    aggregated = {"kind": "compute#diskAggregatedList", "items": {
        "zones/../../etc": {"disks": [{"name": "escaped", "zone": "zones/../../etc"}]},
        "zones/a/b": {"disks": [{"name": "deep", "zone": "zones/a/b"}]},
        f"zones/{ZONE}": {"disks": [
            {"name": "d-ok", "zone": seeds.link("demo-project", f"zones/{ZONE}"),
             "status": "READY", "users": [seeds.link("demo-project", "zones/../../instances/x")]},
            {"name": "../d", "zone": seeds.link("demo-project", f"zones/{ZONE}")}]}}}
    control(emu, "POST", "raw-override", {"path": "aggregated/disks", "status": 200,
                                          "body": json.dumps(aggregated)})
    m = mount_factory(emu)
    assert sorted(os.listdir(m.path("global/snapshots"))) == [
        "ok-label-keys", "ok-plain", "ok-sources"]
    assert os.listdir(m.path(f"zones/{ZONE}/disks")) == ["d-ok"]
    assert sorted(os.listdir(m.path("zones"))) == sorted(seeds.ZONES)
    assert [k for k in os.listxattr(m.path("global/snapshots/ok-label-keys"))] == ["user.fine"]
    assert not os.path.lexists(m.path("global/snapshots/ok-sources/source"))
    # every skip said so, and the listings themselves completed
    err = m.stderr()
    assert "skipped" in err and "dropped" in err, err[-3000:]
    st = m.status()["collections"]
    assert st["snapshots"]["last_error"] is None and st["disks"]["last_error"] is None, st
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "etc").exists()
    assert walk_stays_inside(m.mnt) > 20


def test_a_page_that_is_not_unicode_removes_nothing(emulator_factory, mount_factory):
    """A name that is no Unicode at all (a lone surrogate: what JSON can carry of bytes
    that are not UTF-8) makes the page unreadable: the listing fails, removes nothing,
    and says why."""
    emu = emulator_factory(seeds.inventory(3, 2))
    m = mount_factory(emu)
    assert os.listdir(m.path("global/images")) == ["golden-1"]
    body = '{"kind":"compute#imageList","items":[{"name":"bad\\udcffname","status":"READY"}]}'
    control(emu, "POST", "raw-override", {"path": "global/images", "status": 200, "body": body})
    err = wait_for(lambda: m.status()["collections"]["images"]["last_error"], 30,
                   "the images listing to fail")
    assert "JSON" in err, err
    assert os.listdir(m.path("global/images")) == ["golden-1"]
    walk_stays_inside(m.mnt)


# ---- secrets and privilege -----------------------------------------------------------

class _Proxy(http.server.BaseHTTPRequestHandler):
    """HTTPS in front of the emulator: what clonefs would get were TLS not verified."""
    upstream = None

    def do_GET(self):
        req = urllib.request.Request(self.upstream + self.path)
        if self.headers.get("Authorization"):
            req.add_header("Authorization", self.headers["Authorization"])
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_https_is_verified(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seeds.inventory(3, 2))
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    _Proxy.upstream = f"http://127.0.0.1:{emu.port}"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{srv.server_address[1]}/compute/v1/"
        # the proxy works for a client that skips verification ...
        insecure = ssl._create_unverified_context()
        req = urllib.request.Request(url + "projects/demo-project/global/snapshots",
                                     headers={"Authorization": f"Bearer {emu.token}"})
        with urllib.request.urlopen(req, context=insecure, timeout=10) as r:
            assert len(json.loads(r.read())["items"]) == 3
        # ... and clonefs, which always verifies, refuses the self-signed certificate
        m = mount_factory(emu, endpoint=url, wait_sync=False)
        err = wait_for(lambda: m.status()["collections"]["zones"]["last_error"], 60,
                       "the first listing to fail")
        assert "certificate" in err.lower() or "ssl" in err.lower(), err
        assert m.status()["api_reachable"] is False
        assert os.listdir(m.path("global/snapshots")) == []
    finally:
        srv.shutdown()
        srv.server_close()


def test_plain_http_only_to_loopback(mount_factory):
    m = mount_factory(None, start=False, endpoint="http://192.0.2.10/compute/v1/")
    r = subprocess.run(m.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "loopback" in r.stderr and "endpoint" in r.stderr, r.stderr
    assert not os.path.ismount(m.mnt)


def mount_options(mnt):
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == str(mnt):
            sep = fields.index("-")
            return set(fields[5].split(",")) | set(fields[sep + 3].split(","))
    raise AssertionError(f"{mnt} not in mountinfo")


def test_default_permissions_and_allow_other_only_when_asked(clouds):
    # without default_permissions the policy decides every write (test_access.py)
    c, emu, m = clouds(2, 1)
    opts = mount_options(m.mnt)
    assert "default_permissions" not in opts and "allow_other" not in opts, opts
    m2 = clouds.remount(emu, m, opts=["allow_other", "default_permissions"],
                        cache=m.workdir / "cache2")
    opts = mount_options(m2.mnt)
    assert "default_permissions" in opts and "allow_other" in opts, opts


def test_health_command_runs_with_a_clean_environment(clouds, tmp_path):
    dump = tmp_path / "env.txt"
    check = tmp_path / "check"
    check.write_text(f"#!/bin/sh\nenv > {dump}\nexit 0\n")
    check.chmod(0o755)
    c, emu, m = clouds(4, 2, policy={"clone": {"consistency": "crash",
                                               "health_command": [str(check)]}},
                       env={"CLONEFS_PROBE_SECRET": "s3cr3t-probe", "HOME": "/root"})
    os.mkdir(m.path(c.disk_snapshots(0)) / "env-checked")
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert "s3cr3t-probe" not in dump.read_text()
    assert env["CLONEFS_SOURCE"].endswith(c.disk(0))
    # (and none of the daemon's AWS keys)
    assert not [k for k in env if k.startswith("AWS_")], sorted(env)
    assert set(env) <= {"PATH", "CLONEFS_SOURCE", "CLONEFS_SOURCE_JSON", "CLONEFS_CONSISTENCY",
                        "PWD", "SHLVL", "_", "OLDPWD"}, sorted(env)


# ---- issue 14: secrets, descriptors, sizes and labels from the API ---------------------

SECRET = "pw-0f9e8d7c-not-for-your-eyes"


def seed_with_secret_metadata():
    seed = seeds.inventory(4, 2)
    inst = seed[f"zones/{ZONE}/instances"][0]
    inst["metadata"] = {"kind": "compute#metadata", "fingerprint": "mXy8a6pYz0Q=", "items": [
        {"key": "DB_PASSWORD", "value": SECRET},
        {"key": "startup-script", "value": f"#!/bin/sh\necho {SECRET} > /etc/db.pw\n"}]}
    return seed, f"zones/{ZONE}/instances/{inst['name']}"


def test_instance_metadata_values_are_hidden_everywhere(emulator_factory, mount_factory,
                                                        tmp_path):
    """resource.json, the cache on disk and the health command's CLONEFS_SOURCE_JSON show
    an instance's metadata keys but never their values (item 7); the health command gets
    no descriptor of the daemon's above 2 (the cache's data.mdb, sockets)."""
    seed, inst = seed_with_secret_metadata()
    emu = emulator_factory(seed)
    st, doc = emu.api("GET", inst)        # the API itself holds and serves the value
    assert st == 200 and doc["metadata"]["items"][0]["value"] == SECRET
    dump, fds = tmp_path / "env.txt", tmp_path / "fds.txt"
    check = tmp_path / "check"
    check.write_text("#!/bin/sh\n"
                     f"env > {dump}\n"
                     f"exec find /proc/self/fd/ -mindepth 1 -printf '%f %l\\n' > {fds}\n")
    check.chmod(0o755)
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"clone": {"consistency": "crash",
                                         "health_command": [str(check)]}}))
    m = mount_factory(emu, opts=[f"policy={pol}"])
    shown = m.path(f"{inst}/resource.json").read_text()
    doc = json.loads(shown)
    assert SECRET not in shown
    assert [i["key"] for i in doc["metadata"]["items"]] == ["DB_PASSWORD", "startup-script"]
    assert all(i["value"] == "(hidden by clonefs)" for i in doc["metadata"]["items"])
    assert doc["metadata"]["fingerprint"] == "mXy8a6pYz0Q="
    assert os.stat(m.path(f"{inst}/resource.json")).st_size == len(shown.encode())
    # a machine image of it: the health command's JSON of the instance is the same
    os.mkdir(m.path(f"{inst}/clones/mi-secret-test"))
    text = dump.read_text()
    assert "CLONEFS_SOURCE_JSON=" in text and "DB_PASSWORD" in text and SECRET not in text
    # the command's descriptors: its own 0-2 and those find opens to walk /proc/self/fd;
    # nothing of the daemon's (data.mdb, lock.mdb, sockets, /dev/fuse)
    lines = [ln.split(" ", 1) for ln in fds.read_text().splitlines()]
    assert {fd for fd, _ in lines} >= {"0", "1", "2"}, lines
    theirs = [(fd, t) for fd, t in lines
              if int(fd) > 2 and t != "/" and not t.startswith("/proc/")]
    assert not theirs, lines
    # the machine image's copy of the instance's properties hides them too
    mi = m.path("global/machineImages/mi-secret-test/resource.json")
    wait_for(lambda: mi.exists(), 30, "the machine image in the mount")
    assert SECRET not in mi.read_text()
    m.stop()
    # nothing of it reached the cache on disk either
    for p in m.cache.rglob("*"):
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p


def test_sizes_past_int64_are_clamped_and_the_entry_still_pruned(emulator_factory,
                                                                  mount_factory, tmp_path):
    """diskSizeGb 17179869183 (2^64 - 2^30 bytes) or a storageBytes past int64 used to
    become a negative off_t: stat and ls -l failed with EIO and rmdir could not reach the
    entry. Every size is shown clamped to 1 EiB."""
    seed = seeds.inventory(4, 2)
    seed["global/snapshots"] += [
        {"name": "huge-1", "status": "READY", "diskSizeGb": "17179869183",
         "storageBytes": "9223372036854775807", "sourceDisk": seed["global/snapshots"][0]["sourceDisk"]},
        {"name": "huge-2", "status": "READY", "diskSizeGb": "8589934592",
         "storageBytes": "18446744073709551615"}]
    emu = emulator_factory(seed)
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"prune": {"grace_seconds": 0, "keep_last": 0}}))
    m = mount_factory(emu, opts=[f"policy={pol}"])
    for name in ("huge-1", "huge-2"):
        st = os.stat(m.path(f"global/snapshots/{name}"))
        assert st.st_size == 1 << 60, st
        assert st.st_blocks == (1 << 60) // 512, st
    r = subprocess.run(["ls", "-l", str(m.path("global/snapshots"))], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "huge-1" in r.stdout, r.stderr
    assert str(1 << 60) in r.stdout
    os.rmdir(m.path("global/snapshots/huge-1"))
    assert emu.api("GET", "global/snapshots/huge-1")[0] == 404
    assert "huge-1" not in os.listdir(m.path("global/snapshots"))


def test_international_labels_follow_the_api_rules(emulator_factory, mount_factory, tmp_path):
    """owner=jörg is a legal label: setfattr of another key, and rmdir in grace mode
    (which sets clonefs-delete-at), keep working on that resource. Only what the caller
    writes is judged, with the API's rules: lowercase international letters allowed,
    upper case refused, 63 characters (not bytes)."""
    seed = seeds.inventory(4, 2)
    seed["global/snapshots"][1]["labels"] = {"owner": "jörg", "tier": "bronze"}
    emu = emulator_factory(seed)
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"prune": {"grace_seconds": 3600, "keep_last": 0}}))
    m = mount_factory(emu, opts=[f"policy={pol}"])
    snap = m.path("global/snapshots/snap-00001")
    assert os.getxattr(snap, "user.owner") == "jörg".encode()
    os.setxattr(snap, "user.team", b"db")
    labels = emu.api("GET", "global/snapshots/snap-00001")[1]["labels"]
    assert labels == {"owner": "jörg", "tier": "bronze", "team": "db"}, labels
    # international values and keys from the caller, 63 characters of two bytes each
    os.setxattr(snap, "user.owner", "jürgen".encode())
    os.setxattr(snap, "user.été", "ö".encode() * 63)
    labels = emu.api("GET", "global/snapshots/snap-00001")[1]["labels"]
    assert labels["owner"] == "jürgen" and labels["été"] == "ö" * 63, labels
    assert os.getxattr(snap, "user.été") == "ö".encode() * 63
    for key, value in [("user.owner", "Jörg".encode()), ("user.owner", "jÖrg".encode()),
                       ("user.owner", "ö".encode() * 64), ("user.Été", b"x"),
                       ("user.owner", "a\u00a0b".encode())]:
        assert errno_of(lambda: os.setxattr(snap, key, value)) == errno.EINVAL, (key, value)
    assert emu.api("GET", "global/snapshots/snap-00001")[1]["labels"]["owner"] == "jürgen"
    # rmdir in grace mode labels it and keeps the international labels as they are
    os.setxattr(snap, "user.owner", "jörg".encode())
    os.rmdir(snap)
    snap_id = emu.api("GET", "global/snapshots/snap-00001")[1]["id"]
    labels = emu.api("GET", "global/snapshots/snap-00001")[1]["labels"]
    at, mid, rid = labels["clonefs-delete-at"].split("-")   # EPOCH-MOUNTID-ID
    assert int(at) > 0 and rid == snap_id and labels["owner"] == "jörg", labels
    assert "snap-00001" in os.listdir(m.path(".clonefs/trash/global/snapshots"))
