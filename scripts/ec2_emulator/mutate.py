"""The actions that change things: snapshots, images, tags, instance power,
volumes and instances (the last two for restores).  Each validates all of
its input before it changes anything, so a refused call changes nothing."""

import re
import time

from . import shapes
from .describe import ID_RE, check_id, lookup, not_found
from .store import attach_volume, forget_instance, new_instance
from .util import ApiError, invalid_value, missing

GIB = 1 << 30
TAG_LIMIT = 50
AMI_NAME_RE = re.compile(r"^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$")
VOLUME_TYPES = ("standard", "io1", "io2", "gp2", "gp3", "sc1", "st1")
BACKUP_TAG_PREFIX = "aws:backup:"


def _gmt(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S GMT", time.gmtime(epoch))


# ------------------------------------------------------------------ tags
def check_tags(tags):
    for k, v in tags:
        if not 1 <= len(k) <= 128:
            raise invalid_value("Tag key exceeds the maximum length of 128 characters"
                                if k else "Tag key cannot be empty")
        if k.lower().startswith("aws:"):
            raise invalid_value("Value ( %s ) for parameter key is invalid. Tag keys starting "
                                "with 'aws:' are reserved for internal use" % k)
        if v is not None and len(v) > 256:
            raise invalid_value("Tag value exceeds the maximum length of 256 characters")


def tag_specs(p, allowed):
    specs = p.tag_specs()
    for rt, tags in specs.items():
        if rt not in allowed:
            raise invalid_value("'%s' is not a valid taggable resource type for this operation."
                                % rt)
        check_tags(tags)
        if len(dict(tags)) > TAG_LIMIT:
            raise ApiError("TagLimitExceeded", "The maximum number of Tags for a resource has "
                           "been reached.")
    return {rt: dict(tags) for rt, tags in specs.items()}


def _resources(st, ids):
    out = []
    for rid in ids:
        kind = next((k for k, rx in ID_RE.items() if rx.match(rid)), None)
        if kind is None:
            raise ApiError("InvalidID", "The ID '%s' is not valid" % rid)
        r = st.coll(kind).get(rid)
        if r is None:
            raise not_found(kind, [rid])
        out.append(r)
    return out


def create_tags(api, p):
    st = api.state
    ids = p.list("ResourceId")
    if not ids:
        raise missing("ResourceId")
    tags = p.tags()
    if not tags:
        raise missing("Tag")
    check_tags(tags)
    rs = _resources(st, ids)
    for r in rs:
        merged = dict(r["tags"])
        merged.update((k, v or "") for k, v in tags)
        if len(merged) > TAG_LIMIT:
            raise ApiError("TagLimitExceeded", "The maximum number of Tags for a resource has "
                           "been reached.")
    for r in rs:
        for k, v in tags:
            r["tags"][k] = v or ""
        st.touch(r)
    return {"return": True}


def delete_tags(api, p):
    """A tag given with a Value goes only if its value is that one (the empty
    string included); without a Value, whatever its value; no tags at all:
    every tag but AWS's own aws:* ones."""
    st = api.state
    ids = p.list("ResourceId")
    if not ids:
        raise missing("ResourceId")
    tags = p.tags()
    check_tags(tags)
    rs = _resources(st, ids)
    for r in rs:
        if not tags:
            for k in [k for k in r["tags"] if not k.lower().startswith("aws:")]:
                del r["tags"][k]
        for k, v in tags:
            if k in r["tags"] and (v is None or r["tags"][k] == v):
                del r["tags"][k]
        st.touch(r)
    return {"return": True}


# ------------------------------------------------------------- snapshots
def new_snapshot(api, vol, description, tags):
    st = api.state
    now = st.now()
    s = st.add("snapshot", {
        "id": st.new_id("snapshot"), "volumeId": vol["id"], "volumeSize": vol["size"],
        "description": description, "ownerId": st.account_id, "ownerAlias": None,
        "startTime": now, "state": "pending", "doneAt": now + st.snapshot_seconds,
        "encrypted": vol["encrypted"], "storageTier": "standard",
        "fullSize": vol["size"] * GIB // 3, "locked": False, "tags": dict(tags), "new": True})

    def done():
        if st.coll("snapshot").get(s["id"]) is s and s["state"] == "pending":
            s["state"] = "completed"
            st.touch(s)
    st.schedule(s["doneAt"], done)
    return s


def create_snapshot(api, p):
    st = api.state
    vid = p.required("VolumeId")
    tags = tag_specs(p, ("snapshot",))
    vol = lookup(st, "volume", vid)
    if vol["state"] not in ("available", "in-use"):
        raise ApiError("IncorrectState", "The volume '%s' is in the '%s' state."
                       % (vid, vol["state"]))
    s = new_snapshot(api, vol, p.get("Description", ""), tags.get("snapshot", {}))
    out = shapes.snapshot(st, s, st.now())
    for k in ("ownerAlias", "storageTier"):
        out.pop(k, None)
    return out


def delete_snapshot(api, p):
    st = api.state
    sid = p.required("SnapshotId")
    s = lookup(st, "snapshot", sid)
    if s["ownerId"] != st.account_id:
        raise ApiError("UnauthorizedOperation", "You are not authorized to perform this "
                       "operation.", status=403)
    for m in st.coll("image").items.values():
        if any(b["snapshotId"] == sid for b in m["bdm"]):
            raise ApiError("InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s"
                           % (sid, m["id"]))
    if any(k.startswith(BACKUP_TAG_PREFIX) for k in s["tags"]):
        raise invalid_value(
            "This snapshot is managed by the AWS Backup service and cannot be deleted via EC2 "
            "APIs. If you wish to delete this snapshot, please do so via the Backup console.  "
            "arn=arn:aws:ec2:%s:%s:snapshot/%s" % (st.region, st.account_id, sid))
    if s.get("locked"):
        raise invalid_value("The snapshot %s is locked and cannot be deleted." % sid)
    st.coll("snapshot").remove(sid)
    return {"return": True}


# ----------------------------------------------------------------- images
def create_image(api, p):
    st = api.state
    iid = p.required("InstanceId")
    name = p.required("Name")
    tags = tag_specs(p, ("image", "snapshot"))
    inst = lookup(st, "instance", iid)
    if not AMI_NAME_RE.match(name):
        raise ApiError("InvalidAMIName.Malformed",
                       "AMI names must be between 3 and 128 characters long, and may contain "
                       "letters, numbers, '(', ')', '.', '-', '/' and '_'")
    for m in st.coll("image").items.values():
        if m["name"] == name and m["ownerId"] == st.account_id:
            raise ApiError("InvalidAMIName.Duplicate",
                           "AMI name %s is already in use by AMI %s" % (name, m["id"]))
    if inst["state"] not in ("running", "stopped"):
        raise ApiError("IncorrectInstanceState", "Instance '%s' is not in a state from which "
                       "it can be imaged." % iid)
    now = st.now()
    aid = st.new_id("image")
    bdm, snaps = [], []
    for d in inst["devices"]:
        vol = st.coll("volume").get(d["volumeId"])
        if vol is None:
            continue
        s = new_snapshot(api, vol, "Created by CreateImage(%s) for %s" % (iid, aid),
                         tags.get("snapshot", {}))
        snaps.append(s)
        bdm.append({"device": d["device"], "snapshotId": s["id"], "volumeSize": vol["size"],
                    "volumeType": vol["volumeType"], "deleteOnTermination":
                    d["deleteOnTermination"], "encrypted": vol["encrypted"]})
    m = st.add("image", {
        "id": aid, "name": name, "description": p.get("Description"), "creationDate": now,
        "state": "pending", "ownerId": st.account_id, "ownerAlias": None, "public": False,
        "rootDeviceName": inst["rootDeviceName"], "bdm": bdm,
        "tags": tags.get("image", {}), "new": True})
    ready = max([s["doneAt"] for s in snaps] + [now]) + st.image_seconds

    def available():
        if st.coll("image").get(aid) is m and m["state"] == "pending":
            m["state"] = "available"
            st.touch(m)
    st.schedule(ready, available)
    return {"imageId": aid}


def deregister_image(api, p):
    st = api.state
    aid = p.required("ImageId")
    lookup(st, "image", aid)
    st.coll("image").remove(aid)
    return {"return": True}


# -------------------------------------------------------------- instances
def _instances(st, p):
    ids = p.list("InstanceId")
    if not ids:
        raise missing("InstanceId")
    for rid in ids:
        check_id("instance", rid)
    gone = [rid for rid in ids if st.coll("instance").get(rid) is None]
    if gone:
        raise not_found("instance", gone)
    return [st.coll("instance").get(rid) for rid in dict.fromkeys(ids)]


def _change(r, before):
    return {"instanceId": r["id"], "currentState": shapes.instance_state(r["state"]),
            "previousState": shapes.instance_state(before)}


def _later(st, r, expect, then, extra=None):
    def fn():
        if r["state"] == expect:
            r["state"] = then
            if extra:
                extra()
            st.touch(r)
    st.schedule(st.now() + st.instance_seconds, fn)


def stop_instances(api, p):
    st = api.state
    rs = _instances(st, p)
    for r in rs:
        if r["state"] in ("pending", "shutting-down", "terminated"):
            raise ApiError("IncorrectInstanceState", "This instance '%s' is not in a state "
                           "from which it can be stopped." % r["id"])
    out = []
    for r in rs:
        before = r["state"]
        if before == "running":
            r["state"] = "stopping"
            r["reason"] = "User initiated (%s)" % _gmt(st.now())
            r["stateReason"] = {"code": "Client.UserInitiatedShutdown",
                                "message": "Client.UserInitiatedShutdown: User initiated "
                                           "shutdown"}
            st.touch(r)
            _later(st, r, "stopping", "stopped")
        out.append(_change(r, before))
    return {"instancesSet": out}


def start_instances(api, p):
    st = api.state
    rs = _instances(st, p)
    for r in rs:
        if r["state"] in ("stopping", "shutting-down", "terminated"):
            raise ApiError("IncorrectInstanceState", "The instance '%s' is not in a state from "
                           "which it can be started." % r["id"])
    out = []
    for r in rs:
        before = r["state"]
        if before == "stopped":
            r["state"] = "pending"
            r["launchTime"] = st.now()
            r["reason"] = ""
            r["stateReason"] = None
            st.touch(r)
            _later(st, r, "pending", "running")
        out.append(_change(r, before))
    return {"instancesSet": out}


def terminate_instances(api, p):
    st = api.state
    rs = _instances(st, p)
    out = []
    for r in rs:
        before = r["state"]
        if before not in ("shutting-down", "terminated"):
            r["state"] = "shutting-down"
            r["reason"] = "User initiated (%s)" % _gmt(st.now())
            r["stateReason"] = {"code": "Client.UserInitiatedShutdown",
                                "message": "Client.UserInitiatedShutdown: User initiated "
                                           "shutdown"}
            st.touch(r)

            def gone(r=r):
                for d in r["devices"]:
                    vol = st.coll("volume").get(d["volumeId"])
                    if vol is None:
                        continue
                    if d["deleteOnTermination"]:
                        st.coll("volume").remove(vol["id"])
                    else:
                        vol["attachments"] = []
                        vol["state"] = "available"
                        st.touch(vol)
                r["devices"] = []
                st.schedule(st.now() + st.terminated_linger, lambda: forget_instance(st, r))
            _later(st, r, "shutting-down", "terminated", gone)
        out.append(_change(r, before))
    return {"instancesSet": out}


# ---------------------------------------------------------- restore side
def _zone(st, az):
    if az not in st.zones:
        raise invalid_value("Invalid availability zone: [%s]" % az)
    return az


def _volume_ready(st, v):
    def fn():
        if v["state"] == "creating":
            v["state"] = "in-use" if v["attachments"] else "available"
            st.touch(v)
    st.schedule(st.now() + st.volume_seconds, fn)


def _token_seen(st, action, p):
    """ClientToken idempotency (EC2 API reference, "Ensuring idempotency"): a
    repeat of a token with the same parameters gets the first call's result
    (only the state may differ); a repeat that changes another parameter is
    IdempotentParameterMismatch. Returns what the first call stored, or None."""
    token = p.get("ClientToken")
    if not token:
        return None
    seen = st.client_tokens.get((action, token))
    if seen is None:
        return None
    params, result = seen
    if params != _token_params(p):
        raise ApiError("IdempotentParameterMismatch",
                       "Client token %s was used with other parameters in an earlier %s "
                       "request." % (token, action))
    return result


def _token_params(p):
    return tuple(sorted((k, v) for k, v in p.p.items() if k != "ClientToken"))


def create_volume(api, p):
    st = api.state
    az = _zone(st, p.required("AvailabilityZone"))
    token = p.get("ClientToken")
    vid = _token_seen(st, "CreateVolume", p)
    if vid is not None:
        v = st.coll("volume").get(vid)
        if v is not None:
            return shapes.volume(st, v)
    tags = tag_specs(p, ("volume",))
    vtype = p.get("VolumeType", "gp2")
    if vtype not in VOLUME_TYPES:
        raise invalid_value("Value (%s) for parameter volumeType is invalid." % vtype)
    sid = p.get("SnapshotId")
    size = p.int("Size")
    snap = None
    if sid:
        snap = lookup(st, "snapshot", sid)
        if snap["state"] != "completed":
            raise ApiError("IncorrectState", "Snapshot is in invalid state - %s" % snap["state"])
        if size is None:
            size = snap["volumeSize"]
        elif size < snap["volumeSize"]:
            raise invalid_value("The volume size is invalid for the given snapshot (snapshot "
                                "size: %d GiB, requested: %d GiB)." % (snap["volumeSize"], size))
    if size is None:
        raise missing("size/snapshot")
    if not 1 <= size <= 16384:
        raise invalid_value("Volume size must be between 1 and 16384 GiB, not %d." % size)
    v = st.add("volume", {
        "id": st.new_id("volume"), "size": size, "az": az, "createTime": st.now(),
        "state": "creating", "snapshotId": sid or "", "volumeType": vtype,
        "iops": p.int("Iops", 3000 if vtype == "gp3" else max(100, 3 * size)),
        "encrypted": p.bool("Encrypted") or bool(snap and snap["encrypted"]),
        "attachments": [], "tags": tags.get("volume", {}), "new": True})
    _volume_ready(st, v)
    if token:
        st.client_tokens[("CreateVolume", token)] = (_token_params(p), v["id"])
    return shapes.volume(st, v)


def run_instances(api, p):
    st = api.state
    if not p.has("MinCount"):
        raise missing("MinCount")
    if not p.has("MaxCount"):
        raise missing("MaxCount")
    lo, hi = p.int("MinCount"), p.int("MaxCount")
    if lo < 1 or hi < lo:
        raise invalid_value("Invalid MinCount/MaxCount: %d/%d" % (lo, hi))
    token = p.get("ClientToken")
    first = _token_seen(st, "RunInstances", p)
    if first is not None:
        # the first answer, with each instance's state as it is now
        out = dict(first)
        out["instancesSet"] = [shapes.instance(st, st.coll("instance").get(i["instanceId"]))
                               if st.coll("instance").get(i["instanceId"]) is not None else i
                               for i in first["instancesSet"]]
        return out
    aid = p.get("ImageId")
    if not aid:
        raise missing("ImageId")
    img = lookup(st, "image", aid)
    if img["state"] != "available":
        raise ApiError("InvalidAMIID.Unavailable", "The image '%s' is not available: its state "
                       "is %s" % (aid, img["state"]))
    az = _zone(st, p.get("Placement.AvailabilityZone") or st.zones[0])
    tags = tag_specs(p, ("instance", "volume", "network-interface"))
    for b in img["bdm"]:
        if b["snapshotId"] and st.coll("snapshot").get(b["snapshotId"]) is None:
            raise ApiError("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist."
                           % b["snapshotId"])
    now = st.now()
    resid = st.new_id("reservation")
    made = []
    for i in range(hi):
        inst = new_instance(st, az, aid, p.get("InstanceType", "m1.small"), "pending", now, now,
                            tags=tags.get("instance", {}), reservation=resid, index=i, new=True)
        inst["rootDeviceName"] = img["rootDeviceName"]
        inst["clientToken"] = token
        for b in img["bdm"]:
            v = st.add("volume", {
                "id": st.new_id("volume"), "size": b["volumeSize"], "az": az,
                "createTime": now, "state": "creating", "snapshotId": b["snapshotId"] or "",
                "volumeType": b["volumeType"], "iops": 3000, "encrypted": b["encrypted"],
                "attachments": [], "tags": dict(tags.get("volume", {})), "new": True})
            attach_volume(st, inst, v, b["device"], now, b["deleteOnTermination"])
            _volume_ready(st, v)
        _later(st, inst, "pending", "running")
        made.append(inst)
    out = {"reservationId": resid, "ownerId": st.account_id, "groupSet": [],
           "instancesSet": [shapes.instance(st, r) for r in made]}
    if token:
        st.client_tokens[("RunInstances", token)] = (_token_params(p), out)
    return out
