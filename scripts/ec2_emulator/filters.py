"""EC2 filters: Filter.N.Name with Filter.N.Value.M.  Names AND together,
values of one name OR together; a value may hold the wildcards * and ?
(\\ escapes them); tag:KEY matches the value of tag KEY, tag-key any key.
A filter name the action does not know is InvalidParameterValue ("The
filter 'x' is invalid"), as on AWS."""

import re

from .store import INSTANCE_CODES
from .util import fmt_time, invalid_value

_cache = {}


def wildcard(value):
    """The compiled match function of one filter value (cached)."""
    m = _cache.get(value)
    if m is None:
        out, i = [], 0
        while i < len(value):
            c = value[i]
            if c == "\\" and i + 1 < len(value):
                out.append(re.escape(value[i + 1]))
                i += 2
                continue
            out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
            i += 1
        m = _cache[value] = re.compile("".join(out) + r"\Z", re.S).match
        if len(_cache) > 10000:
            _cache.clear()
    return m


def _b(v):
    return "true" if v else "false"


def _snapshot(s, name):
    return {
        "description": lambda: [s["description"]],
        "encrypted": lambda: [_b(s["encrypted"])],
        "owner-alias": lambda: [s["ownerAlias"]] if s.get("ownerAlias") else [],
        "owner-id": lambda: [s["ownerId"]],
        "progress": lambda: ["100%"] if s["state"] == "completed" else [],
        "snapshot-id": lambda: [s["id"]],
        "start-time": lambda: [fmt_time(s["startTime"])],
        "status": lambda: [s["state"]],
        "storage-tier": lambda: [s["storageTier"]],
        "volume-id": lambda: [s["volumeId"]],
        "volume-size": lambda: [str(s["volumeSize"])],
    }.get(name)


def _image(m, name):
    return {
        "architecture": lambda: ["x86_64"],
        "block-device-mapping.snapshot-id": lambda: [b["snapshotId"] for b in m["bdm"]],
        "block-device-mapping.device-name": lambda: [b["device"] for b in m["bdm"]],
        "block-device-mapping.volume-size": lambda: [str(b["volumeSize"]) for b in m["bdm"]],
        "block-device-mapping.volume-type": lambda: [b["volumeType"] for b in m["bdm"]],
        "creation-date": lambda: [fmt_time(m["creationDate"])],
        "description": lambda: [m["description"]] if m.get("description") else [],
        "image-id": lambda: [m["id"]],
        "image-type": lambda: ["machine"],
        "is-public": lambda: [_b(m["public"])],
        "name": lambda: [m["name"]],
        "owner-id": lambda: [m["ownerId"]],
        "owner-alias": lambda: [m["ownerAlias"]] if m.get("ownerAlias") else [],
        "root-device-name": lambda: [m["rootDeviceName"]],
        "root-device-type": lambda: ["ebs"],
        "state": lambda: [m["state"]],
        "virtualization-type": lambda: ["hvm"],
    }.get(name)


def _volume(v, name):
    a = v["attachments"]
    return {
        "attachment.attach-time": lambda: [fmt_time(x["attachTime"]) for x in a],
        "attachment.delete-on-termination": lambda: [_b(x["deleteOnTermination"]) for x in a],
        "attachment.device": lambda: [x["device"] for x in a],
        "attachment.instance-id": lambda: [x["instanceId"] for x in a],
        "attachment.status": lambda: ["attached" for x in a],
        "availability-zone": lambda: [v["az"]],
        "create-time": lambda: [fmt_time(v["createTime"])],
        "encrypted": lambda: [_b(v["encrypted"])],
        "multi-attach-enabled": lambda: ["false"],
        "size": lambda: [str(v["size"])],
        "snapshot-id": lambda: [v["snapshotId"]],
        "status": lambda: [v["state"]],
        "volume-id": lambda: [v["id"]],
        "volume-type": lambda: [v["volumeType"]],
    }.get(name)


def _instance(r, name):
    d = r["devices"]
    return {
        "availability-zone": lambda: [r["az"]],
        "block-device-mapping.device-name": lambda: [x["device"] for x in d],
        "block-device-mapping.volume-id": lambda: [x["volumeId"] for x in d],
        "block-device-mapping.attach-time": lambda: [fmt_time(x["attachTime"]) for x in d],
        "block-device-mapping.status": lambda: ["attached" for x in d],
        "image-id": lambda: [r["imageId"]],
        "instance-id": lambda: [r["id"]],
        "instance-state-code": lambda: [str(INSTANCE_CODES[r["state"]])],
        "instance-state-name": lambda: [r["state"]],
        "instance-type": lambda: [r["instanceType"]],
        "launch-time": lambda: [fmt_time(r["launchTime"])],
        "network-interface.attachment.attach-time": lambda: [fmt_time(r["attachTime"])],
        "private-ip-address": lambda: [r["privateIp"]],
        "reservation-id": lambda: [r["reservationId"]],
        "root-device-name": lambda: [r["rootDeviceName"]],
        "root-device-type": lambda: ["ebs"],
    }.get(name)


FIELDS = {"snapshot": _snapshot, "image": _image, "volume": _volume, "instance": _instance}


def compile_filters(kind, filters):
    """[(name, [values])] -> a predicate on a resource; refuses unknown names."""
    fields = FIELDS[kind]
    tests = []
    for name, values in filters:
        if name.startswith("tag:") and len(name) > 4:
            key = name[4:]
            tests.append(lambda r, key=key, vals=values: key in r["tags"] and (
                not vals or any(wildcard(v)(r["tags"][key]) for v in vals)))
            continue
        if name == "tag-key":
            tests.append(lambda r, vals=values: any(
                wildcard(v)(k) for v in vals for k in r["tags"]))
            continue
        if name == "tag-value":
            tests.append(lambda r, vals=values: any(
                wildcard(v)(x) for v in vals for x in r["tags"].values()))
            continue
        if fields({"attachments": [], "devices": [], "bdm": []}, name) is None:
            raise invalid_value("The filter '%s' is invalid" % name)
        if not values:
            continue

        def test(r, name=name, vals=values):
            got = fields(r, name)()
            return any(wildcard(v)(g) for v in vals for g in got if g is not None)
        tests.append(test)
    return lambda r: all(t(r) for t in tests)
