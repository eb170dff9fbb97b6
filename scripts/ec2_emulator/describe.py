"""The Describe* actions: owners, ids, filters, eventual consistency, paging."""

import re

from . import shapes
from .filters import compile_filters, wildcard
from .paging import make_token, page_size, read_token, walk
from .util import ApiError, invalid_value

ID_RE = {"snapshot": re.compile(r"^snap-([0-9a-f]{8}|[0-9a-f]{17})$"),
         "volume": re.compile(r"^vol-([0-9a-f]{8}|[0-9a-f]{17})$"),
         "image": re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$"),
         "instance": re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")}
MALFORMED = {"snapshot": "InvalidSnapshotID.Malformed", "volume": "InvalidVolumeID.Malformed",
             "image": "InvalidAMIID.Malformed", "instance": "InvalidInstanceID.Malformed"}


def not_found(kind, ids):
    if kind == "snapshot":
        return ApiError("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist." % ids[0])
    if kind == "volume":
        return ApiError("InvalidVolume.NotFound", "The volume '%s' does not exist." % ids[0])
    if kind == "image":
        return ApiError("InvalidAMIID.NotFound", "The image id '[%s]' does not exist"
                        % ", ".join(ids))
    if len(ids) == 1:
        return ApiError("InvalidInstanceID.NotFound",
                        "The instance ID '%s' does not exist" % ids[0])
    return ApiError("InvalidInstanceID.NotFound",
                    "The instance IDs '%s' do not exist" % ", ".join(ids))


def check_id(kind, rid):
    if not ID_RE[kind].match(rid):
        raise ApiError(MALFORMED[kind], 'Invalid id: "%s"' % rid)


def lookup(st, kind, rid, visible_only=False):
    """The resource, or the API's Malformed / NotFound error."""
    check_id(kind, rid)
    r = st.coll(kind).get(rid)
    if r is None or (visible_only and not st.visible(r)):
        raise not_found(kind, [rid])
    return r


def _owner_pred(st, owners, r):
    if not owners:
        return True
    for o in owners:
        if o == "self" and r["ownerId"] == st.account_id:
            return True
        if o == r["ownerId"] or (o == r.get("ownerAlias") and o):
            return True
    return False


def _by_ids(st, kind, ids):
    for rid in ids:
        check_id(kind, rid)
    missing = [rid for rid in ids
               if st.coll(kind).get(rid) is None or not st.visible(st.coll(kind).get(rid))]
    if missing:
        raise not_found(kind, missing)
    return [st.coll(kind).get(rid) for rid in dict.fromkeys(ids)]


def _listing(api, action, kind, p, ids_param, lo, hi, extra_pred=None):
    """-> (resources of this page, next token or None)"""
    st = api.state
    ids = p.list(ids_param)
    limit = page_size(p, lo, hi, ids_param + "s", bool(ids))
    match = compile_filters(kind, p.filters())
    now = st.now()

    def pred(r):
        return st.visible(r, now) and (extra_pred is None or extra_pred(r)) and match(r)
    if ids:
        return [r for r in _by_ids(st, kind, ids) if pred(r)], None
    after = read_token(action, p.p, p.get("NextToken")) if p.get("NextToken") else None
    items, last = walk(st.coll(kind), after, limit, pred)
    return items, (make_token(action, p.p, last) if last is not None else None)


def _set(name, chunks):
    if not chunks:
        return ("<%s/>" % name).encode()
    return b"".join([("<%s>" % name).encode()] + chunks + [("</%s>" % name).encode()])


def describe_snapshots(api, p):
    st = api.state
    owners = p.list("Owner")
    items, token = _listing(api, "DescribeSnapshots", "snapshot", p, "SnapshotId", 5, 1000,
                            lambda r: _owner_pred(st, owners, r))
    now = st.now()
    full = api.full_size_member
    chunks = [shapes.cached_item(st, r, lambda r=r: shapes.snapshot(st, r, now, full))
              for r in items]
    return {"snapshotSet": _set("snapshotSet", chunks), "nextToken": token}


def describe_images(api, p):
    st = api.state
    owners = p.list("Owner")
    items, token = _listing(api, "DescribeImages", "image", p, "ImageId", 5, 1000,
                            lambda r: _owner_pred(st, owners, r))
    chunks = [shapes.cached_item(st, r, lambda r=r: shapes.image(st, r)) for r in items]
    return {"imagesSet": _set("imagesSet", chunks), "nextToken": token}


def describe_volumes(api, p):
    st = api.state
    items, token = _listing(api, "DescribeVolumes", "volume", p, "VolumeId", 5, 500)
    chunks = [shapes.cached_item(st, r, lambda r=r: shapes.volume(st, r)) for r in items]
    return {"volumeSet": _set("volumeSet", chunks), "nextToken": token}


def describe_instances(api, p):
    st = api.state
    items, token = _listing(api, "DescribeInstances", "instance", p, "InstanceId", 5, 1000)
    reservations = {}
    for r in items:
        reservations.setdefault(r["reservationId"], []).append(r)
    chunks = []
    for resid, insts in reservations.items():
        inner = [shapes.cached_item(st, r, lambda r=r: shapes.instance(st, r)) for r in insts]
        out = ["<item><reservationId>%s</reservationId><ownerId>%s</ownerId><groupSet/>"
               % (resid, st.account_id)]
        chunks.append("".join(out).encode() + _set("instancesSet", inner) + b"</item>")
    return {"reservationSet": _set("reservationSet", chunks), "nextToken": token}


_DIRS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
         "northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}


def zone_id_prefix(region):
    """us-east-1 -> use1, ap-northeast-1 -> apne1 (AWS's zone id names)."""
    parts = region.split("-")
    if len(parts) < 3:
        return region
    return parts[0] + "".join(_DIRS.get(w, w[:1]) for w in parts[1:-1]) + parts[-1]


def describe_availability_zones(api, p):
    st = api.state
    zones = []
    for i, z in enumerate(st.zones):
        zones.append({"zoneName": z, "zoneState": "available", "regionName": st.region,
                      "zoneId": "%s-az%d" % (zone_id_prefix(st.region), i + 1),
                      "optInStatus": "opt-in-not-required", "messageSet": [],
                      "groupName": st.region, "networkBorderGroup": st.region,
                      "zoneType": "availability-zone"})
    names = p.list("ZoneName")
    for n in names:
        if n not in st.zones:
            raise invalid_value("Invalid availability zone: [%s]" % n)
    if names:
        zones = [z for z in zones if z["zoneName"] in names]
    ids = p.list("ZoneId")
    if ids:
        zones = [z for z in zones if z["zoneId"] in ids]
    key = {"zone-name": "zoneName", "zone-id": "zoneId", "state": "zoneState",
           "region-name": "regionName", "zone-type": "zoneType", "group-name": "groupName",
           "opt-in-status": "optInStatus"}
    for name, values in p.filters():
        if name not in key:
            raise invalid_value("The filter '%s' is invalid" % name)
        zones = [z for z in zones if any(wildcard(v)(z[key[name]]) for v in values)]
    return {"availabilityZoneInfo": zones}


# filter name -> its place in a (resource id, resource type, key, value) row
TAG_FILTERS = {"resource-id": 0, "resource-type": 1, "key": 2, "value": 3}


def describe_tags(api, p):
    st = api.state
    limit = page_size(p, 5, 1000)
    tests = []
    for name, values in p.filters():
        if name.startswith("tag:") and len(name) > 4:
            tests.append(lambda t, k=name[4:], vs=values: t[2] == k and any(
                wildcard(v)(t[3]) for v in vs))
        elif name in TAG_FILTERS:
            idx = TAG_FILTERS[name]
            tests.append(lambda t, idx=idx, vs=values: any(wildcard(v)(t[idx]) for v in vs))
        else:
            raise invalid_value("The filter '%s' is invalid" % name)
    after = None
    if p.get("NextToken"):
        after = tuple(read_token("DescribeTags", p.p, p.get("NextToken")))
    now = st.now()
    rows = []
    for kind in ("image", "instance", "snapshot", "volume"):
        for r in st.coll(kind).items.values():
            if not r["tags"] or not st.visible(r, now):
                continue
            for k, v in r["tags"].items():
                rows.append((r["id"], kind, k, v))
    rows.sort()
    out, token = [], None
    for t in rows:
        if after is not None and t[:3] <= after:
            continue
        if not all(test(t) for test in tests):
            continue
        if limit is not None and len(out) >= limit:
            token = make_token("DescribeTags", p.p, list(out[-1][:3]))
            break
        out.append(t)
    items = [{"resourceId": t[0], "resourceType": t[1], "key": t[2], "value": t[3]}
             for t in out]
    return {"tagSet": items, "nextToken": token}

