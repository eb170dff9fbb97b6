"""Tests of scripts/ec2-emulator alone, driven by the real clients: the AWS
CLI (Debian's awscli), botocore (python3-botocore) and curl's --aws-sigv4
(libcurl's CURLOPT_AWS_SIGV4, the signer clonefs uses).  A client that
talks to the emulator without complaint is the best evidence it speaks
AWS's protocol; every refusal checked here is one AWS documents.

Run: /usr/bin/python3 -m pytest tests/integration/test_ec2_emulator.py
"""

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from harness import EC2_ACCESS_KEY, EC2_SECRET_KEY, Ec2Emulator, wait_for

botocore_session = pytest.importorskip("botocore.session")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

# Debian's awscli (2.x) on purpose: another `aws` earlier on PATH may be another CLI.
AWS = "/usr/bin/aws"
needs_cli = pytest.mark.skipif(not os.access(AWS, os.X_OK), reason="Debian's awscli is missing")
NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"
VOL_DATA = "vol-0a00000000000000d"
VOL_BOOT = "vol-0a00000000000000b"
INST = "i-0a000000000000001"
SNAP = "snap-0a000000000000001"
AMI = "ami-0a000000000000001"

SEED = {
    "volumes": [
        {"volumeId": VOL_BOOT, "size": 8, "tags": {"Name": "db1-boot"}},
        {"volumeId": VOL_DATA, "size": 100, "availabilityZone": "us-east-1a",
         "tags": {"Name": "db1-data"}},
    ],
    "instances": [
        {"instanceId": INST, "tags": {"Name": "db1"}, "attachTime": "2024-05-01T10:00:00Z",
         "launchTime": "2024-05-01T10:00:00Z",
         "volumes": [{"volumeId": VOL_BOOT, "device": "/dev/xvda", "deleteOnTermination": True},
                     {"volumeId": VOL_DATA, "device": "/dev/sdf"}]},
    ],
    "snapshots": [
        {"snapshotId": SNAP, "volumeId": VOL_BOOT, "startTime": "2024-05-02T10:00:00Z",
         "tags": {"Name": "golden-root"}},
        {"snapshotId": "snap-0a000000000000002", "volumeId": VOL_DATA,
         "tags": {"Name": "nightly", "owner": "alice"}},
        {"snapshotId": "snap-0a000000000000003", "volumeId": VOL_DATA,
         "tags": {"aws:backup:source-resource": "arn:aws:ec2:us-east-1:123456789012:volume/x"}},
        {"snapshotId": "snap-0a000000000000004", "volumeId": VOL_DATA, "locked": True},
        {"snapshotId": "snap-0a000000000000005", "volumeId": VOL_DATA, "ownerId": "999999999999"},
    ],
    "images": [
        {"imageId": AMI, "name": "golden", "creationDate": "2024-05-02T11:00:00Z",
         "blockDeviceMappings": [{"deviceName": "/dev/xvda", "snapshotId": SNAP}]},
    ],
}


@pytest.fixture
def ec2(tmp_path):
    started = []

    def make(seed=SEED, args=()):
        emu = Ec2Emulator(tmp_path, seed=seed, args=list(args)).start()
        started.append(emu)
        return emu
    yield make
    errors = []
    for emu in reversed(started):
        try:
            emu.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def aws(emu, *args, env=None, check=True):
    """The AWS CLI against the emulator -> parsed JSON (or the failed run)."""
    cmd = [AWS, "--endpoint-url", emu.url, "--region", emu.region, "--output", "json"] + list(args)
    r = subprocess.run(cmd, env=env or emu.env(), capture_output=True, text=True, timeout=120)
    if not check:
        return r
    assert r.returncode == 0, "%s\n%s" % (" ".join(args), r.stderr)
    return json.loads(r.stdout) if r.stdout.strip() else None


def client(emu, service="ec2", key=EC2_ACCESS_KEY, secret=EC2_SECRET_KEY, token=None,
           attempts=1):
    s = botocore_session.Session()
    for var in ("config_file", "credentials_file"):
        s.set_config_variable(var, os.devnull)
    return s.create_client(service, region_name=emu.region, endpoint_url=emu.url,
                           aws_access_key_id=key, aws_secret_access_key=secret,
                           aws_session_token=token,
                           config=Config(retries={"total_max_attempts": attempts,
                                                  "mode": "standard"}))


def signed(emu, params, service="ec2", secret=EC2_SECRET_KEY, method="POST", raw=False):
    """A request signed by botocore's own SigV4 signer, with parameters the
    botocore client would never send -> (HTTP status, XML root or raw bytes)."""
    body = urllib.parse.urlencode(params)
    req = AWSRequest(method=method, url=emu.url, data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(EC2_ACCESS_KEY, secret), service, emu.region).add_auth(req)
    p = req.prepare()
    r = urllib.request.Request(p.url, data=body.encode(), headers=dict(p.headers), method=method)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    return status, (body if raw else ET.fromstring(body))


def error_code(root):
    assert root.tag == "Response", ET.tostring(root)
    return root.find("Errors/Error/Code").text


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


# ------------------------------------------------------------------ AWS CLI
@needs_cli
def test_cli_describe_snapshots_pages(ec2):
    emu = ec2(seed={}, args=["--generate-snapshots", "23"])
    first = aws(emu, "ec2", "describe-snapshots", "--owner-ids", "self",
                "--page-size", "5", "--max-items", "7")
    assert len(first["Snapshots"]) == 7 and first.get("NextToken")
    rest = aws(emu, "ec2", "describe-snapshots", "--owner-ids", "self", "--page-size", "5",
               "--starting-token", first["NextToken"])
    ids = [s["SnapshotId"] for s in first["Snapshots"] + rest["Snapshots"]]
    assert len(ids) == 25 and len(set(ids)) == 25     # 23 + one for each of 2 AMIs
    assert all(len(i) == len("snap-") + 17 for i in ids)
    calls = emu.control("GET", "requests")["requests"]["EC2 DescribeSnapshots"]
    assert calls >= 25 // 5              # the CLI paged with MaxResults 5
    one = aws(emu, "ec2", "describe-snapshots", "--owner-ids", "self", "--filters",
              "Name=tag:Name,Values=snapshot-000017")["Snapshots"]
    assert [s["Tags"] for s in one] == [[{"Key": "Name", "Value": "snapshot-000017"},
                                         {"Key": "owner", "Value": "bob"}]]


@needs_cli
def test_cli_create_tag_delete_snapshot(ec2):
    emu = ec2(args=["--snapshot-seconds", "0.5"])
    snap = aws(emu, "ec2", "create-snapshot", "--volume-id", VOL_DATA, "--description", "pre",
               "--tag-specifications",
               "ResourceType=snapshot,Tags=[{Key=Name,Value=clone-1},{Key=req,Value=r1}]")
    sid = snap["SnapshotId"]
    assert snap["State"] == "pending" and snap["VolumeSize"] == 100
    assert {"Key": "req", "Value": "r1"} in snap["Tags"]

    def completed():
        s = aws(emu, "ec2", "describe-snapshots", "--snapshot-ids", sid)["Snapshots"][0]
        return s if s["State"] == "completed" else None
    s = wait_for(completed, 30, "the snapshot to complete", interval=0.2)
    assert s["Progress"] == "100%"
    aws(emu, "ec2", "create-tags", "--resources", sid, "--tags", "Key=keep,Value=v1")
    # DeleteTags with another value leaves the tag alone
    aws(emu, "ec2", "delete-tags", "--resources", sid, "--tags", "Key=keep,Value=other")
    tags = aws(emu, "ec2", "describe-snapshots", "--snapshot-ids", sid)["Snapshots"][0]["Tags"]
    assert {"Key": "keep", "Value": "v1"} in tags
    aws(emu, "ec2", "delete-tags", "--resources", sid, "--tags", "Key=keep,Value=v1")
    tags = aws(emu, "ec2", "describe-snapshots", "--snapshot-ids", sid)["Snapshots"][0]["Tags"]
    assert "keep" not in [t["Key"] for t in tags]
    bad = aws(emu, "ec2", "create-tags", "--resources", sid, "--tags", "Key=aws:x,Value=1",
              check=False)
    assert bad.returncode != 0 and "(InvalidParameterValue)" in bad.stderr
    aws(emu, "ec2", "delete-snapshot", "--snapshot-id", sid)
    gone = aws(emu, "ec2", "describe-snapshots", "--snapshot-ids", sid, check=False)
    assert gone.returncode == 254 and "(InvalidSnapshot.NotFound)" in gone.stderr


@needs_cli
def test_cli_images_and_delete_refusals(ec2):
    emu = ec2(args=["--snapshot-seconds", "0.3", "--image-seconds", "0.1"])
    mine = aws(emu, "ec2", "describe-images", "--owners", "self")["Images"]
    assert [i["ImageId"] for i in mine] == [AMI]
    assert mine[0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == SNAP
    inuse = aws(emu, "ec2", "delete-snapshot", "--snapshot-id", SNAP, check=False)
    assert "(InvalidSnapshot.InUse)" in inuse.stderr and AMI in inuse.stderr
    backup = aws(emu, "ec2", "delete-snapshot", "--snapshot-id", "snap-0a000000000000003",
                 check=False)
    assert "(InvalidParameterValue)" in backup.stderr and "AWS Backup" in backup.stderr
    locked = aws(emu, "ec2", "delete-snapshot", "--snapshot-id", "snap-0a000000000000004",
                 check=False)
    assert locked.returncode != 0
    new = aws(emu, "ec2", "create-image", "--instance-id", INST, "--name", "db1-clone",
              "--no-reboot", "--tag-specifications",
              "ResourceType=image,Tags=[{Key=req,Value=r2}]",
              "ResourceType=snapshot,Tags=[{Key=req,Value=r2}]")["ImageId"]
    dup = aws(emu, "ec2", "create-image", "--instance-id", INST, "--name", "db1-clone",
              check=False)
    assert "(InvalidAMIName.Duplicate)" in dup.stderr

    def available():
        i = aws(emu, "ec2", "describe-images", "--image-ids", new)["Images"][0]
        return i if i["State"] == "available" else None
    img = wait_for(available, 30, "the AMI", interval=0.2)
    assert img["Tags"] == [{"Key": "req", "Value": "r2"}]
    snaps = [b["Ebs"]["SnapshotId"] for b in img["BlockDeviceMappings"]]
    assert len(snaps) == 2                       # one per attached volume
    tagged = aws(emu, "ec2", "describe-snapshots", "--filters", "Name=tag:req,Values=r2")
    assert sorted(s["SnapshotId"] for s in tagged["Snapshots"]) == sorted(snaps)
    assert all(s["Description"].startswith("Created by CreateImage(%s) for %s" % (INST, new))
               for s in tagged["Snapshots"])
    aws(emu, "ec2", "deregister-image", "--image-id", new)
    for sid in snaps:
        aws(emu, "ec2", "delete-snapshot", "--snapshot-id", sid)


@needs_cli
def test_cli_stop_start_instance(ec2):
    emu = ec2(args=["--instance-seconds", "0.3"])

    def inst():
        r = aws(emu, "ec2", "describe-instances", "--instance-ids", INST)["Reservations"]
        return r[0]["Instances"][0]
    before = inst()
    assert before["State"] == {"Code": 16, "Name": "running"}
    attach = before["NetworkInterfaces"][0]["Attachment"]["AttachTime"]
    out = aws(emu, "ec2", "stop-instances", "--instance-ids", INST)["StoppingInstances"][0]
    assert out["PreviousState"]["Name"] == "running" and out["CurrentState"]["Name"] == "stopping"
    wait_for(lambda: inst()["State"]["Name"] == "stopped", 30, "stopped", interval=0.2)
    aws(emu, "ec2", "start-instances", "--instance-ids", INST)
    after = wait_for(lambda: (lambda i: i if i["State"]["Name"] == "running" else None)(inst()),
                     30, "running", interval=0.2)
    assert after["LaunchTime"] != before["LaunchTime"]
    assert after["NetworkInterfaces"][0]["Attachment"]["AttachTime"] == attach
    missing = aws(emu, "ec2", "stop-instances", "--instance-ids", "i-0a00000000000dead",
                  check=False)
    assert "(InvalidInstanceID.NotFound)" in missing.stderr


@needs_cli
def test_cli_credentials_from_imds(ec2):
    """The CLI with no keys at all finds the role's through IMDSv2."""
    emu = ec2()
    env = emu.env()
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"):
        env.pop(k)
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = emu.url
    who = aws(emu, "sts", "get-caller-identity", env=env)
    assert who["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/clonefs-role/i-")
    vols = aws(emu, "ec2", "describe-volumes", env=env)["Volumes"]
    assert len(vols) == 2
    reqs = emu.control("GET", "requests")["requests"]
    assert reqs.get("IMDS PUT /latest/api/token", 0) >= 1


# ----------------------------------------------------------------- botocore
def test_botocore_paging_filters_and_limits(ec2):
    emu = ec2(seed=SEED, args=["--generate-snapshots", "40"])
    c = client(emu)
    pages = list(c.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], PaginationConfig={"PageSize": 6}))
    ids = [s["SnapshotId"] for p in pages for s in p["Snapshots"]]
    assert len(pages) >= 7 and len(ids) == len(set(ids)) == 46   # 40 + 2 + 4 seeded
    everyone = [s["SnapshotId"] for p in c.get_paginator("describe_snapshots").paginate()
                for s in p["Snapshots"]]
    assert "snap-0a000000000000005" in everyone and "snap-0a000000000000005" not in ids
    alice = c.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:owner", "Values": ["alice"]},
        {"Name": "volume-id", "Values": [VOL_DATA]}])["Snapshots"]
    assert [s["SnapshotId"] for s in alice] == ["snap-0a000000000000002"]
    wild = c.describe_snapshots(Filters=[{"Name": "tag:Name", "Values": ["snapshot-00003?"]},
                                         {"Name": "status", "Values": ["completed"]}])
    assert len(wild["Snapshots"]) == 10
    keyed = c.describe_snapshots(Filters=[{"Name": "tag-key", "Values": ["aws:backup:*"]}])
    assert [s["SnapshotId"] for s in keyed["Snapshots"]] == ["snap-0a000000000000003"]
    with pytest.raises(ClientError) as e:
        c.describe_snapshots(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code_of(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        c.describe_volumes(MaxResults=4)
    assert code_of(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        c.describe_snapshots(SnapshotIds=[SNAP], MaxResults=5)
    assert code_of(e) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        c.describe_snapshots(MaxResults=5, NextToken="not-a-token")
    assert code_of(e) == "InvalidPaginationToken"
    with pytest.raises(ClientError) as e:
        c.describe_snapshots(SnapshotIds=["snap-0a00000000000beef"])
    assert code_of(e) == "InvalidSnapshot.NotFound"
    vols = c.describe_volumes(MaxResults=900)         # above 500: clamped, not refused
    assert len(vols["Volumes"]) == 8 and "NextToken" not in vols
    tags = [t for p in c.get_paginator("describe_tags").paginate(
        Filters=[{"Name": "resource-type", "Values": ["snapshot"]},
                 {"Name": "key", "Values": ["Name"]}], PaginationConfig={"PageSize": 5})
        for t in p["Tags"]]
    assert len(tags) == 42 and {t["ResourceType"] for t in tags} == {"snapshot"}
    assert {"Key": "Name", "Value": "nightly", "ResourceId": "snap-0a000000000000002",
            "ResourceType": "snapshot"} in tags
    zones = c.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert zones[0]["ZoneId"] == "use1-az1"


def test_filtered_pages_may_be_empty(ec2):
    """Filters apply to a window of the listing: an empty page with a NextToken
    is not the end, as on AWS."""
    emu = ec2(seed={}, args=["--generate-snapshots", "120"])
    c = client(emu)
    kw = {"OwnerIds": ["self"], "MaxResults": 5,
          "Filters": [{"Name": "tag:Name", "Values": ["snapshot-000077"]}]}
    first = c.describe_snapshots(**kw)
    found, pages, token = list(first["Snapshots"]), 1, first.get("NextToken")
    assert token                     # 120 snapshots, a window of 50: more to come
    while token:
        page = c.describe_snapshots(NextToken=token, **kw)
        found += page["Snapshots"]
        pages += 1
        token = page.get("NextToken")
    assert [s["Tags"][0]["Value"] for s in found] == ["snapshot-000077"]
    assert pages == 3
    with pytest.raises(ClientError) as e:       # a token is bound to its filters
        c.describe_snapshots(OwnerIds=["self"], MaxResults=5, NextToken=first["NextToken"])
    assert code_of(e) == "InvalidPaginationToken"


def test_botocore_auth_refusals(ec2):
    emu = ec2(args=["--credentials", "AKIATEMPORARY0000001:s3cret:the-token"])
    assert client(emu).describe_volumes()["Volumes"]
    with pytest.raises(ClientError) as e:
        client(emu, secret="not-the-secret").describe_volumes()
    assert code_of(e) == "AuthFailure"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    with pytest.raises(ClientError) as e:
        client(emu, key="AKIANOSUCHKEY0000000").describe_volumes()
    assert code_of(e) == "AuthFailure"
    assert client(emu, key="AKIATEMPORARY0000001", secret="s3cret",
                  token="the-token").describe_volumes()["Volumes"]
    with pytest.raises(ClientError) as e:
        client(emu, key="AKIATEMPORARY0000001", secret="s3cret",
               token="another-token").describe_volumes()
    assert code_of(e) == "AuthFailure"
    with pytest.raises(ClientError) as e:
        client(emu, key="AKIATEMPORARY0000001", secret="s3cret").describe_volumes()
    assert code_of(e) == "AuthFailure"
    # STS speaks its own dialect of the same refusal
    who = client(emu, "sts").get_caller_identity()
    assert who["Account"] == "123456789012"
    with pytest.raises(ClientError) as e:
        client(emu, "sts", secret="not-the-secret").get_caller_identity()
    assert code_of(e) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        client(emu, "sts", key="AKIANOSUCHKEY0000000").get_caller_identity()
    assert code_of(e) == "InvalidClientTokenId"
    # signed for another service or region
    st, root = signed(emu, {"Action": "DescribeVolumes", "Version": "2016-11-15"}, service="s3")
    assert st == 401 and error_code(root) == "AuthFailure"


def test_request_expired(ec2, monkeypatch):
    """A signature dated 20 minutes ago (botocore's signer on a slow clock)."""
    import datetime
    import types
    import botocore.auth

    class Past(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    emu = ec2()
    monkeypatch.setattr(botocore.auth, "datetime", types.SimpleNamespace(datetime=Past))
    st, root = signed(emu, {"Action": "DescribeVolumes", "Version": "2016-11-15"})
    assert st == 400 and error_code(root) == "RequestExpired"
    monkeypatch.undo()
    st, root = signed(emu, {"Action": "DescribeVolumes", "Version": "2016-11-15"})
    assert st == 200


def test_unknown_parameter_and_action(ec2):
    emu = ec2()
    st, root = signed(emu, {"Action": "DescribeSnapshots", "Version": "2016-11-15",
                            "Owner.1": "self"})
    assert st == 200 and root.tag == NS + "DescribeSnapshotsResponse"
    assert root.find(NS + "requestId") is not None
    assert root.find(NS + "snapshotSet/" + NS + "item/" + NS + "snapshotId") is not None
    st, root = signed(emu, {"Action": "DescribeSnapshots", "Version": "2016-11-15",
                            "Owners.1": "self"})
    assert st == 400 and error_code(root) == "UnknownParameter"
    assert root.find("RequestID").text
    st, root = signed(emu, {"Action": "DescribeSnapshots", "Version": "2016-11-15",
                            "MaxResults": "many"})
    assert st == 400 and error_code(root) == "InvalidParameterValue"
    st, root = signed(emu, {"Action": "DescribeSnapshotz", "Version": "2016-11-15"})
    assert st == 400 and error_code(root) == "InvalidAction"
    st, root = signed(emu, {"Action": "CreateSnapshot", "Version": "2016-11-15",
                            "VolumeId": VOL_DATA, "DryRun": "true"})
    assert st == 412 and error_code(root) == "DryRunOperation"
    assert len(client(emu).describe_snapshots(OwnerIds=["self"])["Snapshots"]) == 4


def test_eventual_consistency(ec2):
    emu = ec2(args=["--eventual-seconds", "1.5"])
    c = client(emu)
    t0 = time.monotonic()
    sid = c.create_snapshot(VolumeId=VOL_DATA)["SnapshotId"]
    listed = [s["SnapshotId"] for s in c.describe_snapshots(OwnerIds=["self"])["Snapshots"]]
    assert sid not in listed
    with pytest.raises(ClientError) as e:
        c.describe_snapshots(SnapshotIds=[sid])
    assert code_of(e) == "InvalidSnapshot.NotFound"

    def shows():
        return sid in [s["SnapshotId"] for s in
                       c.describe_snapshots(OwnerIds=["self"])["Snapshots"]]
    wait_for(shows, 30, "the snapshot to show", interval=0.1)
    assert time.monotonic() - t0 >= 1.4
    assert c.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]["SnapshotId"] == sid


def test_state_transitions_restore_side(ec2):
    emu = ec2(args=["--volume-seconds", "0.3", "--instance-seconds", "0.3",
                    "--terminated-linger", "60"])
    c = client(emu)
    with pytest.raises(ClientError) as e:
        c.create_volume(AvailabilityZone="us-east-1b", SnapshotId=SNAP, Size=4)
    assert code_of(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        c.create_volume(AvailabilityZone="us-east-1z", SnapshotId=SNAP)
    assert code_of(e) == "InvalidParameterValue"
    v = c.create_volume(AvailabilityZone="us-east-1b", SnapshotId=SNAP, Size=20,
                        TagSpecifications=[{"ResourceType": "volume",
                                            "Tags": [{"Key": "Name", "Value": "restored"}]}])
    assert v["State"] == "creating" and v["Size"] == 20 and v["SnapshotId"] == SNAP

    def vol_state():
        return c.describe_volumes(VolumeIds=[v["VolumeId"]])["Volumes"][0]["State"]
    wait_for(lambda: vol_state() == "available", 30, "the volume", interval=0.1)
    run = c.run_instances(ImageId=AMI, MinCount=2, MaxCount=2,
                          Placement={"AvailabilityZone": "us-east-1c"},
                          TagSpecifications=[{"ResourceType": "instance",
                                              "Tags": [{"Key": "Name", "Value": "restore"}]}])
    ids = [i["InstanceId"] for i in run["Instances"]]
    assert len(ids) == 2 and all(i["State"]["Name"] == "pending" for i in run["Instances"])

    def states():
        res = c.describe_instances(InstanceIds=ids)["Reservations"]
        assert len(res) == 1 and res[0]["ReservationId"] == run["ReservationId"]
        return {i["State"]["Name"] for i in res[0]["Instances"]}
    wait_for(lambda: states() == {"running"}, 30, "running", interval=0.1)
    inst = c.describe_instances(InstanceIds=ids[:1])["Reservations"][0]["Instances"][0]
    root_vol = inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert c.describe_volumes(VolumeIds=[root_vol])["Volumes"][0]["SnapshotId"] == SNAP
    c.terminate_instances(InstanceIds=ids[:1])
    wait_for(lambda: "terminated" in states(), 30, "terminated", interval=0.1)
    listed = [i["InstanceId"] for r in c.describe_instances()["Reservations"]
              for i in r["Instances"]]
    assert ids[0] in listed                   # recently terminated: still listed
    with pytest.raises(ClientError) as e:
        c.describe_volumes(VolumeIds=[root_vol])
    assert code_of(e) == "InvalidVolume.NotFound"   # deleted on termination
    emu.control("POST", "clock", {"advanceSeconds": 61})
    listed = [i["InstanceId"] for r in c.describe_instances()["Reservations"]
              for i in r["Instances"]]
    assert ids[0] not in listed and ids[1] in listed


def test_client_token_idempotency(ec2):
    """EC2 API reference, "Ensuring idempotency": a repeat of a ClientToken
    with the same parameters gets the first call's resource (only the state
    may differ), one that changes another parameter IdempotentParameterMismatch."""
    emu = ec2(args=["--volume-seconds", "0.3", "--instance-seconds", "0.3"])
    c = client(emu)
    first = c.create_volume(AvailabilityZone="us-east-1a", SnapshotId=SNAP, ClientToken="t-1")
    again = c.create_volume(AvailabilityZone="us-east-1a", SnapshotId=SNAP, ClientToken="t-1")
    assert again["VolumeId"] == first["VolumeId"]
    with pytest.raises(ClientError) as e:
        c.create_volume(AvailabilityZone="us-east-1b", SnapshotId=SNAP, ClientToken="t-1")
    assert code_of(e) == "IdempotentParameterMismatch"
    vols = [v for v in c.describe_volumes()["Volumes"] if v.get("SnapshotId") == SNAP]
    assert len(vols) == 1
    run = c.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken="t-2")
    iid = run["Instances"][0]["InstanceId"]

    def running():
        return c.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0] \
            ["State"]["Name"] == "running"
    wait_for(running, 30, "running", interval=0.1)
    again = c.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken="t-2")
    assert [i["InstanceId"] for i in again["Instances"]] == [iid]
    assert again["Instances"][0]["State"]["Name"] == "running"    # the state as it is now
    with pytest.raises(ClientError) as e:
        c.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken="t-2",
                        InstanceType="t3.micro")
    assert code_of(e) == "IdempotentParameterMismatch"
    listed = [i["InstanceId"] for r in c.describe_instances()["Reservations"]
              for i in r["Instances"]]
    assert len(listed) == 2      # the seed's and the one made


def test_imds_v2_only(ec2):
    emu = ec2(args=["--imds-credentials-ttl", "600"])
    base = emu.url + "latest/"

    def call(method, path, headers=None):
        req = urllib.request.Request(base + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
    assert call("GET", "meta-data/iam/security-credentials/")[0] == 401     # IMDSv1
    assert call("PUT", "api/token")[0] == 400
    assert call("PUT", "api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21601"})[0] == 400
    st, token = call("PUT", "api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert st == 200 and token
    h = {"X-aws-ec2-metadata-token": token}
    assert call("GET", "meta-data/iam/security-credentials/", {"X-aws-ec2-metadata-token":
                                                                "forged"})[0] == 401
    st, role = call("GET", "meta-data/iam/security-credentials/", h)
    assert st == 200 and role == "clonefs-role"
    st, body = call("GET", "meta-data/iam/security-credentials/" + role, h)
    cred = json.loads(body)
    assert cred["Code"] == "Success" and cred["AccessKeyId"].startswith("ASIA")
    doc = json.loads(call("GET", "dynamic/instance-identity/document", h)[1])
    assert doc["region"] == "us-east-1" and doc["accountId"] == "123456789012"
    c = client(emu, key=cred["AccessKeyId"], secret=cred["SecretAccessKey"], token=cred["Token"])
    assert c.describe_volumes()["Volumes"]
    # the keys expire on the emulator's clock
    emu.control("POST", "clock", {"advanceSeconds": 601})
    with pytest.raises(ClientError) as e:
        c.describe_volumes()
    assert code_of(e) == "AuthFailure"
    assert call("GET", "meta-data/iam/security-credentials/", h)[0] == 401   # token expired


def test_faults(ec2):
    emu = ec2(args=["--fail-rate", "1", "--random-seed", "7"])
    c = client(emu)
    seen = set()
    for _ in range(12):
        with pytest.raises(ClientError) as e:
            c.describe_volumes()
        seen.add((code_of(e), e.value.response["ResponseMetadata"]["HTTPStatusCode"]))
    assert seen <= {("InternalError", 500), ("Unavailable", 503),
                    ("RequestLimitExceeded", 503)}
    assert ("RequestLimitExceeded", 503) in seen and ("InternalError", 500) in seen
    # failures come before any effect: nothing was created
    emu.control("POST", "faults", {"failRate": 0, "garbageRate": 1})
    for _ in range(4):
        st, body = signed(emu, {"Action": "DescribeVolumes", "Version": "2016-11-15"}, raw=True)
        assert st == 200 and b"</DescribeVolumesResponse>" not in body
    emu.control("POST", "faults", {"garbageRate": 0, "dropRate": 1})
    with pytest.raises(Exception):
        c.create_snapshot(VolumeId=VOL_DATA)
    emu.control("POST", "faults", {"dropRate": 0})
    # the dropped CreateSnapshot took effect: the caller cannot know
    assert len(c.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == 5


def test_botocore_waiters(ec2):
    """botocore's own waiters (waiters-2.json) see the states they wait for."""
    emu = ec2(args=["--snapshot-seconds", "1", "--image-seconds", "0.2",
                    "--instance-seconds", "1"])
    c = client(emu)
    fast = {"Delay": 1, "MaxAttempts": 30}
    sid = c.create_snapshot(VolumeId=VOL_DATA)["SnapshotId"]
    c.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig=fast)
    aid = c.create_image(InstanceId=INST, Name="waited-for")["ImageId"]
    c.get_waiter("image_available").wait(ImageIds=[aid], WaiterConfig=fast)
    c.stop_instances(InstanceIds=[INST])
    c.get_waiter("instance_stopped").wait(InstanceIds=[INST], WaiterConfig=fast)
    c.start_instances(InstanceIds=[INST])
    c.get_waiter("instance_running").wait(InstanceIds=[INST], WaiterConfig=fast)


def test_full_snapshot_size(ec2):
    """fullSnapshotSizeInBytes: as the installed model says, or when asked for."""
    seed = {"snapshots": [{"snapshotId": SNAP, "volumeSize": 8,
                           "fullSnapshotSizeInBytes": 123456789}]}
    body = (b"<fullSnapshotSizeInBytes>123456789</fullSnapshotSizeInBytes>")
    req = {"Action": "DescribeSnapshots", "Version": "2016-11-15", "SnapshotId.1": SNAP}
    emu = ec2(seed=seed, args=["--full-snapshot-size"])
    assert body in signed(emu, req, raw=True)[1]
    emu = ec2(seed=seed)
    in_model = "FullSnapshotSizeInBytes" in botocore_session.Session().get_service_model(
        "ec2").shape_for("Snapshot").members
    assert (body in signed(emu, req, raw=True)[1]) == in_model


def test_raw_override_and_seed_checks(ec2, tmp_path):
    emu = ec2()
    c = client(emu)
    emu.control("POST", "raw-override", {"action": "DescribeVolumes", "status": 503,
                                         "body": "<html>busy</html>", "times": 1})
    with pytest.raises(ClientError):
        c.describe_volumes()
    assert len(c.describe_volumes()["Volumes"]) == 2        # only once
    bad = Ec2Emulator(tmp_path, seed={"instances": [{"state": "asleep"}]})
    with pytest.raises(RuntimeError) as e:
        bad.start()
    assert "state 'asleep'" in str(e.value)
    bad.stop()


# --------------------------------------------------------------- libcurl
CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_aws_sigv4(ec2):
    """libcurl's CURLOPT_AWS_SIGV4 (curl --aws-sigv4), as clonefs signs: a POST
    form body, with and without a session token."""
    emu = ec2(args=["--credentials", "AKIATEMPORARY0000001:s3cret:the-token"])

    def curl(user, body, *extra):
        r = subprocess.run([CURL, "-s", "-w", "\n%{http_code}", "--aws-sigv4",
                            "aws:amz:us-east-1:ec2", "--user", user, "-d", body, *extra,
                            emu.url], capture_output=True, timeout=30)
        text, _, status = r.stdout.decode().rpartition("\n")
        return int(status), ET.fromstring(text)
    body = "Action=DescribeSnapshots&Version=2016-11-15&Owner.1=self&MaxResults=5"
    st, root = curl("%s:%s" % (EC2_ACCESS_KEY, EC2_SECRET_KEY), body)
    assert st == 200 and root.tag == NS + "DescribeSnapshotsResponse"
    assert len(root.findall(NS + "snapshotSet/" + NS + "item")) == 4
    st, root = curl("AKIATEMPORARY0000001:s3cret", body, "-H", "X-Amz-Security-Token: the-token")
    assert st == 200
    st, root = curl("%s:wrong" % EC2_ACCESS_KEY, body)
    assert st == 401 and error_code(root) == "AuthFailure"
