#!/usr/bin/python3
"""demo_aws_seed.py — print the seed of `scripts/demo aws` for scripts/ec2-emulator (its
--seed format, see scripts/ec2-emulator --help): a small account in us-east-1 as an
operator would have it, its times relative to now so ages read right.

  db-1     running m5.large, us-east-1a: db-1-root (20 GB) and db-1-data (500 GB)
  web-1    running t3.medium, us-east-1b: web-1-root (20 GB)
  batch-1  stopped c5.xlarge, us-east-1a: batch-1-root (50 GB)
  scratch  a 100 GB volume attached to nothing
  snapshots: 14 nightlies of db-1-data (Name db-1-data-YYYY-MM-DD, team-db/prod), 4
  weeklies of web-1-root, one before a migration, two without a Name (listed by id), one
  AWS Backup made (aws:backup:* tags: clonefs refuses to delete it), and the AMI
  golden-web-YYYY-MM's own snapshot (in use: EBUSY).
"""

import json
import sys
import time

ACCOUNT = "123456789012"
DAY = 86400
GB = 1 << 30


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def day(t):
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def seed(now):
    midnight = now - now % DAY
    vols, insts, snaps, images = [], [], [], []

    def volume(vid, name, size, az, created, **tags):
        vols.append({"volumeId": vid, "size": size, "availabilityZone": az, "volumeType": "gp3",
                     "createTime": iso(created), "tags": dict(Name=name, **tags)})
        return vid

    def snapshot(sid, vid, size, start, desc, tags, full=None):
        snaps.append({"snapshotId": sid, "volumeId": vid, "volumeSize": size,
                      "description": desc, "startTime": iso(start), "state": "completed",
                      "ownerId": ACCOUNT, "tags": tags,
                      "fullSnapshotSizeInBytes": full if full is not None else size * GB // 3})

    created = midnight - 200 * DAY
    db_root = volume("vol-0d1b2c3d4e5f60001", "db-1-root", 20, "us-east-1a", created,
                     team="team-db", env="prod")
    db_data = volume("vol-0d1b2c3d4e5f60002", "db-1-data", 500, "us-east-1a", created + 60,
                     team="team-db", env="prod")
    web_root = volume("vol-0a1b2c3d4e5f60003", "web-1-root", 20, "us-east-1b",
                      created + 30 * DAY, team="team-web", env="prod")
    batch_root = volume("vol-0b1b2c3d4e5f60004", "batch-1-root", 50, "us-east-1a",
                        created + 90 * DAY, team="team-data", env="dev")
    volume("vol-0c1b2c3d4e5f60005", "scratch", 100, "us-east-1b", midnight - 3 * DAY,
           team="team-data", env="dev")

    def instance(iid, name, itype, az, state, launched, attached, disks, **tags):
        insts.append({"instanceId": iid, "state": state, "availabilityZone": az,
                      "instanceType": itype, "launchTime": iso(launched),
                      "attachTime": iso(attached), "tags": dict(Name=name, **tags),
                      "volumes": [{"volumeId": v, "device": d, "deleteOnTermination": d ==
                                   "/dev/xvda"} for d, v in disks]})

    instance("i-0d1b2c3d4e5f60001", "db-1", "m5.large", "us-east-1a", "running",
             midnight - 9 * DAY, created + 120, [("/dev/xvda", db_root), ("/dev/sdf", db_data)],
             team="team-db", env="prod")
    instance("i-0a1b2c3d4e5f60002", "web-1", "t3.medium", "us-east-1b", "running",
             midnight - 2 * DAY, created + 30 * DAY + 60, [("/dev/xvda", web_root)],
             team="team-web", env="prod")
    instance("i-0b1b2c3d4e5f60003", "batch-1", "c5.xlarge", "us-east-1a", "stopped",
             midnight - 20 * DAY, created + 90 * DAY + 60, [("/dev/xvda", batch_root)],
             team="team-data", env="dev")

    for k in range(14, 0, -1):  # nightly at 03:00 UTC, a bit more data each night
        t = midnight - k * DAY + 3 * 3600
        snapshot("snap-0d%015x" % k, db_data, 500, t, "nightly db-1-data",
                 {"Name": "db-1-data-" + day(t), "team": "team-db", "env": "prod",
                  "schedule": "nightly"}, full=(180 + 2 * (14 - k)) * GB)
    for k in range(4, 0, -1):  # weekly, Sundays' worth
        t = midnight - 7 * k * DAY + 4 * 3600
        snapshot("snap-0a%015x" % k, web_root, 20, t, "weekly web-1-root",
                 {"Name": "web-1-root-" + day(t), "team": "team-web", "env": "prod",
                  "schedule": "weekly"}, full=6 * GB)
    t = midnight - 40 * DAY + 22 * 3600
    snapshot("snap-0e000000000000001", db_root, 20, t, "before the postgres 16 upgrade",
             {"Name": "pre-migration", "team": "team-db", "ticket": "OPS-1234"}, full=9 * GB)
    snapshot("snap-0e000000000000002", batch_root, 50, midnight - 61 * DAY, "",
             {"team": "team-data"}, full=21 * GB)
    snapshot("snap-0e000000000000003", web_root, 20, midnight - 95 * DAY, "", {}, full=5 * GB)
    snapshot("snap-0e000000000000004", db_data, 500, midnight - DAY + 5 * 3600,
             "This snapshot is created by the AWS Backup service.",
             {"aws:backup:source-resource":
              "arn:aws:ec2:us-east-1:%s:volume/%s" % (ACCOUNT, db_data),
              "Name": "backup-db-1-data"}, full=200 * GB)
    t = midnight - 10 * DAY + 15 * 3600
    ami_snap = "snap-0f000000000000001"
    snapshot(ami_snap, web_root, 20, t, "Created by CreateImage(i-0a1b2c3d4e5f60002)", {},
             full=6 * GB)
    golden = "golden-web-" + time.strftime("%Y-%m", time.gmtime(t))
    images.append({"imageId": "ami-0f1b2c3d4e5f60001", "name": golden, "state": "available",
                   "creationDate": iso(t + 300), "description": "web tier, hardened",
                   "blockDeviceMappings": [{"deviceName": "/dev/xvda", "snapshotId": ami_snap,
                                            "volumeSize": 20}],
                   "tags": {"Name": golden, "team": "team-web"}})
    return {"availabilityZones": ["us-east-1a", "us-east-1b"], "volumes": vols,
            "instances": insts, "snapshots": snaps, "images": images}


if __name__ == "__main__":
    json.dump(seed(time.time()), sys.stdout, indent=1)
    sys.stdout.write("\n")
