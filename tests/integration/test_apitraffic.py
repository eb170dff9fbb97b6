"""test_apitraffic.py — what a mount costs the API: after the first, complete
sync the passes ask only for what tells a change (partial responses) and
fetch whole only what changed, yet a label changed by another writer, a
status change, a new and a deleted resource all show within one pass; a full
reconciliation comes back every reconcile_interval; a 429 holds every
listing back together for the API's Retry-After, the next pass included."""
import json
import os
import re
import time
import urllib.request

import seeds
from harness import wait_for

ZONE = seeds.ZONES[0]


def control(emu, method, sub, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/{sub}", data=data,
                                 method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def metric(m, name, coll):
    text = (m.path(".clonefs/metrics")).read_text()
    pat = re.compile(r'^%s\{[^}]*collection="%s"[^}]*\} (\S+)$' % (name, coll), re.M)
    hit = pat.search(text)
    assert hit, f"{name} {coll} not in .clonefs/metrics"
    return float(hit.group(1))


def pages(m, coll):
    """(whole, compact, fetched) pages of a listing so far."""
    total = metric(m, "clonefs_sync_pages_total", coll)
    compact = metric(m, "clonefs_sync_compact_pages_total", coll)
    fetched = metric(m, "clonefs_sync_fetch_pages_total", coll)
    return total - compact - fetched, compact, fetched


def ok(emu, method, path, body=None):
    st, out = emu.api(method, path, body=body)
    assert st == 200, (method, path, st, out)
    return out


def test_compact_pass_shows_other_writers_changes(emulator_factory, mount_factory):
    emu = emulator_factory(seeds.inventory(40, 2))
    m = mount_factory(emu)  # sync_interval=1; reconcile_interval: the default hour
    wait_for(lambda: pages(m, "snapshots")[1] > 0 and pages(m, "instances")[1] > 0, 30,
             "a compact pass")
    whole0 = {c: pages(m, c)[0] for c in ("snapshots", "instances")}
    fetched0 = {c: pages(m, c)[2] for c in ("snapshots", "instances")}
    # another writer: a label (a new labelFingerprint) ...
    snap = "global/snapshots/snap-00007"
    doc = ok(emu, "GET", snap)
    labels = dict(doc.get("labels", {}), owner="other-host")
    emu.wait_operation(ok(emu, "POST", snap + "/setLabels",
                          {"labels": labels, "labelFingerprint": doc["labelFingerprint"]}))
    # ... a status (an instance stopped) ...
    emu.wait_operation(ok(emu, "POST", f"zones/{ZONE}/instances/db-0/stop"))
    # ... a new snapshot and a deleted one
    emu.wait_operation(ok(emu, "POST", f"zones/{ZONE}/disks/data-0/createSnapshot",
                          {"name": "snap-elsewhere"}))
    emu.wait_operation(ok(emu, "DELETE", "global/snapshots/snap-00011"))

    def shown():
        s = m.path(snap)
        return (os.getxattr(s, "user.owner") == b"other-host"
                and json.loads((s / "resource.json").read_text())["labels"]["owner"]
                == "other-host"
                and m.path(f"zones/{ZONE}/instances/db-0/status").read_text() == "TERMINATED\n"
                and "snap-elsewhere" in os.listdir(m.path("global/snapshots"))
                and m.path("global/snapshots/snap-elsewhere/status").read_text() == "READY\n"
                and "snap-00011" not in os.listdir(m.path("global/snapshots")))
    wait_for(shown, 15, "the other writer's changes")
    # shown by compact passes: no whole listing since, the changed ones fetched
    for c in ("snapshots", "instances"):
        assert pages(m, c)[0] == whole0[c], c
        assert pages(m, c)[2] > fetched0[c], c
    assert "compact pass" in m.stderr()


def test_full_reconciliation_comes_back(emulator_factory, mount_factory):
    emu = emulator_factory(seeds.inventory(20, 2))
    m = mount_factory(emu, opts=["reconcile_interval=3"])
    whole0, compact0, _ = pages(m, "snapshots")
    assert whole0 >= 1
    # compact passes, then a whole listing again once the interval is up
    wait_for(lambda: pages(m, "snapshots")[1] > compact0, 20, "a compact pass")
    wait_for(lambda: pages(m, "snapshots")[0] > whole0, 20, "a full reconciliation")
    assert "full reconciliation every 3 s" in m.stderr()


def test_a_429_holds_back_the_next_pass_for_retry_after(emulator_factory, mount_factory):
    emu = emulator_factory(seeds.inventory(10, 2))
    m = mount_factory(emu)
    path = "/compute/v1/projects/%s/global/snapshots" % emu.project
    body = json.dumps({"error": {"code": 429, "message": "Rate Limit Exceeded", "errors": [
        {"message": "Rate Limit Exceeded", "domain": "usageLimits",
         "reason": "rateLimitExceeded"}]}})
    key = "GET " + path

    def count(k=None):
        reqs = control(emu, "GET", "requests")["requests"]
        return reqs.get(k, 0) if k else sum(v for kk, v in reqs.items()
                                            if kk.startswith("GET /compute/"))
    n0 = count(key)
    # every try of the snapshots listing answered 429 (six tries): the listing fails,
    # the rest of the pass is skipped, and the next pass must wait the Retry-After too
    control(emu, "POST", "raw-override", {"method": "GET", "path": path, "status": 429,
                                          "body": body, "times": 6,
                                          "headers": {"Content-Type": "application/json",
                                                      "Retry-After": "4"}})
    wait_for(lambda: count(key) >= n0 + 6, 60, "six tries of the listing")
    t_last = time.monotonic()
    total = count()
    wait_for(lambda: count() > total, 30, "the next request", interval=0.05)
    gap = time.monotonic() - t_last
    assert gap >= 3.5, f"a request {gap:.2f} s after a 429 with Retry-After: 4"
    assert "listing snapshots failed, nothing removed: HTTP 429" in m.stderr()
    assert metric_total(m, "clonefs_api_backoff_waits_total") >= 1
    m.wait_synced(time.time(), timeout=60)


def metric_total(m, name):
    text = (m.path(".clonefs/metrics")).read_text()
    hit = re.search(r"^%s\{[^}]*\} (\S+)$" % name, text, re.M)
    assert hit, name
    return float(hit.group(1))


def test_a_write_through_the_mount_asks_for_its_own_resources_not_a_pass(emulator_factory,
                                                                          mount_factory,
                                                                          tmp_path):
    """mkdir, setfattr, rmdir and ln -s read back what they changed; none of them costs a
    listing pass (at 100,000 snapshots a pass is some 200 requests): with sync_interval an
    hour, the first sync stays the only pass while each change shows at once."""
    emu = emulator_factory(seeds.inventory(20, 2))
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({
        "clone": {"consistency": "crash", "max_per_source": 1000},
        "prune": {"grace_seconds": 0, "keep_last": 0, "min_age_seconds": 0},
        "restore": {"max_age_seconds": 0}}))
    m = mount_factory(emu, sync_interval=3600, opts=[f"policy={pol}"])
    passes = m.status()["passes"]
    made = m.path(f"zones/{ZONE}/disks/data-0/snapshots/made-here")
    os.mkdir(made)                                                  # a clone
    wait_for(lambda: (made / "status").read_text() == "READY\n", 30, "the clone READY")
    os.setxattr(made, "user.owner", b"me")                          # a label
    assert json.loads((made / "resource.json").read_text())["labels"]["owner"] == "me"
    disk = m.path(f"zones/{ZONE}/disks/made-back")
    os.symlink("../../../global/snapshots/made-here", disk)          # a restore
    wait_for(lambda: (disk / "status").exists() and (disk / "status").read_text()
             == "READY\n", 30, "the restored disk READY")
    os.rmdir(m.path("global/snapshots/snap-00003"))                # a prune
    assert "snap-00003" not in os.listdir(m.path("global/snapshots"))
    assert m.status()["passes"] == passes
