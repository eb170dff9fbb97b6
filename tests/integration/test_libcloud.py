"""test_libcloud.py — a real client checks the emulator: Apache libcloud's
GCE driver (Debian python3-libcloud), written against the real API, lists
and gets snapshots, disks, instances and images, creates and destroys a
snapshot, sets labels, and stops and starts an instance, all against
scripts/gce-emulator on loopback.

The driver takes its host from its connection class and opens plain http
when built with secure=False; a credential_file holding a cached, unexpired
token makes it skip the OAuth exchange, so the bearer it sends is the
emulator's token."""
import datetime as dt
import json

import pytest

import seeds

gce = pytest.importorskip("libcloud.compute.drivers.gce")
from libcloud.compute.types import NodeState  # noqa: E402

ZONE = seeds.ZONES[0]


def libcloud_seed():
    seed = seeds.inventory(6, 2)
    # machineType is required when an instance is created, so the API always
    # returns it; the shared seed leaves it out
    for zone in seeds.ZONES:
        for inst in seed[f"zones/{zone}/instances"]:
            inst["machineType"] = seeds.link("demo-project",
                                             f"zones/{zone}/machineTypes/e2-standard-2")
    return seed


@pytest.fixture
def driver(emulator_factory, tmp_path):
    emu = emulator_factory(libcloud_seed())
    cred = tmp_path / "libcloud-token.json"
    expires = dt.datetime.utcnow() + dt.timedelta(hours=1)
    cred.write_text(json.dumps({"access_token": emu.token, "token_type": "Bearer",
                                "expires_in": 3600,
                                "expire_time": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    cred.chmod(0o600)

    class LoopbackConnection(gce.GCEConnection):
        host = "127.0.0.1"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.port = emu.port          # Connection sets 80 for secure=False
            self.poll_interval = 0.05     # operations: poll fast

    class LoopbackGCE(gce.GCENodeDriver):
        connectionCls = LoopbackConnection

    d = LoopbackGCE("client-id.apps.googleusercontent.com", "unused-secret",
                    project=emu.project, auth_type="IA", credential_file=str(cred),
                    secure=False)
    return emu, d


def test_lists_and_gets(driver):
    emu, d = driver
    # the constructor already listed zones and regions
    assert sorted(z.name for z in d.zone_list) == sorted(seeds.ZONES)
    assert sorted(r.name for r in d.region_list) == ["europe-west1", "us-central1"]

    snaps = d.ex_list_snapshots()
    assert sorted(s.name for s in snaps) == [f"snap-{i:05d}" for i in range(6)]
    s = d.ex_get_snapshot("snap-00003")
    api = emu.api("GET", "global/snapshots/snap-00003")[1]
    assert (s.id, s.status, int(s.size)) == (api["id"], "READY", int(api["diskSizeGb"]))

    vols = d.list_volumes(ex_zone="all")
    assert sorted(v.name for v in vols) == ["data-0", "data-1"]
    v = d.ex_get_volume("data-0", zone=ZONE)
    assert v.extra["labels"] == {"owner": "team-a", "app": "db"} and int(v.size) == 10
    assert v.extra["zone"].name == ZONE

    nodes = d.list_nodes(ex_zone="all")
    assert sorted((n.name, n.state) for n in nodes) == [("db-0", NodeState.RUNNING),
                                                       ("db-1", NodeState.RUNNING)]
    n = d.ex_get_node("db-0", zone=ZONE)
    assert n.extra["labels"] == {"owner": "team-a"}
    assert [disk["source"].rsplit("/", 1)[1] for disk in n.extra["disks"]] == ["data-0"]

    imgs = d.list_images(ex_project=emu.project)
    assert [i.name for i in imgs] == ["golden-1"]
    assert d.ex_get_image("golden-1", ex_project_list=[emu.project]).name == "golden-1"


def test_snapshot_create_and_destroy(driver):
    emu, d = driver
    v = d.ex_get_volume("data-0", zone=ZONE)
    snap = d.create_volume_snapshot(v, "libcloud-snap-1")     # waits for the operation
    assert snap.name == "libcloud-snap-1" and snap.status == "READY"
    st, api = emu.api("GET", "global/snapshots/libcloud-snap-1")
    assert st == 200 and api["sourceDisk"].endswith(f"zones/{ZONE}/disks/data-0")
    assert "libcloud-snap-1" in [s.name for s in d.list_volume_snapshots(v)]
    assert d.destroy_volume_snapshot(d.ex_get_snapshot("libcloud-snap-1")) is True
    st, body = emu.api("GET", "global/snapshots/libcloud-snap-1")
    assert st == 404 and body["error"]["errors"][0]["reason"] == "notFound"


def test_set_labels_with_the_fingerprint(driver):
    emu, d = driver
    v = d.ex_get_volume("data-1", zone=seeds.ZONES[1])
    old_fp = emu.api("GET", f"zones/{seeds.ZONES[1]}/disks/data-1")[1]["labelFingerprint"]
    assert d.ex_set_volume_labels(v, {"owner": "team-z", "env": "test"}) is True
    api = emu.api("GET", f"zones/{seeds.ZONES[1]}/disks/data-1")[1]
    assert api["labels"] == {"owner": "team-z", "env": "test"}
    assert api["labelFingerprint"] != old_fp
    n = d.ex_get_node("db-0", zone=ZONE)
    assert d.ex_set_node_labels(n, {"role": "primary"}) is True
    assert emu.api("GET", f"zones/{ZONE}/instances/db-0")[1]["labels"] == {"role": "primary"}
    img = d.ex_get_image("golden-1", ex_project_list=[emu.project])
    assert d.ex_set_image_labels(img, {"env": "prod"}) is True
    assert emu.api("GET", "global/images/golden-1")[1]["labels"] == {"env": "prod"}


def test_stop_and_start_an_instance(driver):
    emu, d = driver
    n = d.ex_get_node("db-1", zone=seeds.ZONES[1])
    assert d.ex_stop_node(n) is True                            # waits for the operation
    assert d.ex_get_node("db-1", zone=seeds.ZONES[1]).state == NodeState.STOPPED
    assert emu.api("GET", f"zones/{seeds.ZONES[1]}/instances/db-1")[1]["status"] == "TERMINATED"
    assert d.ex_start_node(n) is True
    assert d.ex_get_node("db-1", zone=seeds.ZONES[1]).state == NodeState.RUNNING
    ops = emu.api("GET", f"zones/{seeds.ZONES[1]}/operations")[1]["items"]
    kinds = [o["operationType"] for o in sorted(ops, key=lambda o: o["insertTime"])
             if o["targetLink"].endswith("/instances/db-1")]
    assert kinds == ["stop", "start"], kinds
