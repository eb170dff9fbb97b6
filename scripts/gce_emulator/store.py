"""In-memory state of the emulated projects.

One RLock (State.lock) protects everything.  A project holds collections
(path -> Collection, e.g. "global/snapshots", "zones/us-central1-a/disks"),
each an ordered map name -> Entry with a sorted key list for paging, plus the
requestId map.  Every Entry caches its JSON bytes; whoever changes an entry's
document calls Collection.changed(entry) so the cache is rebuilt on the next
read.  Time-driven state changes (operations, CREATING -> READY, ...) are
events on a heap that State.advance() runs lazily at the start of each
request, so no timer thread is needed.
"""

import bisect
import heapq
import itertools
import random
import threading
import time

from .util import (PROJECTS_ROOT, ApiError, dumps, fmt_ts, label_fingerprint, parse_link,
                   parse_ts, region_of_zone, stable_id, storage_location)

# rtype -> (resource kind, list kind, default status, allowed scope types)
RTYPES = {
    "snapshots": ("compute#snapshot", "compute#snapshotList", "READY", ("global",)),
    "images": ("compute#image", "compute#imageList", "READY", ("global",)),
    "machineImages": ("compute#machineImage", "compute#machineImageList", "READY", ("global",)),
    "disks": ("compute#disk", "compute#diskList", "READY", ("zones", "regions")),
    "instances": ("compute#instance", "compute#instanceList", "RUNNING", ("zones",)),
    "operations": ("compute#operation", "compute#operationList", None, ("global", "zones", "regions")),
    "zones": ("compute#zone", "compute#zoneList", "UP", (None,)),
    "regions": ("compute#region", "compute#regionList", "UP", (None,)),
}
LABELLED = ("snapshots", "images", "machineImages", "disks", "instances")
EMPTY_TAGS_FINGERPRINT = "42WmSpB8rSM="   # what the API shows for an instance without tags
# Sorts after every valid name: keys for entries that have no usable name.
_ODD_PREFIX = "\U0010ffff"


class SeedError(Exception):
    pass


def split_collection_path(path):
    """'zones/Z/disks' -> ('zones', 'Z', 'disks'); None if not a collection."""
    parts = path.split("/") if isinstance(path, str) else []
    if len(parts) == 1 and parts[0] in ("zones", "regions"):
        return (None, None, parts[0])
    if len(parts) == 2 and parts[0] == "global" and parts[1] in RTYPES \
            and "global" in RTYPES[parts[1]][3]:
        return ("global", None, parts[1])
    if len(parts) == 3 and parts[0] in ("zones", "regions") and parts[1] \
            and parts[2] in RTYPES and parts[0] in RTYPES[parts[2]][3]:
        return (parts[0], parts[1], parts[2])
    return None


class Entry:
    __slots__ = ("key", "doc", "raw", "ts")

    def __init__(self, key, doc):
        self.key = key
        self.doc = doc
        self.raw = None
        self.ts = _entry_ts(doc)

    def bytes(self):
        raw = self.raw
        if raw is None:
            raw = self.raw = dumps(self.doc)
        return raw


def _entry_ts(doc):
    if isinstance(doc, dict):
        t = parse_ts(doc.get("creationTimestamp"))
        if t is not None:
            return t
    return 0.0


class Collection:
    def __init__(self, project, path):
        self.project = project
        self.path = path
        self.scope_type, self.scope_name, self.rtype = split_collection_path(path)
        self.kind, self.list_kind, self.default_status, _ = RTYPES[self.rtype]
        self.entries = {}
        self.keys = []          # sorted keys (name order)
        self._ctd = None        # cached [(-ts, key)] for "creationTimestamp desc"
        self._odd = itertools.count()

    def link(self, name=None):
        base = PROJECTS_ROOT + self.project.name + "/" + self.path
        return base if name is None else base + "/" + name

    def rel(self, name):
        """projects/P/<path>/<name>, as the API's messages write it."""
        return "projects/%s/%s/%s" % (self.project.name, self.path, name)

    def get(self, name):
        return self.entries.get(name)

    def key_for(self, doc):
        name = doc.get("name") if isinstance(doc, dict) else None
        if isinstance(name, str) and name and not name.startswith(_ODD_PREFIX) \
                and name not in self.entries:
            return name
        return "%s%08d" % (_ODD_PREFIX, next(self._odd))

    def put(self, key, doc):
        e = self.entries.get(key)
        if e is None:
            e = self.entries[key] = Entry(key, doc)
            bisect.insort(self.keys, key)
            self._ctd = None
            self._observe(e, False)
        else:
            e.doc = doc
            self.changed(e)
        return e

    def remove(self, key):
        e = self.entries.pop(key, None)
        if e is not None:
            i = bisect.bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                del self.keys[i]
            self._ctd = None
            self._observe(e, True)
        return e

    def changed(self, e):
        e.raw = None
        ts = _entry_ts(e.doc)
        if ts != e.ts:
            e.ts = ts
            self._ctd = None
        self._observe(e, False)

    def _observe(self, e, deleted):
        """Tell the project's observer (the change feed, pubsub.py) of a change."""
        if self.project.observer is not None:
            self.project.observer(self, e, deleted)

    def order(self, order):
        """Keys in the requested order: 'name' -> names, 'ctd' -> (-ts, name)."""
        if order == "name":
            return self.keys
        if self._ctd is None:
            self._ctd = sorted((-e.ts, k) for k, e in self.entries.items())
        return self._ctd


class Project:
    def __init__(self, name, created):
        self.name = name
        self.id = stable_id("project", name)
        self.created = created
        self.colls = {}
        self.request_ids = {}       # requestId -> (ops collection path, op name)
        self.fixed_regions = set()  # regions seeded with their own `zones` list
        self.observer = None        # fn(coll, entry, deleted) after every change, or None

    def coll(self, path, create=True):
        c = self.colls.get(path)
        if c is None and create:
            c = self.colls[path] = Collection(self, path)
        return c

    def zone_names(self):
        c = self.colls.get("zones")
        return [k for k in c.keys if not k.startswith(_ODD_PREFIX)] if c else []

    def region_names(self):
        c = self.colls.get("regions")
        return [k for k in c.keys if not k.startswith(_ODD_PREFIX)] if c else []

    def has_scope(self, scope_type, scope_name):
        if scope_type in (None, "global"):
            return True
        c = self.colls.get(scope_type)
        return c is not None and scope_name in c.entries


class State:
    def __init__(self, default_project="demo-project", op_seconds=0.2, random_seed=None,
                 user=None, start_time=None):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.default_project = default_project
        self.projects = {}
        self.op_seconds = op_seconds
        self.rng = random.Random(random_seed)
        self.user = user
        self.clock_offset = 0.0
        self.load_time = start_time if start_time is not None else time.time()
        self._events = []
        self._seq = itertools.count()
        self.flush_fails = False
        self.op_error_rate = 0.0
        self.add_project(default_project)

    # -- time and events -------------------------------------------------
    def now(self):
        return time.time() + self.clock_offset

    def schedule(self, at, fn):
        heapq.heappush(self._events, (at, next(self._seq), fn))

    def advance(self):
        """Run every event that is due.  Caller holds the lock."""
        ev = self._events
        if not ev or ev[0][0] > self.now():
            return
        fired = False
        while ev and ev[0][0] <= self.now():
            _, _, fn = heapq.heappop(ev)
            fn()
            fired = True
        if fired:
            self.cond.notify_all()

    def next_event_time(self):
        return self._events[0][0] if self._events else None

    # -- projects ----------------------------------------------------------
    def add_project(self, name):
        p = self.projects.get(name)
        if p is None:
            p = self.projects[name] = Project(name, self.load_time)
            self._bind_observer(p)
        return p

    def set_observer(self, fn):
        """fn(project, coll, entry, deleted, now) after every change of a resource
        from now on, in every project (the change feed: pubsub.py)."""
        self._observer_fn = fn
        for p in self.projects.values():
            self._bind_observer(p)

    def _bind_observer(self, p):
        fn = getattr(self, "_observer_fn", None)
        p.observer = None if fn is None else (lambda c, e, d: fn(p, c, e, d, self.now()))

    def project(self, name):
        return self.projects.get(name)

    # -- scopes --------------------------------------------------------------
    def ensure_zone(self, proj, zone):
        zc = proj.coll("zones")
        if zone not in zc.entries:
            self.add_resource(proj, "zones", {"name": zone}, link=False)
        self.ensure_region(proj, region_of_zone(zone))

    def ensure_region(self, proj, region):
        rc = proj.coll("regions")
        if region not in rc.entries:
            self.add_resource(proj, "regions", {"name": region}, link=False)

    def ensure_scopes(self, proj, path):
        st, sn, _ = split_collection_path(path)
        if st == "zones":
            self.ensure_zone(proj, sn)
        elif st == "regions":
            self.ensure_region(proj, sn)

    # -- resources -------------------------------------------------------------
    def fill(self, proj, coll, doc):
        """Add the fields the API always sets and the document lacks."""
        if not isinstance(doc, dict):
            return doc
        rtype = coll.rtype
        name = doc.get("name")
        named = isinstance(name, str) and name != ""
        f = {"kind": coll.kind}
        if named:
            f["id"] = stable_id(proj.name, coll.path, name)
        f["creationTimestamp"] = fmt_ts(proj.created)
        if rtype in ("zones", "regions") and named:
            f["description"] = name
        if coll.default_status:
            f["status"] = coll.default_status
        if rtype in LABELLED:
            labels = doc.get("labels")
            if labels is None or isinstance(labels, dict):
                try:
                    f["labelFingerprint"] = label_fingerprint(labels or {})
                except (TypeError, ValueError):
                    pass
        if rtype == "instances":
            # The API always returns an instance's network tags with their
            # fingerprint (the fingerprint of no tags when there are none).
            f["tags"] = {"fingerprint": EMPTY_TAGS_FINGERPRINT}
        if coll.scope_type == "zones":
            f["zone"] = PROJECTS_ROOT + proj.name + "/zones/" + coll.scope_name
        elif coll.scope_type == "regions":
            f["region"] = PROJECTS_ROOT + proj.name + "/regions/" + coll.scope_name
        if rtype == "zones" and named:
            f["region"] = PROJECTS_ROOT + proj.name + "/regions/" + region_of_zone(name)
        if named:
            f["selfLink"] = coll.link(name)
        out = {k: f[k] for k in ("kind", "id", "creationTimestamp") if k in f and k not in doc}
        out.update(doc)
        for k, v in f.items():
            if k not in out:
                out[k] = v
        return out

    def add_resource(self, proj, path, doc, link=True, replace=True):
        """Add (or replace) a resource given in the API's JSON; returns the Entry."""
        self.ensure_scopes(proj, path)
        coll = proj.coll(path)
        if path == "zones" and isinstance(doc, dict) and isinstance(doc.get("name"), str) \
                and doc["name"]:
            self.ensure_region(proj, region_of_zone(doc["name"]))
        if path == "regions" and isinstance(doc, dict) and "zones" in doc:
            proj.fixed_regions.add(doc.get("name"))
        doc = self.fill(proj, coll, doc)
        name = doc.get("name") if isinstance(doc, dict) else None
        if replace and isinstance(name, str) and name in coll.entries:
            e = coll.put(name, doc)
        else:
            e = coll.put(coll.key_for(doc), doc)
        if link:
            self.link_pass(proj)
        return e

    def resolve(self, default_project, link, rtype=None):
        """A resource URL -> (Project, Collection, Entry) or None."""
        r = parse_link(link, default_project)
        if r is None:
            return None
        pname, parts = r
        proj = self.projects.get(pname)
        if proj is None or len(parts) < 2:
            return None
        cpath, name = "/".join(parts[:-1]), parts[-1]
        sp = split_collection_path(cpath)
        if sp is None or (rtype is not None and sp[2] != rtype):
            return None
        coll = proj.colls.get(cpath)
        if coll is None:
            return None
        e = coll.entries.get(name)
        if e is None or not isinstance(e.doc, dict):
            return None
        return proj, coll, e

    def link_pass(self, proj):
        """Fill fields that depend on other resources (after seeding)."""
        users = {}
        for path, coll in list(proj.colls.items()):
            if coll.rtype != "instances":
                continue
            for e in coll.entries.values():
                d = e.doc
                if not isinstance(d, dict) or not isinstance(d.get("disks"), list):
                    continue
                self_link = d.get("selfLink")
                for ad in d["disks"]:
                    src = ad.get("source") if isinstance(ad, dict) else None
                    r = self.resolve(proj.name, src, "disks")
                    if r and isinstance(self_link, str):
                        users.setdefault((r[1].path, r[2].key), []).append(self_link)
        for path, coll in list(proj.colls.items()):
            rt = coll.rtype
            for e in list(coll.entries.values()):
                d = e.doc
                if not isinstance(d, dict):
                    continue
                changed = False
                if rt == "disks" and "users" not in d and (path, e.key) in users:
                    d["users"] = users[(path, e.key)]
                    changed = True
                if rt in ("snapshots", "images"):
                    for src_field, id_field, src_type in (("sourceDisk", "sourceDiskId", "disks"),
                                                          ("sourceSnapshot", "sourceSnapshotId", "snapshots"),
                                                          ("sourceImage", "sourceImageId", "images")):
                        if rt == "snapshots" and src_field != "sourceDisk":
                            continue
                        if id_field in d or not isinstance(d.get(src_field), str):
                            continue
                        r = self.resolve(proj.name, d[src_field], src_type)
                        if r and "id" in r[2].doc:
                            d[id_field] = r[2].doc["id"]
                            changed = True
                if rt == "regions" and e.key not in proj.fixed_regions:
                    zl = [PROJECTS_ROOT + proj.name + "/zones/" + z
                          for z in proj.zone_names() if region_of_zone(z) == e.key]
                    if d.get("zones") != zl:
                        d["zones"] = zl
                        changed = True
                if changed:
                    coll.changed(e)

    def warm(self):
        """Serialize every entry once (so the first listing is as fast as the rest)."""
        for proj in self.projects.values():
            for coll in proj.colls.values():
                for e in coll.entries.values():
                    e.bytes()

    # -- operations ------------------------------------------------------------------
    def new_id(self):
        return str(self.rng.getrandbits(63) | (1 << 60))

    def start_operation(self, proj, scope_type, scope_name, op_type, target_link, target_id,
                        on_half=None, on_done=None, request_id=None, duration=None,
                        can_fail=True):
        """Create an Operation; returns its Entry.

        Timeline (d = op duration): PENDING at once, RUNNING at 0.1 d,
        progress 50 and on_half() at 0.5 d, on_done() then DONE at d.
        on_done(fail) finishes the change; fail is True when --op-error-rate
        picked this operation to fail (it must then undo the change).  It
        may return an error dict ({"errors": [...]}) to fail the op itself.
        """
        d = self.op_seconds if duration is None else duration
        now = self.now()
        ms = int(now * 1000)
        name = "operation-%d-%013x-%08x-%08x" % (ms, self.rng.getrandbits(52),
                                                 self.rng.getrandbits(32), self.rng.getrandbits(32))
        if scope_type == "zones":
            path = "zones/%s/operations" % scope_name
        elif scope_type == "regions":
            path = "regions/%s/operations" % scope_name
        else:
            path = "global/operations"
        coll = proj.coll(path)
        op = {
            "kind": "compute#operation",
            "id": self.new_id(),
            "name": name,
            "operationType": op_type,
            "targetLink": target_link,
            "targetId": target_id,
            "status": "PENDING",
            "user": self.user or ("emulator-user@%s.iam.gserviceaccount.com" % proj.name),
            "progress": 0,
            "insertTime": fmt_ts(now),
            "selfLink": coll.link(name),
        }
        if target_id is None:
            del op["targetId"]
        if scope_type == "zones":
            op["zone"] = PROJECTS_ROOT + proj.name + "/zones/" + scope_name
        elif scope_type == "regions":
            op["region"] = PROJECTS_ROOT + proj.name + "/regions/" + scope_name
        e = coll.put(name, op)
        if request_id:
            proj.request_ids[request_id] = (path, name)

        def running():
            op["status"] = "RUNNING"
            op["startTime"] = fmt_ts(self.now())
            coll.changed(e)

        def half():
            if on_half:
                on_half()
            op["progress"] = 50
            coll.changed(e)

        inject = bool(can_fail and self.op_error_rate and self.rng.random() < self.op_error_rate)

        def done():
            err = on_done(inject) if on_done else None
            if err is None and inject:
                err = {"errors": [{"code": "INTERNAL_ERROR",
                                   "message": "Internal error. Please try again or contact "
                                              "Google Support. (emulator --op-error-rate)"}],
                       "httpErrorStatusCode": 500, "httpErrorMessage": "INTERNAL SERVER ERROR"}
            if op.get("startTime") is None:
                op["startTime"] = fmt_ts(self.now())
            op["status"] = "DONE"
            op["progress"] = 100
            op["endTime"] = fmt_ts(self.now())
            if err:
                op["error"] = err
                op["httpErrorStatusCode"] = err.pop("httpErrorStatusCode", 400)
                op["httpErrorMessage"] = err.pop("httpErrorMessage", "BAD REQUEST")
            coll.changed(e)

        self.schedule(now + 0.1 * d, running)
        self.schedule(now + 0.5 * d, half)
        self.schedule(now + d, done)
        self.advance()
        return e


# ---------------------------------------------------------------------------
# seed files and generated inventories


def load_seed(state, data):
    """Load a seed: {collection path: [resource, ...]}.

    Keys: global/snapshots, global/images, global/machineImages,
    zones/ZONE/disks, zones/ZONE/instances, regions/REGION/disks, zones,
    regions, *operations; optionally prefixed with projects/PROJECT/.
    """
    if not isinstance(data, dict):
        raise SeedError("the seed must be a JSON object mapping collection paths to lists")
    touched = set()
    # zones and regions first so explicitly seeded ones win over derived ones
    keys = sorted(data, key=lambda k: (0 if k.split("/")[-1] in ("zones", "regions") else 1))
    for key in keys:
        items = data[key]
        pname, path = state.default_project, key.strip("/")
        if path.startswith("projects/"):
            parts = path.split("/", 2)
            if len(parts) < 3 or not parts[1]:
                raise SeedError("bad seed key %r" % key)
            pname, path = parts[1], parts[2]
        if split_collection_path(path) is None:
            raise SeedError("unknown collection %r in seed (expected e.g. global/snapshots, "
                            "zones/ZONE/disks, regions/REGION/disks, zones, regions)" % key)
        if not isinstance(items, list):
            raise SeedError("seed key %r must map to a list of resources" % key)
        proj = state.add_project(pname)
        touched.add(proj)
        state.ensure_scopes(proj, path)
        proj.coll(path)
        for doc in items:
            state.add_resource(proj, path, doc, link=False, replace=False)
    for proj in touched:
        state.link_pass(proj)


def generate(state, n, epoch=None):
    """A deterministic inventory: disks and instances in 2 zones, N snapshots."""
    proj = state.projects[state.default_project]
    now = state.load_time if epoch is None else epoch
    P = PROJECTS_ROOT + proj.name
    zones = ["us-central1-a", "europe-west1-b"]
    owners = ["alice", "bob", "carol", "dave"]
    tiers = ["gold", "silver", "bronze"]
    disks = []  # (collection path, doc)
    base_created = now - n * 60 - 86400 * 30

    def ts(t):
        return fmt_ts(t)

    for zi, z in enumerate(zones):
        state.ensure_zone(proj, z)
        for ii, role in enumerate(("db", "web")):
            iname = "%s-%d" % (role, zi + 1)
            ilink = "%s/zones/%s/instances/%s" % (P, z, iname)
            attached = []
            dnames = [(iname + "-boot", 10, True)]
            if role == "db":
                dnames.append((iname + "-data", 200 + 300 * zi, False))
            for idx, (dn, size, boot) in enumerate(dnames):
                ddoc = {
                    "name": dn,
                    "sizeGb": str(size),
                    "type": "%s/zones/%s/diskTypes/pd-balanced" % (P, z),
                    "creationTimestamp": ts(base_created + zi * 3600 + ii * 600 + idx),
                    "users": [ilink],
                    "physicalBlockSizeBytes": "4096",
                    "architecture": "X86_64",
                    "lastAttachTimestamp": ts(base_created + zi * 3600 + ii * 600 + 5),
                    "labels": {"owner": owners[(zi + ii) % 4], "role": role},
                }
                if boot:
                    ddoc["sourceImage"] = "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20240515"
                e = state.add_resource(proj, "zones/%s/disks" % z, ddoc, link=False)
                disks.append(("zones/%s/disks" % z, e.doc))
                attached.append({
                    "kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE",
                    "source": e.doc["selfLink"], "deviceName": dn, "index": idx, "boot": boot,
                    "autoDelete": boot, "interface": "SCSI", "diskSizeGb": str(size),
                    "architecture": "X86_64",
                })
            state.add_resource(proj, "zones/%s/instances" % z, {
                "name": iname,
                "machineType": "%s/zones/%s/machineTypes/e2-standard-2" % (P, z),
                "creationTimestamp": ts(base_created + zi * 3600 + ii * 600 + 10),
                "disks": attached,
                "labels": {"owner": owners[(zi + ii) % 4], "role": role},
                "cpuPlatform": "Intel Broadwell",
                "deletionProtection": False,
                "canIpForward": False,
                "startRestricted": False,
                "lastStartTimestamp": ts(base_created + zi * 3600 + ii * 600 + 20),
                "networkInterfaces": [{"kind": "compute#networkInterface", "name": "nic0",
                                       "network": P + "/global/networks/default",
                                       "networkIP": "10.%d.0.%d" % (zi + 128, ii + 2)}],
            }, link=False)
        e = state.add_resource(proj, "zones/%s/disks" % z, {
            "name": "scratch-%d" % (zi + 1), "sizeGb": "50",
            "type": "%s/zones/%s/diskTypes/pd-standard" % (P, z),
            "creationTimestamp": ts(base_created + zi * 3600 + 1800),
            "physicalBlockSizeBytes": "4096",
        }, link=False)
        disks.append(("zones/%s/disks" % z, e.doc))
    e = state.add_resource(proj, "regions/us-central1/disks", {
        "name": "shared-data", "sizeGb": "500",
        "type": P + "/regions/us-central1/diskTypes/pd-balanced",
        "creationTimestamp": ts(base_created + 7200),
        "replicaZones": [P + "/zones/us-central1-a", P + "/zones/us-central1-f"],
        "physicalBlockSizeBytes": "4096",
        "labels": {"owner": "carol", "role": "shared"},
    }, link=False)
    disks.append(("regions/us-central1/disks", e.doc))

    sc = proj.coll("global/snapshots")
    fps = {(a, b): label_fingerprint({"owner": owners[a], "tier": tiers[b]})
           for a in range(4) for b in range(3)}
    for i in range(n):
        _, d = disks[i % len(disks)]
        size = int(d["sizeGb"])
        stored = (((i * 7919) % 97) + 1) * size * (1 << 30) // 400
        doc = {
            "kind": "compute#snapshot",
            "id": stable_id(proj.name, "global/snapshots", i),
            "creationTimestamp": ts(now - (n - 1 - i) * 60),
            "name": "snap-%06d" % i,
            "status": "READY",
            "sourceDisk": d["selfLink"],
            "sourceDiskId": d["id"],
            "diskSizeGb": d["sizeGb"],
            "storageBytes": str(stored),
            "storageBytesStatus": "UP_TO_DATE",
            "storageLocations": [storage_location("us-central1" if "us-" in d["selfLink"] else "europe-west1")],
            "autoCreated": False,
            "snapshotType": "STANDARD",
            "architecture": "X86_64",
            "downloadBytes": str(stored + 1024),
            "creationSizeBytes": str(stored),
            "selfLink": sc.link("snap-%06d" % i),
        }
        if i % 10 != 9:
            doc["labels"] = {"owner": owners[i % 4], "tier": tiers[i % 3]}
            doc["labelFingerprint"] = fps[(i % 4, i % 3)]
        else:
            doc["labelFingerprint"] = label_fingerprint({})
        sc.put(doc["name"], doc)
    # one image and one machine image so every collection has something in it
    boot = disks[0][1]
    state.add_resource(proj, "global/images", {
        "name": "img-db-1-boot", "sourceDisk": boot["selfLink"], "sourceType": "RAW",
        "diskSizeGb": boot["sizeGb"], "archiveSizeBytes": str(3 * (1 << 30)),
        "creationTimestamp": ts(now - 86400), "storageLocations": ["us"],
        "labels": {"owner": "alice"}, "architecture": "X86_64",
    }, link=False)
    state.add_resource(proj, "global/machineImages", {
        "name": "mi-db-1",
        "sourceInstance": P + "/zones/us-central1-a/instances/db-1",
        "creationTimestamp": ts(now - 3600), "storageLocations": ["us"],
        "totalStorageBytes": str(14 * (1 << 30)),
        "savedDisks": [{"kind": "compute#savedDisk", "sourceDisk": dd["selfLink"],
                        "storageBytes": str(7 * (1 << 30)), "storageBytesStatus": "UP_TO_DATE",
                        "architecture": "X86_64"} for _, dd in disks[:2]],
        "labels": {"owner": "alice"},
    }, link=False)
    state.link_pass(proj)
