"""In-memory state of one emulated account in one region.

One RLock (State.lock) protects everything.  Each resource type is a
Collection: a dict id -> resource (a plain dict of the emulator's own
fields, rendered to the API's XML by shapes.py) and a sorted id list that
paging walks.  Time-driven changes (pending -> completed, stopping ->
stopped, ...) are events on a heap that State.advance() runs at the start
of every request, so no timer thread is needed; State.clock_offset moves
the emulator's clock (test control endpoint).
"""

import bisect
import heapq
import itertools
import random
import threading
import time

from .util import parse_time

ID_PREFIX = {"snapshot": "snap", "volume": "vol", "image": "ami", "instance": "i",
             "reservation": "r", "network-interface": "eni", "attachment": "eni-attach"}
KINDS = ("snapshot", "volume", "image", "instance")
INSTANCE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
                  "stopping": 64, "stopped": 80}


class SeedError(Exception):
    pass


class Collection:
    def __init__(self):
        self.items = {}
        self.ids = []            # sorted: the paging order

    def add(self, r):
        if r["id"] not in self.items:
            bisect.insort(self.ids, r["id"])
        self.items[r["id"]] = r

    def remove(self, rid):
        r = self.items.pop(rid, None)
        if r is not None:
            i = bisect.bisect_left(self.ids, rid)
            if i < len(self.ids) and self.ids[i] == rid:
                del self.ids[i]
        return r

    def get(self, rid):
        return self.items.get(rid)

    def after(self, last):
        """Ids in paging order, strictly after `last` (None: from the start)."""
        start = 0 if last is None else bisect.bisect_right(self.ids, last)
        return itertools.islice(self.ids, start, None)


class State:
    def __init__(self, region="us-east-1", account_id="123456789012", random_seed=None,
                 zones=None):
        self.lock = threading.RLock()
        self.region = region
        self.account_id = account_id
        self.rng = random.Random(random_seed)
        self.clock_offset = 0.0
        self.events = []
        self.seq = itertools.count()
        self.zones = list(zones or [region + s for s in ("a", "b", "c")])
        self.colls = {k: Collection() for k in KINDS}
        self.used_ids = set()
        # how long things take (seconds of the emulator's clock)
        self.snapshot_seconds = 2.0
        self.image_seconds = 0.5        # after its last snapshot completed
        self.volume_seconds = 1.0
        self.instance_seconds = 1.0
        self.terminated_linger = 3600.0
        self.eventual_seconds = 0.0
        self.client_tokens = {}         # (action, token) -> (params, first result)

    # ------------------------------------------------------------ clock
    def now(self):
        return time.time() + self.clock_offset

    def schedule(self, at, fn):
        heapq.heappush(self.events, (at, next(self.seq), fn))

    def advance(self):
        """Run every event that is due (in time order; an event may schedule more)."""
        now = self.now()
        while self.events and self.events[0][0] <= now:
            _, _, fn = heapq.heappop(self.events)
            fn()

    # ------------------------------------------------------------ ids
    def new_id(self, kind):
        prefix = ID_PREFIX[kind]
        while True:
            rid = "%s-%017x" % (prefix, self.rng.getrandbits(68) & ((1 << 68) - 1))
            rid = rid[:len(prefix) + 18]
            if rid not in self.used_ids:
                self.used_ids.add(rid)
                return rid

    def coll(self, kind):
        return self.colls[kind]

    def find(self, rid):
        """(kind, resource) of any id, or (None, None)."""
        for kind in KINDS:
            r = self.colls[kind].get(rid)
            if r is not None:
                return kind, r
        return None, None

    def visible(self, r, now=None):
        """Eventual consistency: a new resource shows in Describe calls only
        eventual_seconds after it was created."""
        return r.get("visible_at", 0) <= (self.now() if now is None else now)

    def touch(self, r):
        r["xml"] = None

    def add(self, kind, r):
        r.setdefault("tags", {})
        r["kind"] = kind
        r["xml"] = None
        r["visible_at"] = self.now() + self.eventual_seconds if r.pop("new", False) else 0
        self.used_ids.add(r["id"])
        self.colls[kind].add(r)
        return r


# ---------------------------------------------------------------- seed
def _tags(v, where):
    if v is None:
        return {}
    if isinstance(v, dict):
        return {str(k): str(x) for k, x in v.items()}
    if isinstance(v, list):
        out = {}
        for t in v:
            if not isinstance(t, dict) or "Key" not in t and "key" not in t:
                raise SeedError("%s: a tag must be {\"Key\": .., \"Value\": ..}" % where)
            out[str(t.get("Key", t.get("key")))] = str(t.get("Value", t.get("value", "")))
        return out
    raise SeedError("%s: tags must be an object or a list" % where)


STATES = {
    "snapshot": ("pending", "completed", "error", "recoverable", "recovering"),
    "volume": ("creating", "available", "in-use", "deleting", "deleted", "error"),
    "instance": tuple(INSTANCE_CODES),
    "image": ("pending", "available", "invalid", "deregistered", "transient", "failed",
              "error", "disabled"),
}


def _state(kind, v, default, where):
    """A seeded state stays as given (no transition is scheduled for it)."""
    s = v.get("state", default)
    if s not in STATES[kind]:
        raise SeedError("%s: state %r is not one of %s" % (where, s, ", ".join(STATES[kind])))
    return s


def _time(v, default, where):
    if v is None:
        return default
    if isinstance(v, (int, float)):
        return float(v)
    t = parse_time(v)
    if t is None:
        raise SeedError("%s: bad timestamp %r" % (where, v))
    return t


def load_seed(st, data):
    """Add the seed's resources (format: cli.EPILOG)."""
    if not isinstance(data, dict):
        raise SeedError("the seed must be a JSON object")
    known = {"availabilityZones", "volumes", "instances", "snapshots", "images"}
    for k in data:
        if k not in known:
            raise SeedError("unknown seed key %r (known: %s)" % (k, ", ".join(sorted(known))))
    now = st.now()
    if data.get("availabilityZones"):
        st.zones = [str(z) for z in data["availabilityZones"]]
    for i, v in enumerate(data.get("volumes") or []):
        w = "volumes[%d]" % i
        if not isinstance(v, dict):
            raise SeedError(w + ": not an object")
        st.add("volume", {
            "id": v.get("volumeId") or st.new_id("volume"),
            "size": int(v.get("size", 8)),
            "az": v.get("availabilityZone") or st.zones[0],
            "createTime": _time(v.get("createTime"), now - 86400, w),
            "state": _state("volume", v, "available", w),
            "snapshotId": v.get("snapshotId", ""),
            "volumeType": v.get("volumeType", "gp3"),
            "iops": int(v.get("iops", 3000)),
            "encrypted": bool(v.get("encrypted", False)),
            "attachments": [],
            "tags": _tags(v.get("tags"), w),
        })
    for i, v in enumerate(data.get("instances") or []):
        w = "instances[%d]" % i
        if not isinstance(v, dict):
            raise SeedError(w + ": not an object")
        launch = _time(v.get("launchTime"), now - 3600, w)
        inst = new_instance(st, az=v.get("availabilityZone") or st.zones[0],
                            image_id=v.get("imageId", "ami-0123456789abcdef0"),
                            instance_type=v.get("instanceType", "t3.micro"),
                            state=_state("instance", v, "running", w), launch=launch,
                            attach=_time(v.get("attachTime"), launch, w),
                            rid=v.get("instanceId"), tags=_tags(v.get("tags"), w))
        for j, a in enumerate(v.get("volumes") or []):
            vol = st.coll("volume").get(a.get("volumeId") if isinstance(a, dict) else a)
            if vol is None:
                raise SeedError("%s.volumes[%d]: no such volume in the seed" % (w, j))
            dev = a.get("device") if isinstance(a, dict) else None
            attach_volume(st, inst, vol, dev or ("/dev/xvda" if j == 0 else
                                                 "/dev/sd%s" % chr(ord("f") + j - 1)),
                          inst["attachTime"], bool(a.get("deleteOnTermination", j == 0))
                          if isinstance(a, dict) else j == 0)
        if inst["state"] == "terminated":
            st.schedule(now + st.terminated_linger, lambda r=inst: forget_instance(st, r))
    for i, s in enumerate(data.get("snapshots") or []):
        w = "snapshots[%d]" % i
        if not isinstance(s, dict):
            raise SeedError(w + ": not an object")
        vol = st.coll("volume").get(s.get("volumeId", ""))
        st.add("snapshot", {
            "id": s.get("snapshotId") or st.new_id("snapshot"),
            "volumeId": s.get("volumeId", "vol-ffffffff"),
            "volumeSize": int(s.get("volumeSize", vol["size"] if vol else 8)),
            "description": s.get("description", ""),
            "ownerId": str(s.get("ownerId", st.account_id)),
            "ownerAlias": s.get("ownerAlias"),
            "startTime": _time(s.get("startTime"), now - 3600, w),
            "state": _state("snapshot", s, "completed", w),
            "doneAt": 0,
            "encrypted": bool(s.get("encrypted", False)),
            "storageTier": s.get("storageTier", "standard"),
            "fullSize": s.get("fullSnapshotSizeInBytes"),
            "locked": bool(s.get("locked", False)),
            "tags": _tags(s.get("tags"), w),
        })
    for i, m in enumerate(data.get("images") or []):
        w = "images[%d]" % i
        if not isinstance(m, dict):
            raise SeedError(w + ": not an object")
        bdm = []
        for b in m.get("blockDeviceMappings") or []:
            snap = st.coll("snapshot").get(b.get("snapshotId", ""))
            bdm.append({"device": b.get("deviceName", "/dev/xvda"),
                        "snapshotId": b.get("snapshotId"),
                        "volumeSize": int(b.get("volumeSize", snap["volumeSize"] if snap else 8)),
                        "volumeType": b.get("volumeType", "gp3"),
                        "deleteOnTermination": bool(b.get("deleteOnTermination", True)),
                        "encrypted": False})
        st.add("image", {
            "id": m.get("imageId") or st.new_id("image"),
            "name": m.get("name", "image-%d" % i),
            "description": m.get("description"),
            "creationDate": _time(m.get("creationDate"), now - 3600, w),
            "state": _state("image", m, "available", w),
            "ownerId": str(m.get("ownerId", st.account_id)),
            "ownerAlias": m.get("imageOwnerAlias"),
            "public": bool(m.get("isPublic", False)),
            "rootDeviceName": m.get("rootDeviceName", bdm[0]["device"] if bdm else "/dev/xvda"),
            "bdm": bdm,
            "tags": _tags(m.get("tags"), w),
        })


def new_instance(st, az, image_id, instance_type, state, launch, attach, rid=None, tags=None,
                 reservation=None, index=0, new=False):
    rid = rid or st.new_id("instance")
    n = len(st.coll("instance").items) + 4
    r = {
        "id": rid, "reservationId": reservation or st.new_id("reservation"),
        "imageId": image_id, "instanceType": instance_type, "az": az, "state": state,
        "launchTime": launch, "attachTime": attach, "amiLaunchIndex": index,
        "privateIp": "172.31.%d.%d" % ((n // 250) % 250, n % 250 + 4),
        "eniId": st.new_id("network-interface"), "eniAttachId": st.new_id("attachment"),
        "mac": "0a:%02x:%02x:%02x:%02x:%02x" % tuple(st.rng.getrandbits(8) for _ in range(5)),
        "rootDeviceName": "/dev/xvda", "devices": [], "reason": "", "stateReason": None,
        "tags": dict(tags or {}), "new": new,
    }
    return st.add("instance", r)


def attach_volume(st, inst, vol, device, at, delete_on_termination):
    vol["attachments"] = [{"instanceId": inst["id"], "device": device, "attachTime": at,
                           "deleteOnTermination": delete_on_termination}]
    vol["state"] = "in-use"
    inst["devices"].append({"device": device, "volumeId": vol["id"], "attachTime": at,
                            "deleteOnTermination": delete_on_termination})
    st.touch(vol)
    st.touch(inst)


def forget_instance(st, inst):
    """A terminated instance stops being listed after a while, as on AWS."""
    if inst["state"] == "terminated":
        st.coll("instance").remove(inst["id"])


# ---------------------------------------------------------------- bulk
def generate(st, n, epoch=None):
    """A deterministic inventory: 2 zones, 4 instances with 6 volumes, N completed
    snapshots of those volumes (Name tags snapshot-%06d, one a minute), and 2
    AMIs golden-1 and golden-2 with a snapshot each (not among the N)."""
    now = st.now() if epoch is None else epoch
    base = now - n * 60 - 86400 * 30
    vols = []
    for zi, az in enumerate(st.zones[:2]):
        for ii, role in enumerate(("db", "web")):
            name = "%s-%d" % (role, zi + 1)
            t = base + zi * 3600 + ii * 600
            inst = new_instance(st, az, "ami-0123456789abcdef0", "m5.large", "running",
                                t + 20, t + 10, tags={"Name": name, "role": role})
            sizes = [("/dev/xvda", 10)] + ([("/dev/sdf", 200 + 300 * zi)] if role == "db" else [])
            for j, (dev, size) in enumerate(sizes):
                v = st.add("volume", {
                    "id": st.new_id("volume"), "size": size, "az": az, "createTime": t + j,
                    "state": "available", "snapshotId": "", "volumeType": "gp3",
                    "iops": 3000, "encrypted": False, "attachments": [],
                    "tags": {"Name": "%s-%s" % (name, "boot" if j == 0 else "data")}})
                attach_volume(st, inst, v, dev, t + 10, j == 0)
                vols.append(v)
    owners = ["alice", "bob", "carol", "dave"]
    for k in range(n):
        v = vols[k % len(vols)]
        st.add("snapshot", {
            "id": st.new_id("snapshot"), "volumeId": v["id"], "volumeSize": v["size"],
            "description": "bench snapshot %d" % k, "ownerId": st.account_id,
            "ownerAlias": None, "startTime": base + 86400 * 30 + k * 60, "state": "completed",
            "doneAt": 0, "encrypted": False, "storageTier": "standard",
            "fullSize": v["size"] * (1 << 30) // 4 + k, "locked": False,
            "tags": {"Name": "snapshot-%06d" % k, "owner": owners[k % 4]}})
    # two AMIs, each of a fresh snapshot of a boot volume (so those snapshots are in use)
    for j in range(2):
        v = vols[0]
        t = base + 86400 * 30 + n * 60 + j * 60
        s = st.add("snapshot", {
            "id": st.new_id("snapshot"), "volumeId": v["id"], "volumeSize": v["size"],
            "description": "Created by CreateImage for golden-%d" % (j + 1),
            "ownerId": st.account_id, "ownerAlias": None, "startTime": t,
            "state": "completed", "doneAt": 0, "encrypted": False,
            "storageTier": "standard", "fullSize": v["size"] * (1 << 30) // 4,
            "locked": False, "tags": {}})
        st.add("image", {
            "id": st.new_id("image"), "name": "golden-%d" % (j + 1), "description": None,
            "creationDate": t + 30, "state": "available", "ownerId": st.account_id,
            "ownerAlias": None, "public": False, "rootDeviceName": "/dev/xvda",
            "bdm": [{"device": "/dev/xvda", "snapshotId": s["id"], "volumeSize": v["size"],
                     "volumeType": "gp3", "deleteOnTermination": True, "encrypted": False}],
            "tags": {"Name": "golden-%d" % (j + 1)}})
    return vols
