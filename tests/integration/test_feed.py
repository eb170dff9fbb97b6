"""test_feed.py — the change feed (-o feed=): two mounts of one emulator
project, one writing, the other watching through a Cloud Asset Inventory
feed on a Pub/Sub subscription with a long sync interval. A create, a label
and a delete show on the watcher within 2 s, without a listing; duplicate
and out-of-order messages do not overwrite newer records; a message applied
but not acknowledged before the watcher is killed comes again after the
restart and is acknowledged once; a deleted subscription says so and falls
back to polling; a message held past its ack deadline keeps its hold
(modifyAckDeadline) and is not delivered again; a lagging feed is behind and
polls at sync_interval until a message comes in time; .clonefs/metrics
carries the feed's counters, and .clonefs/status's feed block the same ones;
applying the feed's changes asks the compute API nothing."""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import seeds
from harness import CLONEFS, EMULATOR, ROOT, wait_for

ZONE = seeds.ZONES[0]
DISK = f"zones/{ZONE}/disks/data-0"
SUB = "projects/demo-project/subscriptions/watcher"
FRESH = 2.0   # the target: a change on one mount shows on the others within this


def pubsub(emu, method, path, body=None):
    """Call the emulator's Pub/Sub at /v1/<path>."""
    url = emu.url.replace("compute/v1/", "v1/") + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {emu.token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def control(emu, method, path, body=None):
    url = emu.url.replace("compute/v1/", "emulator/v1/") + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def faults(emu, **kw):
    control(emu, "POST", "faults", kw)


@pytest.fixture
def fleet(emulator_factory, mount_factory, tmp_path):
    """An emulator publishing a feed, a writer (polling) and a watcher (the feed,
    sync_interval long enough that a listing never explains what it sees)."""
    def make(watcher_sync=600, extra=()):
        emu = emulator_factory(seeds.inventory(6, 2), args=["--feed", SUB])
        writer = mount_factory(emu, cache=tmp_path / "cache-writer",
                               opts=[f"policy={tmp_path / 'policy.json'}"])
        wo = watcher_opts(emu, tmp_path, watcher_sync)
        wo["opts"] += list(extra)
        watcher = mount_factory(emu, **wo)
        return emu, writer, watcher
    (tmp_path / "policy.json").write_text(json.dumps({"prune": {"grace_seconds": 0, "keep_last": 0}}))
    return make


def watcher_opts(emu, tmp_path, sync):
    return {"cache": tmp_path / "cache-watcher", "sync_interval": sync,
            "opts": [f"feed={SUB}", "pubsub_endpoint=" + emu.url.replace("compute/v1/", ""),
                     "feed_full_interval=3600"]}


def feed_status(m):
    return m.status()["feed"]


def feed_metrics(m):
    """The clonefs_feed_* series of .clonefs/metrics: {'name' or 'name{state="x"}': value}."""
    out = {}
    for line in m.path(".clonefs/metrics").read_text().splitlines():
        if not line.startswith("clonefs_feed_"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        state = [kv.split("=", 1)[1].strip('"') for kv in labels.rstrip("}").split(",")
                 if kv.startswith("state=")]
        out[f'{name}{{state="{state[0]}"}}' if state else name] = float(value)
    return out


def feed_state_metric(m):
    """Which of feed / behind / polling .clonefs/metrics says is 1 (exactly one)."""
    fm = feed_metrics(m)
    on = [s for s in ("feed", "behind", "polling")
          if fm[f'clonefs_feed_state{{state="{s}"}}'] == 1]
    assert len(on) == 1, fm
    return on[0]


# .clonefs/status's feed block against .clonefs/metrics: the same counters
STATUS_METRICS = {"messages": "clonefs_feed_messages_total",
                  "applied": "clonefs_feed_applied_total",
                  "stale": "clonefs_feed_stale_total",
                  "ignored": "clonefs_feed_ignored_total",
                  "acknowledged": "clonefs_feed_acknowledged_total",
                  "ack_failures": "clonefs_feed_ack_failures_total",
                  "hold_extensions": "clonefs_feed_hold_extensions_total",
                  "hold_extension_failures": "clonefs_feed_hold_extension_failures_total",
                  "pulls": "clonefs_feed_pulls_total",
                  "pull_failures": "clonefs_feed_pull_failures_total"}


def status_agrees_with_metrics(m):
    """Every counter of the feed's status block lies between the same series read just
    before and just after it (they only grow); returns the status block."""
    before = feed_metrics(m)
    fs = feed_status(m)
    after = feed_metrics(m)
    for key, series in STATUS_METRICS.items():
        assert key in fs, (key, fs)
        assert before[series] <= fs[key] <= after[series], (key, before[series], fs[key],
                                                            after[series])
    lag = fs["lag_ms"] / 1000
    assert min(before["clonefs_feed_lag_seconds"], after["clonefs_feed_lag_seconds"]) - 0.001 \
        <= lag <= max(before["clonefs_feed_lag_seconds"], after["clonefs_feed_lag_seconds"]) \
        + 0.001, (fs, before, after)
    return fs


def new_messages(emu, before):
    """The emulator's per-message stats of messages published since `before` (a set of ids)."""
    msgs = control(emu, "GET", "pubsub")["subscriptions"][SUB]["messages"]
    return {mid: s for mid, s in msgs.items() if mid not in before}


def seen_within(pred, what, limit=FRESH):
    """Wait for pred on the watcher; the time it took must be within limit."""
    t0 = time.monotonic()
    wait_for(pred, 20, what)
    took = time.monotonic() - t0
    assert took <= limit, f"{what}: took {took:.2f}s, target {limit}s"
    return took


def xattr(m, rel, key):
    try:
        return os.getxattr(m.path(rel), key).decode()
    except OSError:
        return None


def set_labels_api(emu, path, labels):
    st, doc = emu.api("GET", path)
    assert st == 200, doc
    st, op = emu.api("POST", path + "/setLabels",
                     {"labels": labels, "labelFingerprint": doc["labelFingerprint"]})
    assert st == 200, op


def test_create_label_delete_show_within_two_seconds_without_a_listing(fleet):
    emu, writer, watcher = fleet()
    passes = watcher.status()["passes"]
    requests = watcher.status()["http"]["requests"]
    snap = "global/snapshots/fresh"
    assert not os.path.exists(watcher.path(snap))    # and the kernel remembers that

    os.mkdir(writer.path(f"{DISK}/snapshots/fresh"))
    seen_within(lambda: os.path.isdir(watcher.path(snap)), "the new snapshot on the watcher")
    # its later status (CREATING -> READY) comes the same way
    wait_for(lambda: watcher.path(snap + "/status").read_text().strip() == "READY", 10,
             "READY on the watcher")

    os.setxattr(writer.path(snap), "user.env", b"prod")
    seen_within(lambda: xattr(watcher, snap, "user.env") == "prod", "the label on the watcher")

    # a delete made elsewhere (the console), seen once the cloud deleted it
    st, op = emu.api("DELETE", snap)
    assert st == 200, op
    emu.wait_operation(op)
    seen_within(lambda: not os.path.exists(watcher.path(snap)), "the deletion on the watcher")

    fs = feed_status(watcher)
    assert fs["state"] == "ok", fs
    assert fs["applied"] >= 4 and fs["errors"] == 0, fs
    # each message carries the resource whole: applying it asks the compute API nothing
    # (no fetch, no listing; the fleet bench's ~100 requests a window were a safety-net pass)
    assert watcher.status()["http"]["requests"] == requests, watcher.status()["http"]
    assert watcher.status()["passes"] == passes, "a listing ran: the test proves nothing"

    # the same counts in .clonefs/metrics, with the state and the lag
    wait_for(lambda: feed_metrics(watcher)["clonefs_feed_acknowledged_total"] >= fs["applied"],
             10, "every stored change acknowledged")
    fm = feed_metrics(watcher)
    assert fm["clonefs_feed_messages_total"] >= fs["messages"] >= 4, fm
    assert fm["clonefs_feed_applied_total"] >= fs["applied"], fm
    assert fm["clonefs_feed_stale_total"] >= fs["stale"], fm
    assert fm["clonefs_feed_messages_total"] >= (fm["clonefs_feed_applied_total"]
                                                 + fm["clonefs_feed_stale_total"]), fm
    assert fm["clonefs_feed_pulls_total"] >= 1, fm
    for zero in ("clonefs_feed_ack_failures_total", "clonefs_feed_pull_failures_total",
                 "clonefs_feed_hold_extension_failures_total"):
        assert fm[zero] == 0, (zero, fm)
    assert "clonefs_feed_hold_extensions_total" in fm, fm
    assert 0 <= fm["clonefs_feed_lag_seconds"] < 60, fm
    assert feed_state_metric(watcher) == "feed"
    fs = status_agrees_with_metrics(watcher)
    assert fs["acknowledged"] >= fs["applied"] and fs["pulls"] >= 1, fs
    assert fs["ack_failures"] == fs["pull_failures"] == fs["hold_extension_failures"] == 0, fs


def test_with_a_feed_no_listing_follows_the_first_sync_within_sync_interval(fleet):
    # the jittered phase after the first sync is drawn from the interval the mount lists
    # at: with a feed the safety net's (feed_full_interval, a day here), not sync_interval
    # (1 s here), which put a listing right after the first sync on every watcher
    emu, writer, watcher = fleet(watcher_sync=1, extra=["feed_full_interval=86400"])
    w0 = writer.status()["passes"]
    wait_for(lambda: writer.status()["passes"] >= w0 + 3, 30,
             "three more passes of the writer, which polls every second")
    assert feed_state_metric(watcher) == "feed"
    assert watcher.status()["passes"] == 1, watcher.status()


def test_duplicates_and_out_of_order_messages_never_overwrite_a_newer_record(fleet):
    emu, writer, watcher = fleet()
    snap = "global/snapshots/snap-00001"

    faults(emu, feedDuplicateRate=1.0)
    set_labels_api(emu, snap, {"v": "dup"})
    seen_within(lambda: xattr(watcher, snap, "user.v") == "dup", "the duplicated change")
    wait_for(lambda: feed_status(watcher)["stale"] >= 1, 10, "the duplicate counted stale")

    # two changes close together, the newer delivered first
    faults(emu, feedDuplicateRate=0.0, feedReorderRate=1.0, feedHoldSeconds=1.0)
    stale = feed_status(watcher)["stale"]
    set_labels_api(emu, snap, {"v": "older"})
    set_labels_api(emu, snap, {"v": "newer"})
    wait_for(lambda: feed_status(watcher)["stale"] > stale, 15, "the older change arriving late")
    assert xattr(watcher, snap, "user.v") == "newer"
    fs = feed_status(watcher)
    assert fs["errors"] == 0, fs
    stats = control(emu, "GET", "pubsub")["subscriptions"][SUB]
    assert stats["outstanding"] == 0 and stats["queued"] == 0, stats


def test_a_change_not_acknowledged_before_a_crash_comes_again_and_is_acknowledged_once(
        fleet, tmp_path):
    emu, writer, watcher = fleet()
    snap = "global/snapshots/snap-00002"
    faults(emu, feedAckFailRate=1.0)           # stored, but the acknowledgement fails
    set_labels_api(emu, snap, {"crash": "yes"})
    seen_within(lambda: xattr(watcher, snap, "user.crash") == "yes", "the change")
    wait_for(lambda: feed_metrics(watcher)["clonefs_feed_ack_failures_total"] >= 1, 10,
             "the failed acknowledgement counted")
    assert status_agrees_with_metrics(watcher)["ack_failures"] >= 1
    watcher.kill()                             # before any acknowledgement got through
    stats = control(emu, "GET", "pubsub")["subscriptions"][SUB]["messages"]
    mine = [mid for mid, s in stats.items() if s["acks"] == 0]
    assert mine, stats

    faults(emu, feedAckFailRate=0.0)
    watcher.start()                            # same cache; the message is redelivered
    wait_for(lambda: all(control(emu, "GET", "pubsub")["subscriptions"][SUB]["messages"][mid]
                         ["acked"] for mid in mine), 30, "the redelivered message acknowledged")
    after = control(emu, "GET", "pubsub")["subscriptions"][SUB]["messages"]
    for mid in mine:
        assert after[mid]["acks"] == 1 and after[mid]["attempts"] >= 2, after[mid]
    assert xattr(watcher, snap, "user.crash") == "yes"
    assert feed_status(watcher)["messages"] >= 1


def test_a_deleted_subscription_is_reported_and_polling_takes_over(fleet):
    emu, writer, watcher = fleet(watcher_sync=2)
    st, body = pubsub(emu, "DELETE", SUB)
    assert st == 200, body
    wait_for(lambda: feed_status(watcher)["state"] == "gone", 20, "the feed reported gone")
    assert "404" in (feed_status(watcher)["last_error"] or "")
    fm = feed_metrics(watcher)
    assert fm["clonefs_feed_pull_failures_total"] >= 1, fm
    assert feed_state_metric(watcher) == "polling"
    assert status_agrees_with_metrics(watcher)["pull_failures"] >= 1
    # polling at sync_interval now: a change made elsewhere still shows
    set_labels_api(emu, "global/snapshots/snap-00003", {"polled": "yes"})
    wait_for(lambda: xattr(watcher, "global/snapshots/snap-00003", "user.polled") == "yes", 15,
             "the change by polling")
    assert "gone" in watcher.path(".clonefs/log").read_text()


def test_lost_acknowledgements_bring_the_change_again_and_it_is_dropped_as_stale(fleet):
    emu, writer, watcher = fleet()
    snap = "global/snapshots/snap-00004"
    faults(emu, feedLostAckRate=1.0)           # acknowledge answers {} and forgets
    set_labels_api(emu, snap, {"lost": "ack"})
    seen_within(lambda: xattr(watcher, snap, "user.lost") == "ack", "the change")
    stale = feed_status(watcher)["stale"]
    # redelivered after the 10 s deadline: not newer than what was applied
    wait_for(lambda: feed_status(watcher)["stale"] > stale, 30, "the redelivered change")
    faults(emu, feedLostAckRate=0.0)
    wait_for(lambda: control(emu, "GET", "pubsub")["subscriptions"][SUB]["outstanding"] == 0,
             30, "every message acknowledged")
    assert xattr(watcher, snap, "user.lost") == "ack"
    assert feed_status(watcher)["errors"] == 0


def test_a_message_held_past_its_ack_deadline_keeps_its_hold_and_is_acknowledged_once(fleet):
    """The acknowledgement takes 14 s, past the subscription's 10 s ack deadline:
    only extending the hold (modifyAckDeadline) while it is in flight keeps the
    message from being delivered again (and the late acknowledgement from being
    lost with its expired ackId)."""
    emu, writer, watcher = fleet()
    snap = "global/snapshots/snap-00005"
    wait_for(lambda: control(emu, "GET", "pubsub")["subscriptions"][SUB]["outstanding"] == 0,
             30, "the welcome message acknowledged")
    before = set(control(emu, "GET", "pubsub")["subscriptions"][SUB]["messages"])
    modacks = control(emu, "GET", "pubsub")["subscriptions"][SUB]["modifyAckDeadline"]
    faults(emu, feedSlowAckSeconds=14.0)
    set_labels_api(emu, snap, {"slow": "ack"})
    seen_within(lambda: xattr(watcher, snap, "user.slow") == "ack", "the change")
    mine = new_messages(emu, before)
    assert mine, "no message published for the change"
    wait_for(lambda: all(m["acked"] for m in new_messages(emu, before).values()), 40,
             "the change acknowledged")
    faults(emu, feedSlowAckSeconds=0.0)
    for mid, m in new_messages(emu, before).items():
        assert m["attempts"] == 1, (mid, m)         # never delivered again
        assert m["acks"] == 1, (mid, m)
        assert m["extends"] >= 2, (mid, m)          # held at about 4, 8 and 12 s
    sub = control(emu, "GET", "pubsub")["subscriptions"][SUB]
    assert sub["modifyAckDeadline"] >= modacks + 2, sub
    fs = feed_status(watcher)
    assert fs["stale"] == 0 and fs["errors"] == 0, fs
    fm = feed_metrics(watcher)
    assert fm["clonefs_feed_hold_extensions_total"] >= 2, fm
    assert fm["clonefs_feed_hold_extension_failures_total"] == 0, fm
    assert fm["clonefs_feed_acknowledged_total"] >= len(mine), fm
    fs = status_agrees_with_metrics(watcher)
    assert fs["hold_extensions"] >= 2 and fs["acknowledged"] >= len(mine), fs


def test_a_lagging_feed_is_behind_polls_at_sync_interval_and_returns_to_the_feed(fleet):
    emu, writer, watcher = fleet(watcher_sync=2, extra=["feed_lag_max=2"])
    assert feed_status(watcher)["lag_max"] == 2
    wait_for(lambda: feed_status(watcher)["state"] == "ok", 20, "the feed working")

    # delivered 4 s after it was published: a lag over feed_lag_max
    faults(emu, feedHoldSeconds=4.0)
    set_labels_api(emu, "global/snapshots/snap-00001", {"late": "yes"})
    wait_for(lambda: feed_status(watcher)["state"] == "behind", 20, "the feed behind")
    fs = feed_status(watcher)
    assert fs["polling"] is True and fs["lag_ms"] > 2000, fs
    assert feed_state_metric(watcher) == "behind"
    assert feed_metrics(watcher)["clonefs_feed_lag_seconds"] > 2
    assert "behind" in watcher.path(".clonefs/log").read_text()

    # the feed delivers nothing more now: a change made elsewhere shows by polling
    faults(emu, feedHoldSeconds=600.0)
    pulls = feed_metrics(watcher)["clonefs_feed_pulls_total"]
    passes = watcher.status()["passes"]
    set_labels_api(emu, "global/snapshots/snap-00003", {"polled": "yes"})
    wait_for(lambda: xattr(watcher, "global/snapshots/snap-00003", "user.polled") == "yes", 15,
             "the change by polling")
    assert watcher.status()["passes"] > passes
    # pulls that deliver nothing do not end it (the one in flight and a whole one after)
    wait_for(lambda: feed_metrics(watcher)["clonefs_feed_pulls_total"] >= pulls + 2, 30,
             "two more pulls")
    fs = feed_status(watcher)
    assert fs["state"] == "behind" and fs["polling"] is True, fs

    # a message that comes in time: back to the feed
    faults(emu, feedHoldSeconds=0.0)
    set_labels_api(emu, "global/snapshots/snap-00002", {"on": "time"})
    wait_for(lambda: feed_status(watcher)["state"] == "ok", 20, "the feed working again")
    fs = feed_status(watcher)
    assert fs["polling"] is False and fs["lag_ms"] <= 2000, fs
    assert feed_state_metric(watcher) == "feed"
    assert xattr(watcher, "global/snapshots/snap-00002", "user.on") == "time"
    applied = fs["applied"]
    set_labels_api(emu, "global/snapshots/snap-00002", {"on": "feed"})
    seen_within(lambda: xattr(watcher, "global/snapshots/snap-00002", "user.on") == "feed",
                "a change through the feed again")
    wait_for(lambda: feed_status(watcher)["applied"] > applied, 10, "the feed applied it")


@pytest.mark.parametrize("bad", ["0", "abc", "604801", "-5", ""])
def test_feed_lag_max_out_of_range_is_a_usage_error(tmp_path, bad):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([str(CLONEFS), "gce:demo-project", str(mnt), "-f", "-o",
                        f"feed_lag_max={bad},cache={tmp_path / 'cache'}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"-o feed_lag_max={bad}: must be a whole number of seconds, 1 to 604800" in r.stderr
    assert not (tmp_path / "cache").exists()


def test_the_emulator_help_names_the_feed_and_every_fault_switch():
    """gce-emulator --help documents what the emulator accepts for the feed: its
    switches, the Pub/Sub calls, every fault switch of /emulator/v1/faults and the
    control endpoint that counts deliveries."""
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from gce_emulator.cli import build_parser
        from gce_emulator.server import Faults
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    out = subprocess.run(["/usr/bin/python3", str(EMULATOR), "--help"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    words = set(out.replace(",", " ").replace('"', " ").split())
    switches = [o for a in build_parser()._actions for o in a.option_strings]
    faults_ = list(Faults.FIELDS) + ["opErrorRate", "conflictRate", "flushFails",
                                     "pageTokenTtl", "opSeconds"]
    missing = [w for w in switches + faults_ if w not in words]
    assert not missing, missing
    for call in (":pull", ":acknowledge", ":modifyAckDeadline", "/emulator/v1/pubsub",
                 "TemporalAsset"):
        assert call in out, call

