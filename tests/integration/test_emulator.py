"""Tests of scripts/gce-emulator alone, over HTTP with urllib / http.client.

Run: /usr/bin/python3 -m pytest tests/integration/test_emulator.py
"""

import base64
import http.client
import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from harness import EMULATOR_BUG_MARK, Emulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR = os.path.join(ROOT, "scripts", "gce-emulator")
P = "demo-project"
WWW = "https://www.googleapis.com/compute/v1/projects/%s/" % P
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
UUID1 = "123e4567-e89b-42d3-a456-426614174001"
UUID2 = "123e4567-e89b-42d3-a456-426614174002"
UUID3 = "123e4567-e89b-42d3-a456-426614174003"

SEED = {
    "zones/us-central1-a/disks": [
        {"name": "d1", "sizeGb": "10"},
        {"name": "d2", "sizeGb": "100", "labels": {"owner": "bob"}},
        {"name": "data-9", "sizeGb": "50"},
    ],
    "zones/us-central1-a/instances": [
        {"name": "vm1", "disks": [{"source": "zones/us-central1-a/disks/d1", "boot": True}]},
        {"name": "vm-flaky", "labels": {"emulator-flush-fails": "true"},
         "disks": [{"source": "zones/us-central1-a/disks/d2", "boot": False}]},
    ],
    "zones/europe-west1-b/disks": [{"name": "e1", "sizeGb": "20"}],
    "regions/us-east1/disks": [{"name": "r1", "sizeGb": "200"}],
    "global/snapshots": [
        {"name": "s-alpha", "sourceDisk": "zones/us-central1-a/disks/d1",
         "labels": {"owner": "alice", "tier": "gold"}, "storageBytes": "1048576",
         "creationTimestamp": "2024-05-01T10:20:30.123-07:00"},
        {"name": "s-beta", "labels": {"owner": "bob"}, "status": "UPLOADING",
         "creationTimestamp": "2024-05-02T10:20:30.123-07:00"},
        {"name": "s-gamma", "sourceDisk": WWW + "zones/us-central1-a/disks/gone",
         "creationTimestamp": "2024-05-03T10:20:30.123-07:00"},
        "not-an-object",
        {"name": "bad/name"},
        {"name": "s-wrongtypes", "labels": "oops", "storageBytes": 12},
    ],
    "global/images": [{"name": "img-a", "sourceSnapshot": "global/snapshots/s-alpha"}],
    "global/machineImages": [{"name": "mi-a"}],
}


# --------------------------------------------------------------------------- harness

class Emu:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.root = "http://127.0.0.1:%d" % port
        self.base = self.root + "/compute/v1/projects/%s/" % P

    def call(self, method, path, query=None, body=None, token="t", raw=False, headers=None):
        """-> (status, headers, parsed JSON or raw bytes).  path is relative to the project
        unless it starts with '/'."""
        url = (self.root + path) if path.startswith("/") else (self.base + path)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, hdrs, payload = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, payload = e.code, e.headers, e.read()
        return status, hdrs, (payload if raw else json.loads(payload))

    def get(self, path, **query):
        return self.call("GET", path, query=query or None)

    def ok(self, method, path, query=None, body=None):
        st, _, d = self.call(method, path, query=query, body=body)
        assert st == 200, d
        return d

    def control(self, method, sub, body=None):
        return self.call(method, "/emulator/v1/" + sub, body=body, token=None)

    def wait_op(self, op):
        scope = "global"
        if "zone" in op:
            scope = "zones/" + op["zone"].rsplit("/", 1)[1]
        elif "region" in op:
            scope = "regions/" + op["region"].rsplit("/", 1)[1]
        return self.ok("POST", "%s/operations/%s/wait" % (scope, op["name"]))


def start(*args, tmp=None, seed=None):
    argv = [sys.executable, EMULATOR, "--port", "0"] + list(args)
    if seed is not None:
        path = os.path.join(str(tmp), "seed-%d.json" % time.monotonic_ns())
        with open(path, "w") as f:
            json.dump(seed, f)
        argv += ["--seed", path]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        r, _, _ = select.select([proc.stdout], [], [], 0.1)
        if r:
            ch = os.read(proc.stdout.fileno(), 1)
            if not ch:
                break
            line += ch
    m = re.match(rb"^listening on http://127\.0\.0\.1:(\d+)/compute/v1/\n$", line)
    if not m:
        proc.kill()
        raise AssertionError("emulator did not start: %r %r" % (line, proc.stderr.read()))
    e = Emu(proc, int(m.group(1)))
    LIVE.append(e)
    return e


def stop(emu):
    """Stop it; an emulator that hit a bug of its own fails the test."""
    LIVE.remove(emu)
    emu.proc.kill()
    emu.proc.wait(timeout=10)
    emu.proc.stdout.close()
    err = emu.proc.stderr.read().decode(errors="replace")
    emu.proc.stderr.close()
    assert EMULATOR_BUG_MARK not in err, err[err.index(EMULATOR_BUG_MARK):][:4000]


LIVE = []   # emulators started and not yet stopped


def internal_errors(e):
    st, _, d = e.control("GET", "internal-errors")
    assert st == 200, d
    return d["count"]


@pytest.fixture(autouse=True)
def no_emulator_bug():
    """A bug a test made a shared (module) emulator hit fails that test, not the
    last one of the module; a test's own emulators are checked by stop()."""
    before = {id(e): internal_errors(e) for e in LIVE}
    yield
    after = {id(e): internal_errors(e) for e in LIVE if id(e) in before}
    assert all(after[k] == before[k] for k in after), "the emulator hit a bug of its own"


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    e = start("--op-seconds", "0.2", "--random-seed", "1", tmp=tmp_path_factory.mktemp("seed"),
              seed=SEED)
    yield e
    stop(e)


@pytest.fixture(scope="module")
def gen():
    e = start("--generate-snapshots", "1234", "--generate-epoch", "1700000000")
    yield e
    stop(e)


@pytest.fixture
def fresh(tmp_path):
    """A private emulator for tests that change global switches."""
    e = start("--op-seconds", "0.1", "--random-seed", "7", tmp=tmp_path, seed=SEED)
    yield e
    stop(e)


def list_all(emu, path, **query):
    names, tok, pages = [], None, 0
    while True:
        q = dict(query)
        if tok:
            q["pageToken"] = tok
        d = emu.ok("GET", path, query=q)
        pages += 1
        names += [i["name"] for i in d.get("items", [])]
        tok = d.get("nextPageToken")
        if not tok:
            return names, pages


# --------------------------------------------------------------------------- reads

def test_pagination_across_pages(gen):
    names, pages = list_all(gen, "global/snapshots", maxResults=500)
    assert pages == 3
    assert names == ["snap-%06d" % i for i in range(1234)]
    d = gen.ok("GET", "global/snapshots", query={"maxResults": 500})
    assert d["kind"] == "compute#snapshotList"
    assert d["id"] == "projects/%s/global/snapshots" % P
    assert d["selfLink"] == WWW + "global/snapshots"
    assert len(d["items"]) == 500 and "nextPageToken" in d
    # small pages, default page size, and the last page has no token
    names7, pages7 = list_all(gen, "global/snapshots", maxResults=7, filter='labels.owner = "dave"')
    assert pages7 == -(-len(names7) // 7)
    assert names7 == ["snap-%06d" % i for i in range(1234) if i % 4 == 3 and i % 10 != 9]
    d = gen.ok("GET", "global/snapshots")
    assert len(d["items"]) == 500


def test_generated_inventory_shape(gen):
    s = gen.ok("GET", "global/snapshots/snap-000001")
    t = gen.ok("GET", "global/snapshots/snap-000002")
    assert s["labels"] == {"owner": "bob", "tier": "silver"}
    # spaced 60 s apart, newest = --generate-epoch
    from datetime import datetime
    ts = lambda x: datetime.fromisoformat(x["creationTimestamp"]).timestamp()
    assert ts(t) - ts(s) == 60
    last = gen.ok("GET", "global/snapshots/snap-001233")
    assert ts(last) == 1700000000
    # every sourceDisk exists and its id is sourceDiskId
    for snap in (s, t, last):
        path = snap["sourceDisk"].split("/projects/%s/" % P, 1)[1]
        disk = gen.ok("GET", path)
        assert disk["id"] == snap["sourceDiskId"]
        assert disk["sizeGb"] == snap["diskSizeGb"]
    assert "labels" not in gen.ok("GET", "global/snapshots/snap-000009")
    zones = gen.ok("GET", "zones")
    assert sorted(z["name"] for z in zones["items"]) == ["europe-west1-b", "us-central1-a"]


def test_invalid_list_parameters(emu):
    for q in ({"maxResults": "501"}, {"maxResults": "-1"}, {"maxResults": "x"},
              {"pageToken": "garbage"}, {"pageToken": "AAAAAAAAAAAAAAAAAAAAAAAA"},
              {"orderBy": "labels"}, {"orderBy": "name desc"},
              {"filter": "name ="}, {"filter": "(name = \"x\""}, {"filter": "= x"}):
        st, h, d = emu.call("GET", "global/snapshots", query=q)
        assert st == 400, q
        assert h["Content-Type"] == "application/json; charset=UTF-8"
        assert d["error"]["code"] == 400
        assert d["error"]["errors"][0]["reason"] == "invalid"
        assert d["error"]["errors"][0]["domain"] == "global"
        assert d["error"]["message"].startswith("Invalid value for field '%s'" % next(iter(q)))
    for q in ({"maxResults": "0"}, {"maxResults": "500"}, {"returnPartialSuccess": "true"}):
        assert emu.call("GET", "global/snapshots", query=q)[0] == 200


def test_page_token_is_bound_to_the_query(gen):
    d = gen.ok("GET", "global/snapshots", query={"maxResults": 2})
    st, _, e = gen.call("GET", "global/snapshots",
                        query={"maxResults": 2, "pageToken": d["nextPageToken"],
                               "orderBy": "creationTimestamp desc"})
    assert st == 400 and e["error"]["errors"][0]["reason"] == "invalid"
    tok = d["nextPageToken"]
    garbled = tok[:-2] + ("A" if tok[-2] != "A" else "B") + tok[-1]
    assert gen.call("GET", "global/snapshots", query={"pageToken": garbled})[0] == 400


def test_filters(emu):
    def names(f):
        return [i["name"] for i in emu.ok("GET", "global/snapshots", query={"filter": f}).get("items", [])]

    assert names('name = "s-alpha"') == ["s-alpha"]
    assert "s-alpha" not in names('name != "s-alpha"') and "s-beta" in names('name != "s-alpha"')
    assert names('labels.owner = "bob"') == ["s-beta"]
    assert names("status = UPLOADING") == ["s-beta"]
    assert names('(labels.owner = "alice") (labels.tier = "gold")') == ["s-alpha"]
    assert names('labels.owner = "alice" AND labels.tier = "silver"') == []
    assert names('(labels.owner = "alice") OR (labels.owner = "bob")') == ["s-alpha", "s-beta"]
    assert names("labels.tier:*") == ["s-alpha"]
    assert names("name eq s-(alpha|beta)") == ["s-alpha", "s-beta"]
    assert names('name ne "s-.*"') == ["bad/name"]
    assert names('creationTimestamp > "2024-05-01T20:00:00Z" creationTimestamp < "2025-01-01T00:00:00Z"') \
        == ["s-beta", "s-gamma"]
    # the same on a zonal collection
    d = emu.ok("GET", "zones/us-central1-a/disks", query={"filter": 'labels.owner = "bob"'})
    assert [i["name"] for i in d["items"]] == ["d2"]
    # an empty result has no items and no token
    d = emu.ok("GET", "global/snapshots", query={"filter": 'name = "nope"'})
    assert "items" not in d and "nextPageToken" not in d and d["kind"] == "compute#snapshotList"
    # mixing the regexp and AIP-160 dialects is refused
    assert emu.call("GET", "global/snapshots",
                    query={"filter": '(name eq s-a.*) (status = READY)'})[0] == 400


def test_order_by(gen, emu):
    d = gen.ok("GET", "global/snapshots", query={"orderBy": "creationTimestamp desc", "maxResults": 3})
    assert [i["name"] for i in d["items"]] == ["snap-001233", "snap-001232", "snap-001231"]
    names, pages = list_all(gen, "global/snapshots", orderBy="creationTimestamp desc", maxResults=500)
    assert pages == 3 and names == ["snap-%06d" % i for i in reversed(range(1234))]
    d = emu.ok("GET", "global/snapshots", query={"orderBy": "name"})
    got = [i["name"] for i in d["items"] if isinstance(i, dict)]
    assert got == sorted(got)


def test_error_envelopes(emu):
    st, h, d = emu.call("GET", "global/snapshots/nope")
    assert st == 404
    assert h["Content-Type"] == "application/json; charset=UTF-8"
    msg = "The resource 'projects/%s/global/snapshots/nope' was not found" % P
    assert d == {"error": {"code": 404, "message": msg,
                           "errors": [{"message": msg, "domain": "global", "reason": "notFound"}]}}
    st, _, d = emu.call("GET", "zones/us-central1-a/disks/nope")
    assert st == 404 and "zones/us-central1-a/disks/nope" in d["error"]["message"]
    st, _, d = emu.call("GET", "/compute/v1/projects/other-project/global/snapshots")
    assert st == 404 and d["error"]["errors"][0]["reason"] == "notFound"
    assert d["error"]["message"] == "The resource 'projects/other-project' was not found"
    st, _, d = emu.call("GET", "global/frobnicators")
    assert st == 404 and d["error"]["code"] == 404
    st, _, d = emu.call("GET", "zones/mars-north1-a/disks")
    assert st == 400 and d["error"]["errors"][0]["reason"] == "invalid"
    assert emu.call("GET", "/nothing/here")[0] == 404


def test_aggregated_shape(emu):
    d = emu.ok("GET", "aggregated/disks")
    assert d["kind"] == "compute#diskAggregatedList"
    assert d["id"] == "projects/%s/aggregated/disks" % P
    assert d["selfLink"] == WWW + "aggregated/disks"
    items = d["items"]
    assert set(items) == {"zones/us-central1-a", "zones/europe-west1-b", "regions/us-central1",
                          "regions/europe-west1", "regions/us-east1"}
    assert [x["name"] for x in items["zones/us-central1-a"]["disks"]] == ["d1", "d2", "data-9"]
    assert [x["name"] for x in items["regions/us-east1"]["disks"]] == ["r1"]
    w = items["regions/us-central1"]
    assert "disks" not in w
    assert w["warning"]["code"] == "NO_RESULTS_ON_PAGE"
    assert w["warning"]["data"] == [{"key": "scope", "value": "regions/us-central1"}]
    assert "regions/us-central1" in w["warning"]["message"]
    inst = emu.ok("GET", "aggregated/instances")
    assert inst["kind"] == "compute#instanceAggregatedList"
    assert set(inst["items"]) == {"zones/us-central1-a", "zones/europe-west1-b"}
    assert inst["items"]["zones/europe-west1-b"]["warning"]["code"] == "NO_RESULTS_ON_PAGE"
    # paging across scopes: every scope appears on every page
    seen, tok = [], None
    while True:
        q = {"maxResults": 2}
        if tok:
            q["pageToken"] = tok
        page = emu.ok("GET", "aggregated/disks", query=q)
        assert set(page["items"]) == set(items)
        seen += [x["name"] for v in page["items"].values() for x in v.get("disks", [])]
        tok = page.get("nextPageToken")
        if not tok:
            break
    assert sorted(seen) == ["d1", "d2", "data-9", "e1", "r1"]
    d = emu.ok("GET", "aggregated/disks", query={"filter": 'name = "e1"'})
    assert [x["name"] for x in d["items"]["zones/europe-west1-b"]["disks"]] == ["e1"]
    assert d["items"]["zones/us-central1-a"]["warning"]["code"] == "NO_RESULTS_ON_PAGE"


def test_int64_fields_are_strings(emu, gen):
    s = gen.ok("GET", "global/snapshots/snap-000003")
    for f in ("id", "diskSizeGb", "storageBytes", "sourceDiskId"):
        assert isinstance(s[f], str) and s[f].isdigit(), f
    d = emu.ok("GET", "zones/us-central1-a/disks/d1")
    assert isinstance(d["id"], str) and isinstance(d["sizeGb"], str)
    raw = emu.call("GET", "global/snapshots/s-alpha", raw=True)[2]
    assert b'"storageBytes":"1048576"' in raw
    z = emu.ok("GET", "zones/us-central1-a")
    assert isinstance(z["id"], str) and z["id"].isdigit()


def test_seed_filling(emu):
    s = emu.ok("GET", "global/snapshots/s-alpha")
    assert s["kind"] == "compute#snapshot"
    assert s["id"].isdigit() and 0 < int(s["id"]) < 2 ** 64
    assert s["selfLink"] == WWW + "global/snapshots/s-alpha"
    assert s["status"] == "READY"
    assert s["creationTimestamp"] == "2024-05-01T10:20:30.123-07:00"
    assert len(base64.b64decode(s["labelFingerprint"], validate=True)) == 8
    d1 = emu.ok("GET", "zones/us-central1-a/disks/d1")
    assert s["sourceDiskId"] == d1["id"]
    assert d1["zone"] == WWW + "zones/us-central1-a"
    assert d1["status"] == "READY" and d1["kind"] == "compute#disk"
    assert TS_RE.match(d1["creationTimestamp"])
    assert d1["users"] == [WWW + "zones/us-central1-a/instances/vm1"]
    assert emu.ok("GET", "zones/us-central1-a/instances/vm1")["status"] == "RUNNING"
    r1 = emu.ok("GET", "regions/us-east1/disks/r1")
    assert r1["region"] == WWW + "regions/us-east1"
    # seeded values are kept, even odd ones; a source that does not exist gets no id
    assert emu.ok("GET", "global/snapshots/s-beta")["status"] == "UPLOADING"
    assert "sourceDiskId" not in emu.ok("GET", "global/snapshots/s-gamma")
    odd = emu.ok("GET", "global/snapshots/s-wrongtypes")
    assert odd["labels"] == "oops" and odd["storageBytes"] == 12
    assert "labelFingerprint" not in odd
    items = emu.ok("GET", "global/snapshots")["items"]
    assert "not-an-object" in items
    slash = [i for i in items if isinstance(i, dict) and i.get("name") == "bad/name"]
    assert len(slash) == 1 and slash[0]["kind"] == "compute#snapshot"
    img = emu.ok("GET", "global/images/img-a")
    assert img["sourceSnapshotId"] == s["id"] and img["kind"] == "compute#image"
    assert emu.ok("GET", "global/machineImages/mi-a")["kind"] == "compute#machineImage"
    # zones and regions derived from the seed's paths
    z = emu.ok("GET", "zones/europe-west1-b")
    assert z["kind"] == "compute#zone" and z["region"] == WWW + "regions/europe-west1"
    r = emu.ok("GET", "regions/us-central1")
    assert r["zones"] == [WWW + "zones/us-central1-a"]
    assert emu.ok("GET", "regions")["kind"] == "compute#regionList"


def test_seed_explicit_zones_and_other_projects(tmp_path):
    seed = {"zones": [{"name": "us-west1-b", "status": "DOWN"}],
            "regions/us-west1/disks": [{"name": "rd", "sizeGb": "30"}],
            "projects/other-proj/global/snapshots": [{"name": "o1"}]}
    e = start(tmp=tmp_path, seed=seed)
    try:
        z = e.ok("GET", "zones/us-west1-b")
        assert z["status"] == "DOWN" and z["region"] == WWW + "regions/us-west1"
        assert e.ok("GET", "regions/us-west1")["zones"] == [WWW + "zones/us-west1-b"]
        o1 = e.ok("GET", "/compute/v1/projects/other-proj/global/snapshots/o1")
        assert o1["selfLink"] == "https://www.googleapis.com/compute/v1/projects/other-proj/global/snapshots/o1"
        assert e.call("GET", "global/snapshots/o1")[0] == 404
    finally:
        stop(e)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"global/frobs": []}))
    r = subprocess.run([sys.executable, EMULATOR, "--seed", str(path)], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"unknown collection" in r.stderr


def test_fields_partial_response(emu):
    d = emu.ok("GET", "zones/us-central1-a/disks",
               query={"fields": "items(name,labels),nextPageToken"})
    assert d == {"items": [{"name": "d1"}, {"name": "d2", "labels": {"owner": "bob"}},
                           {"name": "data-9"}]}
    # an expression with an error is 400 "Invalid field selection" (the partial
    # response reference), never a full answer the caller did not ask for
    st, _, d = emu.call("GET", "zones/us-central1-a/disks/d1", query={"fields": "items(("})
    assert st == 400 and "Invalid field selection" in d["error"]["message"], d
    # `*` stands for every scope of an aggregated list; a/b inside a sub-selector
    d = emu.ok("GET", "aggregated/disks",
               query={"fields": "items/*/disks(name,labels/owner),nextPageToken"})
    assert d["items"]["zones/us-central1-a"]["disks"][1] == {"name": "d2",
                                                             "labels": {"owner": "bob"}}


def test_gzip_when_the_user_agent_says_so(emu):
    """Google's performance tips: a gzip answer for Accept-Encoding: gzip and a
    User-Agent containing "gzip", not for either alone."""
    import gzip
    for ua, zipped in (("clonefs/1 (gzip)", True), ("clonefs/1", False)):
        st, h, raw = emu.call("GET", "global/snapshots", raw=True,
                              headers={"Accept-Encoding": "gzip", "User-Agent": ua})
        assert st == 200 and (h.get("Content-Encoding") == "gzip") == zipped, ua
        body = json.loads(gzip.decompress(raw) if zipped else raw)
        assert body["kind"] == "compute#snapshotList"


def test_auth(emu, tmp_path):
    st, h, d = emu.call("GET", "global/snapshots", token=None)
    assert st == 401
    assert d["error"]["code"] == 401 and d["error"]["errors"][0]["reason"] == "required"
    assert d["error"]["errors"][0]["domain"] == "global"
    assert "WWW-Authenticate" in h
    st, _, d = emu.call("GET", "global/snapshots", token="")
    assert st == 401 and d["error"]["errors"][0]["reason"] == "authError"
    assert emu.call("GET", "global/snapshots", token="anything")[0] == 200
    e = start("--token", "s3cret", tmp=tmp_path, seed=SEED)
    try:
        st, _, d = e.call("GET", "global/snapshots", token="wrong")
        assert st == 401 and d["error"]["errors"][0]["reason"] == "authError"
        st, _, d = e.call("GET", "global/snapshots", token=None)
        assert st == 401 and d["error"]["errors"][0]["reason"] == "required"
        assert e.call("GET", "global/snapshots", token="s3cret")[0] == 200
    finally:
        stop(e)


def test_keep_alive_and_content_length(gen):
    c = http.client.HTTPConnection("127.0.0.1", gen.port, timeout=10)
    try:
        socks = set()
        for path in ("global/snapshots?maxResults=500", "global/snapshots/nope", "zones"):
            c.request("GET", "/compute/v1/projects/%s/%s" % (P, path),
                      headers={"Authorization": "Bearer t"})
            r = c.getresponse()
            body = r.read()
            assert int(r.headers["Content-Length"]) == len(body)
            assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
            json.loads(body)
            socks.add(id(c.sock))
        assert len(socks) == 1
    finally:
        c.close()


# --------------------------------------------------------------------------- writes

def test_create_snapshot_operation_lifecycle(emu):
    op = emu.ok("POST", "zones/us-central1-a/disks/d2/createSnapshot",
                query={"guestFlush": "false"},
                body={"name": "snap-new-1", "labels": {"made-by": "test"}, "description": "x"})
    assert op["kind"] == "compute#operation"
    assert op["operationType"] == "createSnapshot"
    assert op["status"] in ("PENDING", "RUNNING")
    assert op["targetLink"] == WWW + "zones/us-central1-a/disks/d2"
    assert op["zone"] == WWW + "zones/us-central1-a"
    assert op["selfLink"] == WWW + "zones/us-central1-a/operations/" + op["name"]
    assert re.match(r"^operation-\d{13}-[0-9a-f]+", op["name"])
    assert isinstance(op["id"], str) and isinstance(op["targetId"], str)
    assert op["targetId"] == emu.ok("GET", "zones/us-central1-a/disks/d2")["id"]
    assert TS_RE.match(op["insertTime"]) and op["user"]
    s = emu.ok("GET", "global/snapshots/snap-new-1")
    assert s["status"] in ("CREATING", "UPLOADING")
    assert s["sourceDisk"] == WWW + "zones/us-central1-a/disks/d2"
    done = emu.wait_op(op)
    assert done["status"] == "DONE" and done["progress"] == 100 and "error" not in done
    assert TS_RE.match(done["startTime"]) and TS_RE.match(done["endTime"])
    s = emu.ok("GET", "global/snapshots/snap-new-1")
    assert s["status"] == "READY"
    assert s["diskSizeGb"] == "100"
    assert 0 < int(s["storageBytes"]) <= 100 * 2 ** 30
    assert s["labels"] == {"made-by": "test"} and s["description"] == "x"
    assert s["sourceDiskId"] == op["targetId"]
    got = emu.ok("GET", "zones/us-central1-a/operations/" + op["name"])
    assert got["status"] == "DONE"
    lst = emu.ok("GET", "zones/us-central1-a/operations",
                 query={"filter": 'targetLink = "%s"' % op["targetLink"]})
    assert op["name"] in [o["name"] for o in lst["items"]]
    assert lst["kind"] == "compute#operationList"
    agg = emu.ok("GET", "aggregated/operations")
    assert op["name"] in [o["name"] for o in agg["items"]["zones/us-central1-a"]["operations"]]


def test_request_id_idempotency(emu):
    q = {"requestId": UUID1}
    a = emu.ok("POST", "zones/us-central1-a/disks/d1/createSnapshot", query=q, body={"name": "snap-idem"})
    b = emu.ok("POST", "zones/us-central1-a/disks/d1/createSnapshot", query=q, body={"name": "snap-idem"})
    assert a["name"] == b["name"] and a["id"] == b["id"]
    names = [i["name"] for i in emu.ok("GET", "global/snapshots", query={"filter": 'name = "snap-idem"'})["items"]]
    assert names == ["snap-idem"]
    emu.wait_op(a)
    c = emu.ok("POST", "zones/us-central1-a/disks/d1/createSnapshot", query=q, body={"name": "snap-idem"})
    assert c["name"] == a["name"] and c["status"] == "DONE"
    # a new requestId for the same name is a new request: 409
    st, _, d = emu.call("POST", "zones/us-central1-a/disks/d1/createSnapshot",
                        query={"requestId": UUID2}, body={"name": "snap-idem"})
    assert st == 409 and d["error"]["errors"][0]["reason"] == "alreadyExists"
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        st, _, d = emu.call("POST", "zones/us-central1-a/disks/d1/createSnapshot",
                            query={"requestId": bad}, body={"name": "snap-idem-2"})
        assert st == 400 and d["error"]["errors"][0]["reason"] == "invalid"


def test_create_errors(emu):
    st, _, d = emu.call("POST", "zones/us-central1-a/disks/d1/createSnapshot", body={"name": "s-alpha"})
    assert st == 409
    assert d["error"]["message"] == "The resource 'projects/%s/global/snapshots/s-alpha' already exists" % P
    for name in ("Upper", "-x", "a" * 64, "under_score"):
        st, _, d = emu.call("POST", "zones/us-central1-a/disks/d1/createSnapshot", body={"name": name})
        assert st == 400 and d["error"]["errors"][0]["reason"] == "invalid", name
    st, _, d = emu.call("POST", "zones/us-central1-a/disks/d1/createSnapshot", body={})
    assert st == 400 and d["error"]["errors"][0]["reason"] == "required"
    st, _, d = emu.call("POST", "zones/us-central1-a/disks/nope/createSnapshot", body={"name": "zz"})
    assert st == 404
    assert d["error"]["message"] == "The resource 'projects/%s/zones/us-central1-a/disks/nope' was not found" % P
    st, _, d = emu.call("POST", "zones/us-central1-a/disks/d1/createSnapshot",
                        body={"name": "lbl", "labels": {"Bad": "x"}})
    assert st == 400 and d["error"]["errors"][0]["reason"] == "invalid"
    assert emu.call("GET", "global/snapshots/lbl")[0] == 404


def test_snapshots_insert_and_delete(emu):
    op = emu.ok("POST", "global/snapshots", body={"name": "snap-ins", "sourceDisk": WWW + "regions/us-east1/disks/r1"})
    assert op["operationType"] == "insert" and "zone" not in op and "region" not in op
    assert op["targetLink"] == WWW + "global/snapshots/snap-ins"
    assert op["selfLink"] == WWW + "global/operations/" + op["name"]
    st, _, d = emu.call("DELETE", "global/snapshots/snap-ins")
    assert st == 400 and d["error"]["errors"][0]["reason"] == "resourceNotReady"
    emu.wait_op(op)
    s = emu.ok("GET", "global/snapshots/snap-ins")
    assert s["status"] == "READY" and s["diskSizeGb"] == "200"
    st, _, d = emu.call("POST", "global/snapshots", body={"name": "snap-ins2"})
    assert st == 400 and d["error"]["errors"][0]["reason"] == "required"
    dop = emu.ok("DELETE", "global/snapshots/snap-ins", query={"requestId": UUID3})
    assert dop["operationType"] == "delete" and dop["targetId"] == s["id"]
    assert emu.ok("GET", "global/snapshots/snap-ins")["status"] == "DELETING"
    emu.wait_op(dop)
    assert emu.call("GET", "global/snapshots/snap-ins")[0] == 404
    again = emu.ok("DELETE", "global/snapshots/snap-ins", query={"requestId": UUID3})
    assert again["name"] == dop["name"]
    assert emu.call("DELETE", "global/snapshots/snap-ins")[0] == 404


def test_delete_snapshot_used_by_image(emu):
    st, _, d = emu.call("DELETE", "global/snapshots/s-alpha")
    assert st == 400
    err = d["error"]["errors"][0]
    assert err["reason"] == "resourceInUseByAnotherResource"
    assert "projects/%s/global/images/img-a" % P in err["message"]
    assert emu.ok("GET", "global/snapshots/s-alpha")["status"] == "READY"


def test_images_insert_delete(emu):
    st, _, d = emu.call("POST", "global/images", body={"name": "img-live", "sourceDisk": "zones/us-central1-a/disks/d1"})
    assert st == 400 and d["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    op = emu.ok("POST", "global/images", query={"forceCreate": "true"},
                body={"name": "img-live", "sourceDisk": "zones/us-central1-a/disks/d1", "family": "fam"})
    assert emu.ok("GET", "global/images/img-live")["status"] == "PENDING"
    emu.wait_op(op)
    img = emu.ok("GET", "global/images/img-live")
    assert img["status"] == "READY" and img["family"] == "fam"
    assert img["sourceDiskId"] == emu.ok("GET", "zones/us-central1-a/disks/d1")["id"]
    assert isinstance(img["archiveSizeBytes"], str) and img["diskSizeGb"] == "10"
    op2 = emu.ok("POST", "global/images", body={"name": "img-from-img", "sourceImage": "global/images/img-live"})
    emu.wait_op(op2)
    assert emu.ok("GET", "global/images/img-from-img")["sourceImageId"] == img["id"]
    emu.wait_op(emu.ok("DELETE", "global/images/img-from-img"))
    assert emu.call("GET", "global/images/img-from-img")[0] == 404
    st, _, d = emu.call("POST", "global/images", body={"name": "img-nosrc"})
    assert st == 400


def test_machine_image_insert_delete(emu):
    op = emu.ok("POST", "global/machineImages",
                query={"sourceInstance": "zones/us-central1-a/instances/vm1"},
                body={"name": "mi-vm1", "labels": {"k": "v"}})
    assert op["targetLink"] == WWW + "global/machineImages/mi-vm1"
    assert emu.ok("GET", "global/machineImages/mi-vm1")["status"] == "CREATING"
    emu.wait_op(op)
    mi = emu.ok("GET", "global/machineImages/mi-vm1")
    assert mi["status"] == "READY"
    assert mi["sourceInstance"] == WWW + "zones/us-central1-a/instances/vm1"
    assert [sd["sourceDisk"] for sd in mi["savedDisks"]] == ["zones/us-central1-a/disks/d1"]
    assert int(mi["totalStorageBytes"]) > 0 and mi["labels"] == {"k": "v"}
    # sourceInstance in the body works too; an unknown instance is 404
    op = emu.ok("POST", "global/machineImages",
                body={"name": "mi-vm1-b", "sourceInstance": WWW + "zones/us-central1-a/instances/vm1"})
    emu.wait_op(op)
    st, _, d = emu.call("POST", "global/machineImages",
                        query={"sourceInstance": "zones/us-central1-a/instances/ghost"}, body={"name": "mi-x"})
    assert st == 404
    dop = emu.ok("DELETE", "global/machineImages/mi-vm1-b")
    emu.wait_op(dop)
    assert emu.call("GET", "global/machineImages/mi-vm1-b")[0] == 404


def test_guest_flush_failure(emu):
    op = emu.ok("POST", "zones/us-central1-a/disks/d2/createSnapshot",
                query={"guestFlush": "true"}, body={"name": "snap-flush"})
    done = emu.wait_op(op)
    assert done["status"] == "DONE"
    assert done["error"]["errors"][0]["code"] == "GUEST_FLUSH_FAILED"
    assert emu.call("GET", "global/snapshots/snap-flush")[0] == 404
    # a disk whose instance lacks the label flushes fine
    ok = emu.wait_op(emu.ok("POST", "zones/us-central1-a/disks/d1/createSnapshot",
                            query={"guestFlush": "true"}, body={"name": "snap-flush-ok"}))
    assert "error" not in ok
    assert emu.ok("GET", "global/snapshots/snap-flush-ok")["status"] == "READY"


def test_stop_start_instance(fresh):
    op = fresh.ok("POST", "zones/us-central1-a/instances/vm1/stop")
    assert op["operationType"] == "stop" and op["zone"] == WWW + "zones/us-central1-a"
    assert fresh.ok("GET", "zones/us-central1-a/instances/vm1")["status"] == "STOPPING"
    fresh.wait_op(op)
    vm = fresh.ok("GET", "zones/us-central1-a/instances/vm1")
    assert vm["status"] == "TERMINATED" and TS_RE.match(vm["lastStopTimestamp"])
    # a snapshot of a disk whose instance is stopped is allowed
    fresh.wait_op(fresh.ok("POST", "zones/us-central1-a/disks/d1/createSnapshot", body={"name": "cold"}))
    assert fresh.ok("GET", "global/snapshots/cold")["status"] == "READY"
    op = fresh.ok("POST", "zones/us-central1-a/instances/vm1/start")
    assert fresh.ok("GET", "zones/us-central1-a/instances/vm1")["status"] == "STAGING"
    fresh.wait_op(op)
    assert fresh.ok("GET", "zones/us-central1-a/instances/vm1")["status"] == "RUNNING"
    assert fresh.call("POST", "zones/us-central1-a/instances/ghost/stop")[0] == 404


def test_set_labels_fingerprints(emu):
    targets = ["global/snapshots/s-beta", "global/images/img-a", "global/machineImages/mi-a",
               "zones/us-central1-a/disks/data-9", "regions/us-east1/disks/r1",
               "zones/us-central1-a/instances/vm1"]
    for path in targets:
        cur = emu.ok("GET", path)
        fp = cur["labelFingerprint"]
        st, _, d = emu.call("POST", path + "/setLabels", body={"labels": {"a": "1"}, "labelFingerprint": "c3RhbGUxMjM="})
        assert st == 412, path
        err = d["error"]["errors"][0]
        assert err["reason"] == "conditionNotMet"
        assert d["error"]["message"] == "Labels fingerprint either invalid or resource labels have changed"
        st, _, d = emu.call("POST", path + "/setLabels", body={"labels": {"a": "1"}})
        assert st == 412
        op = emu.ok("POST", path + "/setLabels", body={"labels": {"a": "1", "b": ""}, "labelFingerprint": fp})
        assert op["operationType"] == "setLabels" and op["targetLink"] == cur["selfLink"]
        if path.startswith("zones/"):
            assert op["zone"] == WWW + "zones/us-central1-a"
        elif path.startswith("regions/"):
            assert op["region"] == WWW + "regions/us-east1"
        else:
            assert "zone" not in op and "region" not in op
        emu.wait_op(op)
        new = emu.ok("GET", path)
        assert new["labels"] == {"a": "1", "b": ""}
        assert new["labelFingerprint"] != fp
        assert len(base64.b64decode(new["labelFingerprint"])) == 8
        # the old fingerprint is stale now
        st, _, _ = emu.call("POST", path + "/setLabels", body={"labels": {}, "labelFingerprint": fp})
        assert st == 412
    st, _, d = emu.call("POST", "global/snapshots/s-beta/setLabels",
                        body={"labels": {"UPPER": "x"},
                              "labelFingerprint": emu.ok("GET", "global/snapshots/s-beta")["labelFingerprint"]})
    assert st == 400 and d["error"]["errors"][0]["reason"] == "invalid"
    assert emu.call("POST", "global/snapshots/ghost/setLabels", body={"labels": {}})[0] == 404


def test_wait_is_bounded_and_returns_done(fresh):
    fresh.ok("POST", "/emulator/v1/faults", body={"opSeconds": 30})
    op = fresh.ok("POST", "zones/us-central1-a/disks/d1/createSnapshot", body={"name": "slow-one"})
    assert fresh.ok("GET", "global/snapshots/slow-one")["status"] == "CREATING"
    fresh.control("POST", "clock", {"advanceSeconds": 31})
    t = time.monotonic()
    done = fresh.wait_op(op)
    assert done["status"] == "DONE" and time.monotonic() - t < 5
    assert fresh.ok("GET", "global/snapshots/slow-one")["status"] == "READY"


# --------------------------------------------------------------------------- faults and control

def test_fail_rate(fresh):
    fresh.control("POST", "faults", {"failRate": 1})
    seen = set()
    for _ in range(12):
        st, h, d = fresh.call("GET", "global/snapshots")
        assert st in (503, 429)
        assert h["Retry-After"] == "1"
        assert d["error"]["errors"][0]["reason"] == {503: "backendError", 429: "rateLimitExceeded"}[st]
        seen.add(st)
    assert seen == {503, 429}
    fresh.control("POST", "faults", {"failRate": 0})
    assert fresh.call("GET", "global/snapshots")[0] == 200


def test_fail_rate_flag_is_seedable(tmp_path):
    def run():
        e = start("--fail-rate", "0.5", "--random-seed", "42", tmp=tmp_path, seed=SEED)
        try:
            return [e.call("GET", "zones")[0] for _ in range(20)]
        finally:
            stop(e)
    a = run()
    assert a == run()
    assert 200 in a and any(s in (429, 503) for s in a)


def test_drop_and_garbage(fresh):
    fresh.control("POST", "faults", {"dropRate": 1})
    c = http.client.HTTPConnection("127.0.0.1", fresh.port, timeout=10)
    c.request("GET", "/compute/v1/projects/%s/global/snapshots" % P, headers={"Authorization": "Bearer t"})
    r = c.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    c.close()
    fresh.control("POST", "faults", {"dropRate": 0, "garbageRate": 1})
    st, _, raw = fresh.call("GET", "global/snapshots", raw=True)
    assert st == 200
    with pytest.raises(ValueError):
        json.loads(raw)
    fresh.control("POST", "faults", {"garbageRate": 0})
    assert fresh.call("GET", "global/snapshots")[0] == 200


def test_op_error_rate_and_conflict_rate(fresh):
    fresh.control("POST", "faults", {"opErrorRate": 1})
    done = fresh.wait_op(fresh.ok("POST", "zones/us-central1-a/disks/d1/createSnapshot", body={"name": "doomed"}))
    assert done["error"]["errors"][0]["code"]
    assert fresh.call("GET", "global/snapshots/doomed")[0] == 404
    fresh.control("POST", "faults", {"opErrorRate": 0, "conflictRate": 1})
    fp = fresh.ok("GET", "global/snapshots/s-beta")["labelFingerprint"]
    st, _, _ = fresh.call("POST", "global/snapshots/s-beta/setLabels", body={"labels": {}, "labelFingerprint": fp})
    assert st == 412


def test_stale_page_token_and_slow_responses(fresh):
    fresh.control("POST", "faults", {"pageTokenTtl": 5})
    d = fresh.ok("GET", "global/snapshots", query={"maxResults": 1})
    assert fresh.call("GET", "global/snapshots",
                      query={"maxResults": 1, "pageToken": d["nextPageToken"]})[0] == 200
    fresh.control("POST", "clock", {"advanceSeconds": 10})
    st, _, e = fresh.call("GET", "global/snapshots", query={"maxResults": 1, "pageToken": d["nextPageToken"]})
    assert st == 400 and e["error"]["errors"][0]["reason"] == "invalid"
    fresh.control("POST", "faults", {"pageTokenTtl": None, "slowRate": 1, "slowSeconds": 0.3})
    t = time.monotonic()
    assert fresh.call("GET", "zones")[0] == 200
    assert time.monotonic() - t >= 0.3
    st, _, f = fresh.control("GET", "faults")
    assert f["slowRate"] == 1 and f["pageTokenTtl"] is None


def test_raw_override_and_resources(fresh):
    fresh.control("POST", "raw-override", {"path": "global/snapshots", "body": '{"items": [', "times": 1})
    st, _, raw = fresh.call("GET", "global/snapshots", raw=True)
    assert st == 200 and raw == b'{"items": ['
    assert fresh.call("GET", "global/snapshots")[0] == 200
    st, _, d = fresh.control("POST", "resources/global/snapshots",
                             {"name": "injected", "sourceDisk": "zones/us-central1-a/disks/d1"})
    assert st == 200
    s = fresh.ok("GET", "global/snapshots/injected")
    assert s["sourceDiskId"] == fresh.ok("GET", "zones/us-central1-a/disks/d1")["id"]
    assert s["selfLink"] == WWW + "global/snapshots/injected"
    # a resource in a zone nobody mentioned yet adds the zone
    fresh.control("POST", "resources/zones/asia-east1-c/disks", {"name": "far", "sizeGb": "1"})
    assert fresh.ok("GET", "zones/asia-east1-c/disks/far")["zone"] == WWW + "zones/asia-east1-c"
    assert fresh.control("DELETE", "resources/global/snapshots/injected")[0] == 200
    assert fresh.call("GET", "global/snapshots/injected")[0] == 404
    st, _, stats = fresh.control("GET", "requests")
    assert stats["requests"]["GET /compute/v1/projects/%s/global/snapshots" % P] == 2
    assert stats["bytesServed"] > 0


PLANTED = """
import sys
sys.path.insert(0, %r)
from gce_emulator import api
from gce_emulator.cli import main
real = api.Api.handle
def handle(self, method, path, *rest):
    if method == "GET" and path.endswith("/global/images"):
        raise KeyError("a planted bug")
    return real(self, method, path, *rest)
api.Api.handle = handle
sys.exit(main())
"""


def test_an_emulator_bug_answers_500_and_fails_the_test(tmp_path):
    """An exception of the emulator's own is answered with a 500 (which clonefs would retry
    as a flaky cloud) and fails the test that hit it when the harness stops the emulator;
    the faults it injects on purpose (5xx, 429, dropped and garbled answers, raw overrides)
    do not."""
    prog = tmp_path / "planted.py"
    prog.write_text(PLANTED % os.path.join(ROOT, "scripts"))
    bug = Emulator(tmp_path, seed=SEED, token=None, program=prog).start()
    clean = Emulator(tmp_path, seed=SEED, token=None).start()
    try:
        _faults_and_a_bug(bug, clean)
    except BaseException:
        bug.stop(check=False)
        clean.stop(check=False)
        raise
    clean.stop()
    with pytest.raises(AssertionError) as failed:
        bug.stop()
    assert "a planted bug" in str(failed.value) and "Traceback" in str(failed.value)
    bug.stop()   # reported once


def _faults_and_a_bug(bug, clean):
    for e in (bug, clean):
        root = Emu(e.proc, e.port)
        # deliberate faults, every kind
        assert root.control("POST", "raw-override", {"path": "global/snapshots", "status": 500,
                                                     "body": "{}", "times": 1})[0] == 200
        assert root.call("GET", "global/snapshots", raw=True)[0] == 500
        root.control("POST", "faults", {"failRate": 1})
        assert {root.call("GET", "zones")[0] for _ in range(8)} <= {503, 429}
        root.control("POST", "faults", {"failRate": 0, "garbageRate": 1})
        assert root.call("GET", "zones", raw=True)[0] == 200
        root.control("POST", "faults", {"garbageRate": 0, "dropRate": 1})
        c = http.client.HTTPConnection("127.0.0.1", e.port, timeout=10)
        c.request("GET", "/compute/v1/projects/%s/zones" % P,
                  headers={"Authorization": "Bearer t"})
        with pytest.raises(http.client.IncompleteRead):
            c.getresponse().read()
        c.close()
        root.control("POST", "faults", {"dropRate": 0, "opErrorRate": 1})
        op = root.ok("POST", "zones/us-central1-a/disks/d1/createSnapshot",
                     body={"name": "doomed"})
        assert root.wait_op(op)["error"]["errors"][0]["code"]
        root.control("POST", "faults", {"opErrorRate": 0})
        assert internal_errors(root) == 0
    # the planted bug: a 500 like any server's, and the emulator keeps serving
    root = Emu(bug.proc, bug.port)
    st, _, d = root.call("GET", "global/images")
    assert st == 500 and d["error"]["errors"][0]["reason"] == "backendError"
    assert "Internal error in gce-emulator" in d["error"]["message"]
    assert root.call("GET", "global/snapshots")[0] == 200
    assert internal_errors(root) == 1


def test_list_100k_snapshots_is_fast():
    e = start("--generate-snapshots", "100000")
    try:
        c = http.client.HTTPConnection("127.0.0.1", e.port, timeout=30)
        t = time.monotonic()
        n, tok, pages = 0, None, 0
        while True:
            q = "maxResults=500" + ("&pageToken=" + urllib.parse.quote(tok) if tok else "")
            c.request("GET", "/compute/v1/projects/%s/global/snapshots?%s" % (P, q),
                      headers={"Authorization": "Bearer t"})
            d = json.loads(c.getresponse().read())
            n += len(d["items"])
            pages += 1
            tok = d.get("nextPageToken")
            if not tok:
                break
        took = time.monotonic() - t
        c.close()
        assert (n, pages) == (100000, 200)
        assert took < 10, took
    finally:
        stop(e)
