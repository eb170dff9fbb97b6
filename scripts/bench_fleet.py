"""bench_fleet — what a fleet of mounts of one project costs the API, and how soon a change
made on one shows on the others: polling against the change feed (issue 17, section 4).

Run by `scripts/bench` as part of every run (at the largest size up to 100,000; --no-fleet
skips it, --fleet runs it alone; see --help there). For each mode (poll, feed), on one emulator
generating N snapshots and publishing a Cloud Asset Inventory feed (one Pub/Sub subscription per
watching host):
  - three mounts of the project: one writing, two watching; polling watchers list every
    --fleet-sync seconds; feed watchers read their subscription (-o feed=) and keep only the
    hourly safety-net listing;
  - once every first sync is over and the API is quiet, for --fleet-seconds: a mkdir on the
    writer every few seconds (a snapshot of a disk), each timed from the mkdir call to the entry
    on each watcher (polled every 10 ms): from the call, so that the figure is the user's
    (the writer's own API call included; the mkdir's own time is reported beside it);
  - each watcher's requests and bytes over the window (its .clonefs/status: the compute API's
    http counters plus the feed's; its .clonefs/metrics: what of them the listings took), and
    an hour made of them at the rates the mount lists at (below).
An hour, not the window scaled: a pass due once an hour (the feed's safety net, every
feed_full_interval; the full reconciliation, every reconcile_interval) falls in a 300 s window
at a random phase, so scaling the window counted it 12 times or not at all (the ~100 requests
and 6.5 MB per feed watcher in BENCHMARKS.md's run 9, the fleet again, were one compact pass
of one of the two watchers, at its phase, counted 12 times). A host-hour is: what is not a
listing in the window (the feed's pulls and acknowledgements, any other request) scaled to
the hour; plus the passes an hour holds: polling, 3600/sync_interval of them, the full
reconciliations among them at the first sync's cost (a full pass) and the others at the cost
of the window's compact passes; with the feed, 3600/feed_full_interval safety-net passes,
full ones (the safety net's interval is the reconciliation's, so each is due one). The
window as measured, scaled, and its passes are in the JSON beside it (row "window").
Prints one row per mode and the target: with the feed, every entry on the others within 2 s.
Nothing here asserts: it is a measurement. Everything it starts it stops."""

import json
import os
import re
import secrets
import select
import shutil
import statistics
import subprocess
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
PY = "/usr/bin/python3"
PROJECT = "bench-project"
T_FEED_VISIBLE_S = 2.0
SUBS = ["projects/%s/subscriptions/watcher-%d" % (PROJECT, i) for i in (1, 2)]
RECONCILE_S = 3600        # reconcile_interval (clonefs's default), set on every mount
FEED_FULL_S = 3600        # feed_full_interval (clonefs's default) of the feed watchers


def log(msg):
    print("fleet: " + msg, flush=True)


class Fleet:
    def __init__(self, binary, n, work):
        self.binary, self.n, self.work = binary, n, work
        self.procs, self.mounts = [], []
        self.token = secrets.token_hex(16)

    def start_emulator(self):
        cmd = [PY, os.path.join(TOP, "scripts/gce-emulator"), "--port", "0", "--token",
               self.token, "--project", PROJECT, "--generate-snapshots", str(self.n)]
        for s in SUBS:
            cmd += ["--feed", s]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=open(os.path.join(self.work, "emulator.log"), "w"))
        self.procs.append(p)
        line, deadline = b"", time.monotonic() + 120 + self.n / 2000
        while not line.endswith(b"\n"):
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError("the emulator did not start (%s/emulator.log)" % self.work)
            if select.select([p.stdout], [], [], 0.5)[0]:
                line += os.read(p.stdout.fileno(), 1)
        self.url = re.search(r"(http://127\.0\.0\.1:\d+/compute/v1/)", line.decode()).group(1)
        self.pubsub = self.url[:-len("compute/v1/")]

    def mount(self, name, opts):
        mnt = os.path.join(self.work, "mnt-" + name)
        os.makedirs(mnt, exist_ok=True)
        tok = os.path.join(self.work, "token")
        if not os.path.exists(tok):  # once: a mount reading it must never see it rewritten
            fd = os.open(tok, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, (self.token + "\n").encode())
            os.close(fd)
        o = ["endpoint=" + self.url, "token_file=" + tok,
             "cache=" + os.path.join(self.work, "cache-" + name)] + opts
        p = subprocess.Popen([self.binary, "gce:" + PROJECT, mnt, "-f", "-o", ",".join(o)],
                             stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.work, name + ".log"), "w"))
        self.procs.append(p)
        self.mounts.append(mnt)
        deadline = time.monotonic() + 60
        while not os.path.ismount(mnt):
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError("clonefs %s did not mount (%s/%s.log)" % (name, self.work, name))
            time.sleep(0.02)
        return mnt

    def stop(self):
        for mnt in self.mounts:
            subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for mnt in self.mounts:
            if os.path.ismount(mnt):
                subprocess.run(["fusermount3", "-uz", mnt], capture_output=True)


def status(mnt):
    with open(os.path.join(mnt, ".clonefs", "status")) as f:
        return json.load(f)


def listing_traffic(mnt):
    """(requests, wire bytes) the mount's listings made so far (.clonefs/metrics, summed over
    the collections): the passes' share of the compute API's traffic."""
    req = wire = 0
    with open(os.path.join(mnt, ".clonefs", "metrics")) as f:
        for line in f:
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name == "clonefs_sync_requests_total":
                req += int(float(line.rsplit(" ", 1)[1]))
            elif name == "clonefs_sync_received_bytes_total":
                wire += int(float(line.rsplit(" ", 1)[1]))
    return req, wire


def counters(mnt):
    """What the mount made so far: {"compute": (requests, bytes, wire), "feed": (requests,
    bytes), "listing": (requests, wire), "passes": N}. bytes: the JSON the answers decoded
    to; wire: as they came (gzip)."""
    st = status(mnt)
    h, f = st.get("http") or {}, st.get("feed") or {}
    return {"compute": (h.get("requests", 0), h.get("bytes_in", 0),
                        h.get("wire_bytes_in", h.get("bytes_in", 0))),
            "feed": (f.get("requests", 0), f.get("bytes_in", 0)),
            "listing": listing_traffic(mnt), "passes": st.get("passes", 0)}


def host_hour(first, before, after, window, mode, sync):
    """(requests, bytes, wire) of one host-hour (the module's doc): first = counters() at the
    end of the first sync (one full pass), before/after = around the window."""
    d = {k: tuple(a - b for a, b in zip(after[k], before[k]))
         for k in ("compute", "feed", "listing")}
    passes = after["passes"] - before["passes"]
    (creq, cbytes, cwire), (lreq, lwire) = d["compute"], d["listing"]
    # what is not a listing; its decoded bytes in the proportion of its wire bytes
    oreq, owire = max(creq - lreq, 0), max(cwire - lwire, 0)
    obytes = cbytes * owire / cwire if cwire else 0
    scale = 3600 / window
    req = (oreq + d["feed"][0]) * scale
    byt = (obytes + d["feed"][1]) * scale
    wire = (owire + d["feed"][1]) * scale
    compact = (lreq / passes, (cbytes - obytes) / passes, lwire / passes) if passes else None
    full = first["compute"]            # the first sync: one full pass
    if first["passes"] > 1 and compact:  # and compact passes after it, counted with it
        full = tuple(f - (first["passes"] - 1) * c for f, c in zip(full, compact))
    if mode == "feed":
        n_full, n_compact = 3600 / FEED_FULL_S, 0
    else:
        n_full = 3600 / RECONCILE_S
        n_compact = 3600 / sync - n_full
    req += n_full * full[0]
    byt += n_full * full[1]
    wire += n_full * full[2]
    if n_compact:
        if not compact:
            raise RuntimeError("no pass in the window of a mount polling every %ds" % sync)
        # the window's passes are compact ones (the reconciliation is due an hour after
        # the first sync); their decoded bytes in the proportion of their wire bytes
        req += n_compact * compact[0]
        byt += n_compact * compact[1]
        wire += n_compact * compact[2]
    return req, byt, wire


def wait_synced(mnt, n, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st = status(mnt)
            if st["collections"]["snapshots"]["count"] >= n and st["progress"] is None:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise RuntimeError("%s: no complete first sync within %ds" % (mnt, timeout))


def run_mode(binary, n, mode, seconds, sync):
    work = tempfile.mkdtemp(prefix="clonefs-fleet-%s-" % mode)
    fl = Fleet(binary, n, work)
    try:
        fl.start_emulator()
        pol = os.path.join(work, "policy.json")  # no per-disk limit on the bench's clones
        with open(pol, "w") as f:
            json.dump({"clone": {"max_per_source": 1000000}}, f)
        writer = fl.mount("writer", ["sync_interval=%d" % sync, "policy=" + pol])
        watchers = []
        for i, sub in enumerate(SUBS):
            opts = ["sync_interval=%d" % sync, "reconcile_interval=%d" % RECONCILE_S]
            if mode == "feed":
                opts += ["feed=" + sub, "pubsub_endpoint=" + fl.pubsub,
                         "feed_full_interval=%d" % FEED_FULL_S]
            watchers.append(fl.mount("watcher-%d" % (i + 1), opts))
        first = []
        for m in [writer] + watchers:
            wait_synced(m, n, 120 + n / 500)
            if m != writer:
                first.append(counters(m))
        if mode == "feed" and any(f["passes"] != 1 for f in first):
            log("feed: a watcher's safety net listed before its first sync was counted: its "
                "full pass is overstated by a compact one")
        disk = sorted(d for d in os.listdir(os.path.join(writer, "zones"))
                      if os.listdir(os.path.join(writer, "zones", d, "disks")))[0]
        disk = os.path.join(writer, "zones", disk, "disks")
        disk = os.path.join(disk, sorted(os.listdir(disk))[0], "snapshots")
        before = [counters(w) for w in watchers]
        t_start = time.monotonic()
        delays, calls, k = [], [], 0
        every = max(2.0, seconds / 6)
        while time.monotonic() - t_start < seconds:
            k += 1
            name = "fleet-%s-%d" % (mode, k)
            t0 = time.monotonic()
            os.mkdir(os.path.join(disk, name))
            calls.append(time.monotonic() - t0)
            pending = {w: os.path.join(w, "global", "snapshots", name) for w in watchers}
            limit = t0 + sync + 30
            while pending and time.monotonic() < limit:
                for w, p in list(pending.items()):
                    if os.path.exists(p):
                        delays.append(time.monotonic() - t0)
                        del pending[w]
                time.sleep(0.01)
            delays += [float("inf")] * len(pending)
            rest = every - (time.monotonic() - t0)
            if time.monotonic() - t_start + max(rest, 0) >= seconds:
                break
            if rest > 0:
                time.sleep(rest)
        # the whole window, whatever the last change took
        while time.monotonic() - t_start < seconds:
            time.sleep(0.1)
        window = time.monotonic() - t_start
        after = [counters(w) for w in watchers]
        hours = [host_hour(f, b, a, window, mode, sync)
                 for f, b, a in zip(first, before, after)]

        def scaled(c, i):      # the window as measured, scaled to an hour (compute + feed)
            return (c["compute"][i] + c["feed"][min(i, 1)]) * 3600 / window
        feed = [status(w).get("feed") for w in watchers]
        return {"mode": mode, "n": n, "window_s": round(window, 1), "changes": k,
                "requests_per_host_hour": round(statistics.mean(h[0] for h in hours)),
                "bytes_per_host_hour": round(statistics.mean(h[1] for h in hours)),
                "wire_bytes_per_host_hour": round(statistics.mean(h[2] for h in hours)),
                "window": {
                    "passes": [a["passes"] - b["passes"] for a, b in zip(after, before)],
                    "requests_scaled": round(statistics.mean(
                        scaled(a, 0) - scaled(b, 0) for a, b in zip(after, before))),
                    "bytes_scaled": round(statistics.mean(
                        scaled(a, 1) - scaled(b, 1) for a, b in zip(after, before))),
                    "wire_bytes_scaled": round(statistics.mean(
                        scaled(a, 2) - scaled(b, 2) for a, b in zip(after, before))),
                    "per_watcher": [{k2: [x - y for x, y in zip(a[k2], b[k2])]
                                     for k2 in ("compute", "feed", "listing")}
                                    for a, b in zip(after, before)]},
                "full_pass": [{"requests": f["compute"][0], "bytes": f["compute"][1],
                               "wire_bytes": f["compute"][2]} for f in first],
                "visible_median_s": round(statistics.median(delays), 3),
                "visible_max_s": round(max(delays), 3),
                "mkdir_median_s": round(statistics.median(calls), 3),
                "mkdir_max_s": round(max(calls), 3), "feed": feed}
    finally:
        fl.stop()
        if os.environ.get("FLEET_KEEP"):
            log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def fmt_bytes(b):
    for unit in ("B", "kB", "MB", "GB"):
        if b < 1000:
            return "%.1f %s" % (b, unit)
        b /= 1000
    return "%.1f TB" % b


def measure(binary, n, seconds, sync, keep=False):
    """Both modes at n: {"n", "sync_interval", "seconds", "rows": [poll, feed]}; a mode that
    failed is a row {"mode", "error"}, so that the other one still counts."""
    if keep:
        os.environ["FLEET_KEEP"] = "1"
    out = {"n": n, "sync_interval": sync, "seconds": seconds, "rows": []}
    for mode in ("poll", "feed"):
        log("N=%d, %s: three mounts, %ds of changes (sync_interval %ds)" % (n, mode, seconds, sync))
        try:
            out["rows"].append(run_mode(binary, n, mode, seconds, sync))
        except (RuntimeError, OSError, ValueError, KeyError, IndexError,
                subprocess.SubprocessError) as e:
            log("%s: %s" % (mode, e))
            out["rows"].append({"mode": mode, "n": n, "error": str(e) or type(e).__name__})
    return out


def row(fleet, mode):
    for r in fleet.get("rows", []):
        if r.get("mode") == mode and "error" not in r:
            return r
    return None


def feed_verdict(fleet):
    """True/False: every entry made with the feed showed on every watcher within 2 s; None
    without a feed row."""
    r = row(fleet, "feed")
    return None if r is None else r["visible_max_s"] <= T_FEED_VISIBLE_S


def print_rows(w, fleet):
    w("fleet at N = {:,}: 1 writer, 2 watchers, per watching host (bytes: the JSON decoded; "
      "wire: as it came); sync_interval {} s, feed safety net 1 h; {} s of changes; an hour: "
      "the window's feed and other requests scaled, plus the hour's passes (full at the first "
      "sync's cost, hourly; compact at the window's)\n"
      .format(fleet["n"], fleet["sync_interval"], fleet["seconds"]))
    w("  %-5s %8s %12s %12s %12s %12s %10s %10s  %s\n" % (
        "mode", "changes", "requests/h", "bytes/h", "wire/h", "visible med", "max", "mkdir med",
        "target (visible: from the mkdir call)"))
    for r in fleet["rows"]:
        if "error" in r:
            w("  %-5s failed: %s\n" % (r["mode"], r["error"]))
            continue
        verdict = ""
        if r["mode"] == "feed":
            verdict = "<= %.0f s  %s" % (T_FEED_VISIBLE_S,
                                         "PASS" if feed_verdict(fleet) else "MISS")
        w("  %-5s %8d %12s %12s %12s %11.2fs %9.2fs %9.2fs  %s\n" % (
            r["mode"], r["changes"], "{:,}".format(r["requests_per_host_hour"]),
            fmt_bytes(r["bytes_per_host_hour"]), fmt_bytes(r.get("wire_bytes_per_host_hour", 0)),
            r["visible_median_s"], r["visible_max_s"],
            r.get("mkdir_median_s", 0), verdict))
        win = r.get("window")
        if win:
            w("  %-5s the window itself, scaled: %s req/h, %s/h, wire %s/h; passes in it: %s\n"
              % ("", "{:,}".format(win["requests_scaled"]), fmt_bytes(win["bytes_scaled"]),
                 fmt_bytes(win["wire_bytes_scaled"]), ", ".join(map(str, win["passes"]))))


def run(binary, sizes, seconds, sync, json_path=None):
    """scripts/bench --fleet: the fleet alone, at each size."""
    fleets = [measure(binary, n, seconds, sync) for n in sizes]
    print()
    for fleet in fleets:
        print_rows(lambda s: print(s, end=""), fleet)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump({"fleet": fleets, "target_visible_s": T_FEED_VISIBLE_S}, f, indent=1)
        print("results: %s" % json_path)
    return 0
