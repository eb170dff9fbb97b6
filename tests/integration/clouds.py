"""clouds.py — a provider-neutral vocabulary for the integration tests, so one
test runs against scripts/gce-emulator and scripts/ec2-emulator alike
(parametrized, not copied).

A Cloud knows, for its provider: where the snapshot collection and a disk's
(volume's) snapshots view are in the mount, how to seed the same small
inventory (snapshot i of disk i % n_disks, created 7*i minutes ago, labels
owner/tier; disks data-D, instances db-Z owning the first two disks of their
zone), how to read a snapshot's labels and existence from the emulator's API,
how to change the cloud behind the mount's back, and how to switch the
emulator's faults. Where the AWS tree differs by design it is hidden here:
entries are named after Name tags, so the seed gives every resource the name
the GCE seed gives it ("snap-00003" is not shaped like an EC2 id), and the
Name tag itself is one of the user.* xattrs on AWS.

Usage: the `clouds` fixture (conftest.py) is parametrized over PROVIDERS;
clouds.start(n_snapshots, n_disks, policy=..., opts=...) -> (cloud, emu, m).
"""
import datetime as dt
import json
import urllib.request

import seeds

PROVIDERS = ["gce", "aws"]

# the fault switches both emulators have, under the same names
COMMON_FAULTS = ("failRate", "dropRate", "garbageRate", "slowRate", "slowSeconds")


def snap_name(i):
    return f"snap-{i:05d}"


def snap_labels(i):
    """The labels (tags) seeds.inventory gives snapshot i, on both clouds."""
    return {"owner": f"team-{i % 3}", "tier": "gold" if i % 5 == 0 else "bronze"}


def _control(emu, method, sub, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/{sub}", data=data,
                                 method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


class Cloud:
    name = None
    snapshots = None          # the snapshot collection, relative to the mount
    images = None
    ready = None              # a finished snapshot's status file
    emu_args = ()             # what the emulator is always started with
    delete_label = "clonefs-delete-at"

    def __init__(self, n_disks=2):
        self.n_disks = n_disks

    # --- the mount's paths ---
    def snapshot(self, name):
        return f"{self.snapshots}/{name}"

    def disk_snapshots(self, d=0):
        return f"{self.disk(d)}/snapshots"

    def trash(self):
        """Where rmdir in grace mode puts a snapshot."""
        return f".clonefs/trash/{self.snapshots}"

    def xattrs_of(self, i):
        """The user.* xattrs the mount shows on snapshot i of the seed."""
        return {f"user.{k}": v for k, v in snap_labels(i).items()}

    # --- the emulator's control side, common to both ---
    own_faults = ()           # this emulator's own fault switches, beyond COMMON_FAULTS

    def faults(self, emu, **kw):
        bad = [k for k in kw if k not in COMMON_FAULTS + self.own_faults]
        assert not bad, f"no such fault switch on both emulators: {bad}"
        return _control(emu, "POST", "faults", kw)

    def clear_faults(self, emu):
        off = {"failRate": 0, "dropRate": 0, "garbageRate": 0, "slowRate": 0}
        off.update({"opErrorRate": 0, "conflictRate": 0, "pageTokenTtl": None}
                   if self.name == "gce" else {"eventualSeconds": 0})
        return _control(emu, "POST", "faults", off)

    def requests(self, emu):
        return _control(emu, "GET", "requests")["requests"]

    def reset_requests(self, emu):
        _control(emu, "DELETE", "requests")


class Gce(Cloud):
    name = "gce"
    snapshots = "global/snapshots"
    images = "global/images"
    ready = "READY"

    def disk(self, d=0):
        return f"zones/{seeds.ZONES[d % len(seeds.ZONES)]}/disks/data-{d}"

    def instance(self, z=0):
        return f"zones/{seeds.ZONES[z]}/instances/db-{z}"

    def instance_clones(self, z=0):
        return f"{self.instance(z)}/clones"

    stopped = "TERMINATED"      # a stopped instance's status word
    in_use = "made from it"     # the log's reason for EBUSY on a snapshot an image uses
    own_faults = ("opErrorRate", "conflictRate", "pageTokenTtl")
    # a listing failing through each common fault switch: (the collection whose
    # last_error shows it, words of that error). A listing failing with no answer,
    # 5xx or 429 ends the pass, so those show on the first listing, zones.
    listing_faults = {"failRate": ("zones", ("HTTP 503", "HTTP 429")),
                      "dropRate": ("zones", ("GET zones",)),
                      "garbageRate": ("snapshots", ("JSON",))}
    # the faults that make a third of the API's answers fail or get lost
    thirty_percent = {"failRate": 0.15, "dropRate": 0.10, "garbageRate": 0.05}

    # names a user's mkdir gives that are not the API's (EINVAL), and label writes
    # outside the provider's rules (EINVAL)
    hostile_user_names = [b"Upper", b"under_score", b"caf\xc3\xa9", b"bad\xff\xfe",
                          b"new\nline", b"sp ace", b"-lead", b"1digit", b"trail-", b"x" * 64,
                          b"...", b"a\\b", b"%2e%2e"]
    hostile_labels = [(b"user.a/b", b"x"), (b"user..", b"x"), (b"user.\xff", b"x"),
                      (b"user.Key", b"x"), (b"user." + b"k" * 64, b"x"),
                      (b"user.ok", b"a\x00b"), (b"user.ok", b"\xc3\x89"),
                      (b"user.ok", b"Upper"), (b"user.ok", b"v" * 64)]
    disk_kind = "disk"          # a disk's "kind" in .clonefs/inventory.jsonl
    running = "RUNNING"
    stopping = ("STOPPING", "TERMINATED")
    image_ready = "READY"

    def slow_ops(self, seconds):
        """Emulator arguments: every operation (stop, start, create) takes `seconds`."""
        return ["--op-seconds", str(seconds)]

    def instance_state(self, emu, z=0):
        return emu.api("GET", self.instance(z))[1]["status"]

    def api_clones(self, emu, name):
        """The states of the instance clones (machine images) named `name`."""
        return [i["status"] for i in emu.list_all("global/machineImages") if i["name"] == name]

    def creates_sent(self, emu, d=0):
        """How many snapshot creates of disk d reached the API."""
        return sum(v for k, v in self.requests(emu).items()
                   if k.endswith(f"/disks/data-{d}/createSnapshot"))
    # snapshot names mkdir refuses (EINVAL): not a name the API takes
    bad_snapshot_names = ("Bad_Name", "x" * 64)

    def api_disk_labels(self, emu, d=0):
        st, body = emu.api("GET", self.disk(d))
        assert st == 200, body
        return body.get("labels", {})

    def stop_instance_elsewhere(self, emu, z=0):
        st, op = emu.api("POST", f"{self.instance(z)}/stop")
        assert st == 200, op
        emu.wait_operation(op)

    def image_from_elsewhere(self, emu, image, snapshot):
        """An image made from a snapshot, by another client; -> its entry name."""
        st, op = emu.api("POST", "global/images", {
            "name": image, "sourceSnapshot": f"projects/{emu.project}/global/snapshots/{snapshot}"})
        assert st == 200, op
        emu.wait_operation(op)
        return image

    def seed(self, n_snapshots):
        return seeds.inventory(n_snapshots, self.n_disks)

    def api_snapshot(self, emu, name):
        """The snapshot as the API holds it: {"id", "labels", "status"}, or None."""
        st, body = emu.api("GET", f"global/snapshots/{name}")
        if st == 404:
            return None
        assert st == 200, body
        return {"id": body["id"], "labels": body.get("labels", {}), "status": body["status"]}

    def api_labels(self, emu, name):
        return self.api_snapshot(emu, name)["labels"]

    def api_snapshot_names(self, emu):
        return [s["name"] for s in emu.list_all("global/snapshots")]

    def doc_is(self, doc, name):
        """Whether a resource.json is that of the seed's snapshot `name`."""
        return doc.get("name") == name

    def add_label_elsewhere(self, emu, name, key, value):
        st, cur = emu.api("GET", f"global/snapshots/{name}")
        assert st == 200, cur
        st, op = emu.api("POST", f"global/snapshots/{name}/setLabels", {
            "labels": dict(cur.get("labels", {}), **{key: value}),
            "labelFingerprint": cur["labelFingerprint"]})
        assert st == 200, op
        emu.wait_operation(op)

    def remove_label_elsewhere(self, emu, name, key):
        st, cur = emu.api("GET", f"global/snapshots/{name}")
        assert st == 200, cur
        labels = {k: v for k, v in cur.get("labels", {}).items() if k != key}
        st, op = emu.api("POST", f"global/snapshots/{name}/setLabels", {
            "labels": labels, "labelFingerprint": cur["labelFingerprint"]})
        assert st == 200, op
        emu.wait_operation(op)

    def create_snapshot_elsewhere(self, emu, name, d=0):
        st, op = emu.api("POST", "global/snapshots", {
            "name": name, "sourceDisk": f"projects/{emu.project}/{self.disk(d)}"})
        assert st == 200, op
        emu.wait_operation(op)

    def delete_snapshot_elsewhere(self, emu, name):
        st, op = emu.api("DELETE", f"global/snapshots/{name}")
        assert st == 200, op
        emu.wait_operation(op)

    def remove_behind(self, emu, name):
        """Gone from the cloud without any operation (the emulator's control side)."""
        _control(emu, "DELETE", f"resources/global/snapshots/{name}")


class Aws(Cloud):
    name = "aws"
    snapshots = "snapshots"
    images = "images"
    ready = "READY"            # the engine's word (AWS's "completed" stays in resource.json)
    emu_args = ("--full-snapshot-size",)   # st_blocks from fullSnapshotSizeInBytes
    AZS = ["us-east-1a", "us-east-1b"]

    def disk(self, d=0):
        return f"volumes/data-{d}"

    def instance(self, z=0):
        return f"instances/db-{z}"

    def instance_clones(self, z=0):
        return f"{self.instance(z)}/images"

    stopped = "STOPPED"       # the engine's word, as the status file and the log say it
    # EBUSY comes from the API's refusal (InvalidSnapshot.InUse): clonefs's own
    # dependency check does not link an AMI to its snapshots
    in_use = "is used by an AMI"  # asked before any prune (provider in_use), as logged
    own_faults = ("eventualSeconds",)
    # EC2's refusals are 500 and 503; a dropped answer is cut short; the first
    # listing of a pass is volumes
    listing_faults = {"failRate": ("volumes", ("HTTP 500", "HTTP 503")),
                      "dropRate": ("volumes", ("DescribeVolumes",)),
                      "garbageRate": ("snapshots", ("unreadable answer",))}
    # ... and new snapshots missing from Describe for a while (eventual consistency)
    thirty_percent = {"failRate": 0.15, "dropRate": 0.10, "garbageRate": 0.05,
                      "eventualSeconds": 2}

    def creates_sent(self, emu, d=0):
        return self.requests(emu).get("EC2 CreateSnapshot", 0)

    # a Name tag names the entry: not UTF-8, control characters, shaped like an id,
    # past 128 characters; a tag: not UTF-8 text, control characters, aws:*, too long
    hostile_user_names = [b"bad\xff\xfe", b"new\nline", b"tab\there", b"snap-0123456789abcdef0",
                          b"vol-0123abcd", b"i-0123456789abcdef0", b"x" * 129]
    hostile_labels = [(b"user.\xff", b"x"), (b"user.k\x01", b"x"), (b"user." + b"k" * 129, b"x"),
                      (b"user.ok", b"a\x00b"), (b"user.ok", b"bad\xff"),
                      (b"user.ok", b"new\nline"), (b"user.ok", b"v" * 257),
                      (b"user.aws:x", b"1")]
    disk_kind = "volume"
    running = "running"
    stopping = ("stopping", "stopped")
    image_ready = "available"

    def slow_ops(self, seconds):
        s = str(seconds)
        return ["--instance-seconds", s, "--snapshot-seconds", s, "--image-seconds", s]

    def instance_state(self, emu, z=0):
        r = self.client(emu).describe_instances(InstanceIds=["i-%017x" % (0xc00 + z)])
        return r["Reservations"][0]["Instances"][0]["State"]["Name"]

    def api_images(self, emu, name):
        return [i for i in self.client(emu).describe_images(Owners=["self"])["Images"]
                if i.get("Name") == name]

    def api_clones(self, emu, name):
        return [i["State"] for i in self.api_images(emu, name)]
    # a Name shaped like an id, or too long for a tag value (256 characters)
    bad_snapshot_names = ("snap-0123456789abcdef0", "x" * 255)

    @staticmethod
    def tags(item):
        return {t["Key"]: t["Value"] for t in item.get("Tags") or []}

    def api_disk_labels(self, emu, d=0):
        v = self.client(emu).describe_volumes(VolumeIds=[self.vol_id(d)])["Volumes"][0]
        t = self.tags(v)
        t.pop("Name", None)
        return t

    def stop_instance_elsewhere(self, emu, z=0):
        from harness import wait_for
        c = self.client(emu)
        iid = "i-%017x" % (0xc00 + z)
        c.stop_instances(InstanceIds=[iid])
        wait_for(lambda: c.describe_instances(InstanceIds=[iid])["Reservations"][0]
                 ["Instances"][0]["State"]["Name"] == "stopped", 30, "the instance stopped")

    def image_from_elsewhere(self, emu, image, snapshot):
        """An AMI registered with the snapshot, by another client (added on the
        emulator's control side: it has no RegisterImage); -> its entry name."""
        sid = self._by_name(emu, snapshot)["SnapshotId"]
        _control(emu, "POST", "resources", {"images": [{
            "name": image, "state": "available",
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "snapshotId": sid,
                                     "volumeSize": 10}]}]})
        return image

    def xattrs_of(self, i):
        x = super().xattrs_of(i)
        x["user.Name"] = snap_name(i)       # the Name tag names the entry and is a tag
        return x

    @staticmethod
    def vol_id(d):
        return "vol-%017x" % (0xa00 + d)

    @staticmethod
    def snap_id(i):
        return "snap-%017x" % (0xb0000 + i)

    def seed(self, n_snapshots):
        """seeds.inventory's shape in the EC2 emulator's seed format."""
        now = seeds.NOW
        vols, insts = [], []
        for d in range(self.n_disks):
            vols.append({"volumeId": self.vol_id(d), "size": 10 + d,
                         "availabilityZone": self.AZS[d % len(self.AZS)],
                         "createTime": (now - dt.timedelta(days=30)).isoformat(),
                         "tags": {"Name": f"data-{d}", "owner": "team-a", "app": "db"}})
        for z, az in enumerate(self.AZS):
            attached = [d for d in range(self.n_disks) if d % len(self.AZS) == z][:2]
            insts.append({"instanceId": "i-%017x" % (0xc00 + z), "state": "running",
                          "availabilityZone": az,
                          "launchTime": (now - dt.timedelta(days=40)).isoformat(),
                          "attachTime": (now - dt.timedelta(days=40)).isoformat(),
                          "tags": {"Name": f"db-{z}", "owner": "team-a"},
                          "volumes": [{"volumeId": self.vol_id(d), "device": f"/dev/xvd{'abcd'[k]}"}
                                      for k, d in enumerate(attached)]})
        snaps = []
        for i in range(n_snapshots):
            d = i % self.n_disks
            snaps.append({"snapshotId": self.snap_id(i), "volumeId": self.vol_id(d),
                          "volumeSize": 10 + d, "state": "completed",
                          "startTime": (now - dt.timedelta(minutes=7 * i)).isoformat(),
                          "fullSnapshotSizeInBytes": (i % 97 + 1) * 1024 * 1024,
                          "tags": dict(snap_labels(i), Name=snap_name(i))})
        return {"availabilityZones": self.AZS, "volumes": vols, "instances": insts,
                "snapshots": snaps}

    # --- the API, through botocore (in process: the AWS CLI costs a second a call) ---
    def client(self, emu):
        import botocore.session
        s = botocore.session.Session()
        s.set_config_variable("credentials_file", "/nonexistent")
        s.set_config_variable("config_file", "/nonexistent")
        return s.create_client("ec2", region_name=emu.region, endpoint_url=emu.url,
                               aws_access_key_id=emu.access_key,
                               aws_secret_access_key=emu.secret_key)

    def _snaps(self, emu):
        c = self.client(emu)
        out = []
        for page in c.get_paginator("describe_snapshots").paginate(OwnerIds=["self"]):
            out += page["Snapshots"]
        return out

    def _by_name(self, emu, name):
        got = [s for s in self._snaps(emu)
               if {t["Key"]: t["Value"] for t in s.get("Tags") or []}.get("Name") == name
               or s["SnapshotId"] == name]
        assert len(got) <= 1, got
        return got[0] if got else None

    def api_snapshot(self, emu, name):
        s = self._by_name(emu, name)
        if s is None:
            return None
        tags = {t["Key"]: t["Value"] for t in s.get("Tags") or []}
        tags.pop("Name", None)
        return {"id": s["SnapshotId"], "labels": tags, "status": s["State"]}

    def doc_is(self, doc, name):
        return doc.get("snapshotId") == self.snap_id(int(name[5:]))

    def api_labels(self, emu, name):
        return self.api_snapshot(emu, name)["labels"]

    def api_snapshot_names(self, emu):
        out = []
        for s in self._snaps(emu):
            tags = {t["Key"]: t["Value"] for t in s.get("Tags") or []}
            out.append(tags.get("Name", s["SnapshotId"]))
        return out

    def add_label_elsewhere(self, emu, name, key, value):
        self.client(emu).create_tags(Resources=[self._by_name(emu, name)["SnapshotId"]],
                                     Tags=[{"Key": key, "Value": value}])

    def remove_label_elsewhere(self, emu, name, key):
        self.client(emu).delete_tags(Resources=[self._by_name(emu, name)["SnapshotId"]],
                                     Tags=[{"Key": key}])

    def create_snapshot_elsewhere(self, emu, name, d=0):
        self.client(emu).create_snapshot(
            VolumeId=self.vol_id(d),
            TagSpecifications=[{"ResourceType": "snapshot",
                                "Tags": [{"Key": "Name", "Value": name}]}])

    def delete_snapshot_elsewhere(self, emu, name):
        self.client(emu).delete_snapshot(SnapshotId=self._by_name(emu, name)["SnapshotId"])

    def remove_behind(self, emu, name):
        """(a seed's snapshot, by its seed id: no API call, which faults may be failing)"""
        _control(emu, "DELETE", f"resources/{self.snap_id(int(name[5:]))}")


def make(provider, n_disks=2):
    return {"gce": Gce, "aws": Aws}[provider](n_disks)
