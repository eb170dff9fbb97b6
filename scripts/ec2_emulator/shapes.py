"""The API's output shapes: one emulator resource -> the XML members AWS
sends (element names are the service model's locationNames: snapshotSet/
item, tagSet/item, reservationSet/item/instancesSet/item, ...)."""

from .store import INSTANCE_CODES
from .util import fmt_time, item_xml


def tag_set(tags):
    if not tags:
        return None
    return [{"key": k, "value": v} for k, v in tags.items()]


def progress(st, s, now):
    if s["state"] != "pending":
        return "100%" if s["state"] == "completed" else s.get("progress", "0%")
    if s["doneAt"] <= s["startTime"]:
        return s.get("progress", "0%")            # seeded pending: stays as given
    total = s["doneAt"] - s["startTime"]
    pct = int(max(0.0, min(0.99, (now - s["startTime"]) / total)) * 100)
    return "%d%%" % pct


def snapshot(st, s, now, full_size_member=False):
    out = {
        "snapshotId": s["id"], "volumeId": s["volumeId"], "status": s["state"],
        "startTime": fmt_time(s["startTime"]), "progress": progress(st, s, now),
        "ownerId": s["ownerId"], "volumeSize": s["volumeSize"],
        "description": s["description"], "encrypted": s["encrypted"],
        "ownerAlias": s.get("ownerAlias"), "tagSet": tag_set(s["tags"]),
        "storageTier": s["storageTier"],
    }
    if full_size_member and s.get("fullSize") is not None and s["state"] == "completed":
        out["fullSnapshotSizeInBytes"] = s["fullSize"]
    return out


def image(st, m):
    bdm = []
    for b in m["bdm"]:
        bdm.append({"deviceName": b["device"], "ebs": {
            "deleteOnTermination": b["deleteOnTermination"], "snapshotId": b["snapshotId"],
            "volumeSize": b["volumeSize"], "volumeType": b["volumeType"],
            "encrypted": b["encrypted"]}})
    return {
        "imageId": m["id"], "imageLocation": "%s/%s" % (m["ownerId"], m["name"]),
        "imageState": m["state"], "imageOwnerId": m["ownerId"],
        "creationDate": fmt_time(m["creationDate"]), "isPublic": m["public"],
        "architecture": "x86_64", "imageType": "machine",
        "platformDetails": "Linux/UNIX", "usageOperation": "RunInstances",
        "imageOwnerAlias": m.get("ownerAlias"), "name": m["name"],
        "description": m.get("description"), "rootDeviceType": "ebs",
        "rootDeviceName": m["rootDeviceName"], "blockDeviceMapping": bdm,
        "virtualizationType": "hvm", "tagSet": tag_set(m["tags"]),
        "hypervisor": "xen", "enaSupport": True, "sriovNetSupport": "simple",
        "stateReason": m.get("stateReason"),
    }


def volume(st, v):
    att = [{"volumeId": v["id"], "instanceId": a["instanceId"], "device": a["device"],
            "status": "attached", "attachTime": fmt_time(a["attachTime"]),
            "deleteOnTermination": a["deleteOnTermination"]} for a in v["attachments"]]
    return {
        "volumeId": v["id"], "size": v["size"], "snapshotId": v["snapshotId"],
        "availabilityZone": v["az"], "status": v["state"],
        "createTime": fmt_time(v["createTime"]), "attachmentSet": att,
        "tagSet": tag_set(v["tags"]), "volumeType": v["volumeType"],
        "iops": v.get("iops"), "encrypted": v["encrypted"],
        "multiAttachEnabled": False,
    }


def instance_state(name):
    return {"code": INSTANCE_CODES.get(name, 0), "name": name}


def instance(st, r):
    running = r["state"] in ("pending", "running")
    bdm = [{"deviceName": d["device"], "ebs": {
        "volumeId": d["volumeId"], "status": "attached",
        "attachTime": fmt_time(d["attachTime"]),
        "deleteOnTermination": d["deleteOnTermination"]}} for d in r["devices"]]
    eni = None
    if r["state"] != "terminated":
        eni = [{
            "networkInterfaceId": r["eniId"], "subnetId": "subnet-0a1b2c3d4e5f60718",
            "vpcId": "vpc-0a1b2c3d4e5f60718", "description": "", "ownerId": st.account_id,
            "status": "in-use", "macAddress": r["mac"], "privateIpAddress": r["privateIp"],
            "sourceDestCheck": True, "groupSet": [],
            "attachment": {"attachmentId": r["eniAttachId"], "deviceIndex": 0,
                           "status": "attached", "attachTime": fmt_time(r["attachTime"]),
                           "deleteOnTermination": True, "networkCardIndex": 0},
            "privateIpAddressesSet": [{"privateIpAddress": r["privateIp"], "primary": True}],
            "ipv6AddressesSet": [], "interfaceType": "interface"}]
    return {
        "instanceId": r["id"], "imageId": r["imageId"],
        "instanceState": instance_state(r["state"]),
        "privateDnsName": "ip-%s.ec2.internal" % r["privateIp"].replace(".", "-")
        if r["state"] != "terminated" else "",
        "dnsName": "", "reason": r["reason"], "amiLaunchIndex": r["amiLaunchIndex"],
        "productCodes": [], "instanceType": r["instanceType"],
        "launchTime": fmt_time(r["launchTime"]),
        "placement": {"availabilityZone": r["az"], "groupName": "", "tenancy": "default"},
        "monitoring": {"state": "disabled"},
        "subnetId": "subnet-0a1b2c3d4e5f60718" if r["state"] != "terminated" else None,
        "vpcId": "vpc-0a1b2c3d4e5f60718" if r["state"] != "terminated" else None,
        "privateIpAddress": r["privateIp"] if r["state"] != "terminated" else None,
        "sourceDestCheck": True, "groupSet": [],
        "stateReason": r["stateReason"], "architecture": "x86_64",
        "rootDeviceType": "ebs", "rootDeviceName": r["rootDeviceName"],
        "blockDeviceMapping": bdm, "virtualizationType": "hvm",
        "tagSet": tag_set(r["tags"]), "hypervisor": "xen",
        "networkInterfaceSet": eni, "ebsOptimized": False, "enaSupport": True,
        "metadataOptions": {"state": "applied", "httpTokens": "required",
                            "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled"},
        "platformDetails": "Linux/UNIX", "usageOperation": "RunInstances",
        "bootMode": "uefi-preferred" if running else None,
    }


def cached_item(st, r, render):
    """The <item> bytes of a resource, cached until it changes; a resource whose
    XML depends on the clock (a pending snapshot's progress) is never cached."""
    raw = r.get("xml")
    if raw is None:
        raw = item_xml(render())
        if r.get("state") not in ("pending",):
            r["xml"] = raw
    return raw
