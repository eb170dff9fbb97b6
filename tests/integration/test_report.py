"""test_report.py — .clonefs/report.html and .clonefs/report.json (issue 19).

A seeded mount with known ages, owners, bytes, lineage and two hostile label values; its
report is opened straight from the mount (file://) in headless Chromium, which trusts
st_size, and the DOM it built is checked: every section, the histogram's bars against the
seed, the hostile values shown as text and never as elements. report.json must give the
seed's numbers. The screenshot goes to build/test/report.png for people to look at.
"""
import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

import seeds
from harness import ROOT

ZONE = seeds.ZONES[0]
GIB = 1 << 30
DAY = 86400
HOSTILE1 = "<script>alert(1)</script>"
HOSTILE2 = '"><svg onload=alert(2)>'
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# name, source disk, age in days, owner (None: no owner label), stored GiB, more labels
SNAPSHOTS = [
    ("a-0", "d-a", 1, "team-a", 1, {"team": "blue"}),
    ("a-1", "d-a", 3, "team-a", 2, {"team": "blue"}),
    ("a-2", "d-a", 10, "team-a", 3, {"team": "blue"}),
    ("a-3", "d-a", 40, "team-a", 4, {"team": "blue"}),  # the restored disk's origin: in use
    ("a-4", "d-a", 100, "team-a", 5, {"team": "blue", "keep": "yes"}),  # protected
    ("a-5", "d-a", 400, "team-a", 6, {"team": "blue"}),  # the test prunes it: in the trash
    ("b-0", "d-b", 2, HOSTILE1, 7, {}),
    ("b-1", "d-b", 20, HOSTILE2, 8, {}),
    ("b-2", "d-b", 200, None, 9, {}),  # unlabeled
    ("b-3", "d-b", 800, "team-b", 10, {}),
    ("r-0", "restored", 5, "team-a", 1, {}),  # a snapshot of a restored disk: depth 2
]
MACHINE_IMAGE = ("mi-0", 50, "team-a", 2)
POLICY = {"prune": {"min_age_seconds": 30 * DAY, "keep_last": 2, "grace_seconds": 3600},
          "clone": {"max_depth": 1, "max_per_source": 3},
          "labels": {"required": ["owner"]},
          "report": {"group_by": "team"},
          "restore": {"max_age_seconds": 90 * DAY}}
BOUNDS = [7 * DAY, 30 * DAY, 365 * DAY]
BUCKETS = ["days", "weeks", "months", "older"]


def bucket(age_days):
    s = age_days * DAY
    for i, b in enumerate(BOUNDS):
        if s < b:
            return i
    return 3


def report_seed(project="demo-project"):
    now = seeds.NOW
    link = lambda p: seeds.link(project, p)  # noqa: E731
    ago = lambda d: seeds.rfc3339(now - dt.timedelta(days=d))  # noqa: E731
    disks = [{"name": n, "sizeGb": "10", "status": "READY", "creationTimestamp": ago(500),
              "labels": {"owner": o}} for n, o in (("d-a", "team-a"), ("d-b", "team-b"))]
    disks.append({"name": "restored", "sizeGb": "10", "status": "READY",
                  "creationTimestamp": ago(30), "labels": {"owner": "team-a"},
                  "sourceSnapshot": link("global/snapshots/a-3")})
    seed = {f"zones/{ZONE}/disks": disks}
    seed[f"zones/{ZONE}/instances"] = [{
        "name": "vm-0", "status": "RUNNING", "labels": {"owner": "team-a"},
        "creationTimestamp": ago(500),
        "disks": [{"source": link(f"zones/{ZONE}/disks/d-a"), "boot": True}]}]
    snaps = []
    for name, disk, age, owner, gib, more in SNAPSHOTS:
        labels = dict(more)
        if owner is not None:
            labels["owner"] = owner
        snaps.append({"name": name, "status": "READY", "creationTimestamp": ago(age),
                      "diskSizeGb": "10", "storageBytes": str(gib * GIB),
                      "sourceDisk": link(f"zones/{ZONE}/disks/{disk}"), "labels": labels})
    seed["global/snapshots"] = snaps
    seed["global/images"] = []
    name, age, owner, gib = MACHINE_IMAGE
    seed["global/machineImages"] = [{
        "name": name, "status": "READY", "creationTimestamp": ago(age),
        "sourceInstance": link(f"zones/{ZONE}/instances/vm-0"),
        "totalStorageBytes": str(gib * GIB), "labels": {"owner": owner}}]
    return seed


def expected_ages():
    """{owner: [count per bucket]} of the copies outside the trash (a-5 is pruned)."""
    ages = {}
    rows = [(a, o) for n, _, a, o, _, _ in SNAPSHOTS if n != "a-5"]
    rows.append((MACHINE_IMAGE[1], MACHINE_IMAGE[2]))
    for age, owner in rows:
        ages.setdefault(owner, [0, 0, 0, 0])[bucket(age)] += 1
    return ages


def expected_spend():
    """{owner: stored bytes}: every copy, the trash's included."""
    spend = {}
    for _, _, _, owner, gib, _ in SNAPSHOTS:
        spend[owner] = spend.get(owner, 0) + gib * GIB
    spend[MACHINE_IMAGE[2]] += MACHINE_IMAGE[3] * GIB
    return spend


class Dom(HTMLParser):
    """The elements (tag, attributes) and the text of a document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag=None, **attrs):
        return [a for t, a in self.elements if (tag is None or t == tag) and
                all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def chromium(args, tmp_path, timeout=90):
    """Run headless Chromium (as root it needs --no-sandbox) with a profile of its own."""
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    env = dict(os.environ, HOME=profile)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    # its own process group: on a timeout the whole browser (zygote, GPU and renderer
    # processes included) is killed, not just the process we started
    proc = subprocess.Popen(cmd + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def reported(emulator_factory, mount_factory, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    emu = emulator_factory(report_seed())
    m = mount_factory(emu, opts=[f"policy={policy}"])
    # one entry in the trash, for the Health section
    os.rmdir(m.path("global/snapshots/a-5"))
    return m


def test_report_size_is_true_before_the_first_open(reported):
    m = reported
    for name in ("report.html", "report.json"):
        p = m.path(f".clonefs/{name}")
        size = os.stat(p).st_size
        data = p.read_bytes()
        assert size > 0 and size == len(data), (name, size, len(data))
    # stat stays that of the text open serves; shutil.copy (fstat, then sendfile of st_size
    # bytes) gets it whole
    assert os.stat(m.path(".clonefs/report.html")).st_size == \
        len(m.path(".clonefs/report.html").read_bytes())
    shutil.copy(m.path(".clonefs/report.json"), m.workdir / "report.json")
    assert json.loads((m.workdir / "report.json").read_text())["project"] == m.emu.project
    # the policy never changes while mounted: its stat is true before any open too
    assert os.stat(m.path(".clonefs/policy")).st_size == \
        len(m.path(".clonefs/policy").read_bytes())


def test_report_json_gives_the_seeds_numbers(reported):
    j = json.loads(reported.path(".clonefs/report.json").read_text())
    assert j["age"]["buckets"] == BUCKETS
    ages = {r["name"]: r["ages"] for r in j["age"]["by_owner"]["rows"]}
    assert ages == expected_ages()
    assert j["age"]["total"] == [sum(v[i] for v in expected_ages().values()) for i in range(4)]
    assert j["age"]["lines"] == [{"key": "prune.min_age_seconds", "seconds": 30 * DAY},
                                 {"key": "restore.max_age_seconds", "seconds": 90 * DAY}]

    spend = {r["name"]: r["stored_bytes"] for r in j["spend"]["by_owner"]["rows"]}
    for owner, b in expected_spend().items():
        assert spend[owner] == b, owner
    assert j["spend"]["group_by"] == "team"
    blue = [r for r in j["spend"]["by_group"]["rows"] if r["name"] == "blue"]
    assert blue and blue[0]["stored_bytes"] == 21 * GIB and blue[0]["count"] == 6
    top = {r["name"]: r["stored_bytes"] for r in j["spend"]["top_sources"]["rows"]}
    assert top[f"zones/{ZONE}/disks/d-b"] == (7 + 8 + 9 + 10) * GIB

    # the dry run: b-2 and b-3 are past min_age, beyond keep_last, not protected and
    # nothing was made from them; a-3 has the restored disk (in use), a-4 the keep label,
    # mi-0 is its instance's newest (keep_last), the rest are younger than 30 days
    t = j["would_prune"]["total"]
    assert (t["copies"], t["prunable"], t["prunable_bytes"]) == (11, 2, 19 * GIB)
    assert t["kept"] == {"protected": 1, "min_age": 6, "keep_last": 1, "in_use": 1}
    db = [s for s in j["would_prune"]["sources"] if s["source"] == f"zones/{ZONE}/disks/d-b"]
    assert db[0]["prunable"] == 2 and db[0]["copies"] == 4

    lin = j["lineage"]
    assert lin["over_max_depth"] == 1  # r-0: a snapshot of a disk restored from a snapshot
    assert lin["at_max_per_source"] == 2  # d-a (5 outside the trash) and d-b (4), max 3
    assert lin["by_depth"][:3] == [3, 12, 1]
    r0 = [n for n in lin["tree"] if n.get("path") == "global/snapshots/r-0"]
    assert r0 and r0[0]["depth"] == 2 and r0[0]["over_max_depth"] and r0[0]["level"] == 3

    assert j["unlabeled"]["count"] == 1
    assert [p["path"] for p in j["unlabeled"]["paths"]] == ["global/snapshots/b-2"]

    tr = j["health"]["trash"]
    assert tr["count"] == 1 and tr["stored_bytes"] == 6 * GIB
    e = tr["entries"][0]
    assert e["path"] == "global/snapshots/a-5" and e["ours"]
    assert 0 < e["delete_at"] - j["generated"] <= 3600
    assert all(v["last_complete"] for v in j["health"]["listings"].values())
    assert j["health"]["api_reachable"] is True
    assert j["health"]["http"]["requests"] > 0 and j["health"]["http"]["failures"] == 0
    assert j["health"]["breaker"] == {"deletions_last_minute": 1, "max_per_minute": 30}


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium (scripts/install-deps)")
def test_report_in_headless_chromium(reported, tmp_path):
    m = reported
    url = "file://" + str(m.path(".clonefs/report.html"))
    r = chromium(["--dump-dom", url], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = Dom()
    dom.feed(r.stdout)
    text = "".join(dom.text)

    # the whole page arrived (Chromium reads st_size bytes): every section, to the end
    for sid in ("age", "spend", "prune", "lineage", "unlabeled", "health"):
        assert dom.find("section", id=sid), f"section {sid} missing"
    assert dom.find("table", id="trash-table"), "the page was cut short"

    # the histogram's bars: one per (bucket, owner), their counts the seed's
    got = {}
    for a in dom.find("rect", **{"class": "bar"}):
        owner = None if a.get("data-none") else a["data-owner"]
        got.setdefault(owner, [0, 0, 0, 0])[BUCKETS.index(a["data-bucket"])] += \
            int(a["data-count"])
    assert got == expected_ages()
    totals = {a["data-bucket"]: int(a["data-count"]) for a in dom.find("g", **{"class": "bucket"})}
    assert totals == {b: sum(v[i] for v in expected_ages().values())
                      for i, b in enumerate(BUCKETS)}
    assert dom.find("g", data_key="prune.min_age_seconds", data_seconds=str(30 * DAY))
    assert dom.find("g", data_key="restore.max_age_seconds", data_seconds=str(90 * DAY))
    assert dom.find(id="prune-count")[0]["data-count"] == "2"
    assert dom.find(id="unlabeled-count")[0]["data-count"] == "1"
    assert dom.find(id="trash-count")[0]["data-count"] == "1"

    # the hostile label values are text, never markup: one script (the page's sorter), no
    # element with an event handler, both values shown as written
    assert len(dom.find("script")) == 1
    handlers = [(t, a) for t, a in dom.elements if any(k.startswith("on") for k in a)]
    assert not handlers, handlers
    assert HOSTILE1 in text and HOSTILE2 in text
    assert HOSTILE2 in {a.get("data-owner") for a in dom.find("rect")}

    # the page's one script is the one its Content-Security-Policy lets run (by hash)
    page = m.path(".clonefs/report.html").read_text()
    csp = re.search(r"script-src 'sha256-([A-Za-z0-9+/=]+)'", page).group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    assert base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() == csp

    shot = ROOT / "build" / "test" / "report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    r = chromium([f"--screenshot={shot}", "--window-size=1200,3150", "--hide-scrollbars", url],
                 tmp_path)
    assert r.returncode == 0 and shot.stat().st_size > 10000, r.stderr[-2000:]


def test_report_json_agrees_with_the_inventory(emulator_factory, mount_factory, tmp_path):
    """At 400 snapshots, the figures against .clonefs/inventory.jsonl, read from the same
    cache: spend by owner and by report.group_by, ages by owner, the unlabeled count and
    the lists cut at 20 with the rest counted."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"labels": {"required": ["app"]},
                                  "report": {"group_by": "tier"}}))
    emu = emulator_factory(seeds.inventory(400, 6))
    m = mount_factory(emu, opts=[f"policy={policy}"])
    j = json.loads(m.path(".clonefs/report.json").read_text())
    inv = [json.loads(line) for line in
           m.path(".clonefs/inventory.jsonl").read_text().splitlines()]
    now = j["generated"]

    du = lambda b: -(-b // 512) * 512  # noqa: E731  (st_blocks: 512-byte blocks, rounded up)

    def sums(key):
        out = {}
        for r in inv:
            k = r["labels"].get(key)
            out[k] = out.get(k, 0) + du(r["stored_bytes"])
        return out
    rows = lambda lst: {r["name"]: r["stored_bytes"] for r in lst["rows"]}  # noqa: E731
    assert rows(j["spend"]["by_owner"]) == sums("owner")
    assert rows(j["spend"]["by_group"]) == sums("tier")
    assert j["totals"]["resources"] == len(inv)
    assert j["totals"]["stored_bytes"] == sum(du(r["stored_bytes"]) for r in inv)

    ages = {}
    for r in inv:
        if r["kind"] in ("snapshot", "image", "machineImage"):
            t = dt.datetime.strptime(r["created"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=dt.timezone.utc).timestamp()
            ages.setdefault(r["labels"].get("owner"), [0, 0, 0, 0])[
                bucket(max(0, now - t) / DAY)] += 1
    assert {r["name"]: r["ages"] for r in j["age"]["by_owner"]["rows"]} == ages

    missing = [r for r in inv if "app" not in r["labels"]]
    u = j["unlabeled"]
    assert u["count"] == len(missing) > 20
    assert len(u["paths"]) == 20 and u["more"] == len(missing) - 20
    assert {p["path"] for p in u["paths"]} <= {r["path"] for r in missing}
    src = j["spend"]["top_sources"]
    assert len(src["rows"]) + src["more"] == len({r["source"] for r in inv
                                                  if r["kind"] != "disk" and
                                                  r["kind"] != "instance"})
    stored = [r["stored_bytes"] for r in src["rows"]]
    assert stored == sorted(stored, reverse=True)


def test_report_on_a_read_only_mount(emulator_factory, mount_factory):
    """-o ro: no engine, so no breaker nor reaper; the report is there all the same."""
    emu = emulator_factory(report_seed())
    m = mount_factory(emu, opts=["ro"])
    j = json.loads(m.path(".clonefs/report.json").read_text())
    assert j["health"]["read_only"] is True and "breaker" not in j["health"]
    assert j["would_prune"]["total"]["copies"] == 12  # nothing pruned: a-5 is a copy too
    page = m.path(".clonefs/report.html").read_text()
    assert "the mount is read-only" in page and page.rstrip().endswith("</html>")
