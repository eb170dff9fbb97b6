"""seeds.py — seed inventories in the Compute Engine API's own JSON, and the
facts a test expects of them."""
import datetime as dt

ZONES = ["us-central1-a", "europe-west1-b"]
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def rfc3339(t, offset_hours=-7):
    """The API's format: milliseconds and an offset (not always Z)."""
    tz = dt.timezone(dt.timedelta(hours=offset_hours))
    return t.astimezone(tz).isoformat(timespec="milliseconds")


def link(project, path):
    return f"https://www.googleapis.com/compute/v1/projects/{project}/{path}"


def inventory(n_snapshots=1000, n_disks=6, project="demo-project"):
    """n_snapshots spread over n_disks in two zones, one instance per zone.

    Snapshot i is created i*7 minutes ago (so -mmin tests have both sides),
    stores (i % 97 + 1) MiB, and carries labels owner/tier."""
    seed = {}
    disks = []
    for d in range(n_disks):
        zone = ZONES[d % len(ZONES)]
        name = f"data-{d}"
        disks.append((zone, name))
        seed.setdefault(f"zones/{zone}/disks", []).append({
            "name": name, "sizeGb": str(10 + d), "status": "READY",
            "creationTimestamp": rfc3339(NOW - dt.timedelta(days=30)),
            "labels": {"owner": "team-a", "app": "db"},
            "type": link(project, f"zones/{zone}/diskTypes/pd-ssd"),
        })
    for z, zone in enumerate(ZONES):
        attached = [n for (zz, n) in disks if zz == zone][:2]
        seed.setdefault(f"zones/{zone}/instances", []).append({
            "name": f"db-{z}", "status": "RUNNING",
            "creationTimestamp": rfc3339(NOW - dt.timedelta(days=40)),
            "labels": {"owner": "team-a"},
            "disks": [{"source": link(project, f"zones/{zone}/disks/{n}"),
                       "deviceName": n, "boot": i == 0} for i, n in enumerate(attached)],
        })
        for n in attached:
            for dd in seed[f"zones/{zone}/disks"]:
                if dd["name"] == n:
                    dd["users"] = [link(project, f"zones/{zone}/instances/db-{z}")]
    snaps = []
    for i in range(n_snapshots):
        zone, disk = disks[i % n_disks]
        created = NOW - dt.timedelta(minutes=7 * i)
        snaps.append({
            "name": f"snap-{i:05d}",
            "status": "READY",
            "creationTimestamp": rfc3339(created, offset_hours=(-7 if i % 2 else 2)),
            "diskSizeGb": str(10 + i % n_disks),
            "storageBytes": str((i % 97 + 1) * 1024 * 1024),
            "sourceDisk": link(project, f"zones/{zone}/disks/{disk}"),
            "labels": {"owner": f"team-{i % 3}", "tier": "gold" if i % 5 == 0 else "bronze"},
        })
    seed["global/snapshots"] = snaps
    seed["global/images"] = [{
        "name": "golden-1", "status": "READY",
        "sourceDisk": link(project, f"zones/{ZONES[0]}/disks/data-0"),
        "diskSizeGb": "10", "archiveSizeBytes": str(3 << 30),
        "creationTimestamp": rfc3339(NOW - dt.timedelta(days=3)),
    }]
    seed["global/machineImages"] = [{
        "name": "db-0-mi-1", "status": "READY",
        "sourceInstance": link(project, f"zones/{ZONES[0]}/instances/db-0"),
        "totalStorageBytes": str(5 << 30),
        "creationTimestamp": rfc3339(NOW - dt.timedelta(days=2)),
    }]
    return seed
