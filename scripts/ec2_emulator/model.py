"""Which request parameters each action takes, in the Query protocol's
serialised names (Filter.1.Value.2, TagSpecification.1.Tag.1.Key, ...).

The authority is botocore's service model (ec2/2016-11-15/service-2.json),
read at start when a copy is installed.  The EC2 protocol names a member by
its queryName, else its locationName with the first letter capitalised,
else the member name, and flattens every list as Name.N (botocore's
EC2Serializer).  A small built-in table covers the actions the emulator
implements, so it runs without botocore; it also carries what the API
gained after the installed model was cut (DescribeImages' MaxResults,
NextToken and IncludeDisabled).  A parameter in neither is UnknownParameter,
as on AWS.
"""

import json
import re

MODEL_PATHS = (
    "/usr/lib/python3/dist-packages/botocore/data/ec2/2016-11-15/service-2.json",
    "/usr/lib/python3/dist-packages/awscli/botocore/data/ec2/2016-11-15/service-2.json",
)

_FILTER = ["Filter.#.Name", "Filter.#.Value.#"]
_TAGSPEC = ["TagSpecification.#.ResourceType", "TagSpecification.#.Tag.#.Key",
            "TagSpecification.#.Tag.#.Value"]
_BDM = ["BlockDeviceMapping.#.DeviceName", "BlockDeviceMapping.#.VirtualName",
        "BlockDeviceMapping.#.NoDevice", "BlockDeviceMapping.#.Ebs.DeleteOnTermination:b",
        "BlockDeviceMapping.#.Ebs.Iops:i", "BlockDeviceMapping.#.Ebs.SnapshotId",
        "BlockDeviceMapping.#.Ebs.VolumeSize:i", "BlockDeviceMapping.#.Ebs.VolumeType",
        "BlockDeviceMapping.#.Ebs.KmsKeyId", "BlockDeviceMapping.#.Ebs.Throughput:i",
        "BlockDeviceMapping.#.Ebs.OutpostArn", "BlockDeviceMapping.#.Ebs.Encrypted:b"]
_PAGE = ["MaxResults:i", "NextToken"]

# action -> parameter patterns ("#" for a list index; ":i" integer, ":b" boolean)
BUILTIN = {
    "DescribeSnapshots": _FILTER + _PAGE + ["Owner.#", "RestorableBy.#", "SnapshotId.#"],
    "DescribeImages": _FILTER + _PAGE + ["ExecutableBy.#", "ImageId.#", "Owner.#",
                                         "IncludeDeprecated:b", "IncludeDisabled:b"],
    "DescribeVolumes": _FILTER + _PAGE + ["VolumeId.#"],
    "DescribeInstances": _FILTER + _PAGE + ["InstanceId.#"],
    "DescribeAvailabilityZones": _FILTER + ["ZoneName.#", "ZoneId.#", "AllAvailabilityZones:b"],
    "DescribeTags": _FILTER + _PAGE,
    "CreateSnapshot": _TAGSPEC + ["Description", "OutpostArn", "VolumeId"],
    "CreateImage": _TAGSPEC + _BDM + ["Description", "InstanceId", "Name", "NoReboot:b"],
    "DeregisterImage": ["ImageId"],
    "DeleteSnapshot": ["SnapshotId"],
    "CreateTags": ["ResourceId.#", "Tag.#.Key", "Tag.#.Value"],
    "DeleteTags": ["ResourceId.#", "Tag.#.Key", "Tag.#.Value"],
    "StopInstances": ["InstanceId.#", "Hibernate:b", "Force:b"],
    "StartInstances": ["InstanceId.#", "AdditionalInfo"],
    "TerminateInstances": ["InstanceId.#"],
    "CreateVolume": _TAGSPEC + ["AvailabilityZone", "Encrypted:b", "Iops:i", "KmsKeyId",
                                "OutpostArn", "Size:i", "SnapshotId", "VolumeType",
                                "MultiAttachEnabled:b", "Throughput:i", "ClientToken"],
    "RunInstances": _TAGSPEC + _BDM + [
        "ImageId", "InstanceType", "MinCount:i", "MaxCount:i", "KeyName", "SubnetId",
        "SecurityGroupId.#", "SecurityGroup.#", "UserData", "ClientToken",
        "Placement.AvailabilityZone", "Placement.Tenancy", "Placement.GroupName",
        "PrivateIpAddress", "EbsOptimized:b", "Monitoring.Enabled:b",
        "InstanceInitiatedShutdownBehavior", "DisableApiTermination:b"],
}
for _patterns in BUILTIN.values():
    _patterns.append("DryRun:b")

# Parameters of the protocol itself, never validated against an action.
COMMON = {"Action", "Version", "AWSAccessKeyId", "Signature", "SignatureMethod",
          "SignatureVersion", "Timestamp", "Expires", "SecurityToken"}

_INDEX = re.compile(r"(?<=\.)[0-9]+(?=\.|$)")


def pattern_of(key):
    """Filter.12.Value.3 -> Filter.#.Value.#"""
    return _INDEX.sub("#", key)


class Model:
    """The allowed parameters (pattern -> type letter) of every action."""

    def __init__(self, path=None):
        self.source = "built-in table"
        self.model = None
        self.cache = {}
        for p in ([path] if path else MODEL_PATHS):
            try:
                with open(p, encoding="utf-8") as f:
                    self.model = json.load(f)
                self.source = p
                break
            except (OSError, ValueError):
                continue

    def actions(self):
        names = set(BUILTIN)
        if self.model:
            names |= set(self.model.get("operations", {}))
        return names

    def has_shape_member(self, shape, member):
        if not self.model:
            return False
        return member in self.model.get("shapes", {}).get(shape, {}).get("members", {})

    def params(self, action):
        """{pattern: 's'|'i'|'b'} for an action, or None if the action is unknown."""
        if action in self.cache:
            return self.cache[action]
        out = None
        if action in BUILTIN:
            out = {}
            for p in BUILTIN[action]:
                name, _, t = p.partition(":")
                out[name] = t or "s"
        if self.model and action in self.model.get("operations", {}):
            out = out if out is not None else {}
            shape = self.model["operations"][action].get("input", {}).get("shape")
            if shape:
                self._walk(shape, "", out, 0)
        self.cache[action] = out
        return out

    def _walk(self, shape_name, prefix, out, depth):
        shapes = self.model["shapes"]
        shape = shapes.get(shape_name, {})
        t = shape.get("type")
        if depth > 8:
            return
        if t == "structure":
            for mname, m in shape.get("members", {}).items():
                name = m.get("queryName")
                if not name and m.get("locationName"):
                    name = m["locationName"][0].upper() + m["locationName"][1:]
                self._walk(m["shape"], (prefix + "." if prefix else "") + (name or mname),
                           out, depth + 1)
        elif t == "list":
            self._walk(shape["member"]["shape"], prefix + ".#", out, depth + 1)
        elif prefix:
            letter = {"integer": "i", "long": "i", "boolean": "b"}.get(t, "s")
            out.setdefault(prefix, letter)
