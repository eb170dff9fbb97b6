"""test_jobs.py — the unfinished clone jobs: listed in .clonefs/jobs/ (one file per job, one
line of JSON each), cancelled by `rm .clonefs/jobs/ID`, given up once older than
clone.job_max_age_seconds before their first cloud step, and re-checked (the source's health
and the policy) when a restart resumes them before their stop. Issue 14, item 4: a stop-mode
mkdir killed mid-stop, the instance started again by hand, and a later mount against an API
that no longer remembers the request ids must neither stop the instance again nor create the
clone."""
import errno
import json
import os
import pwd
import subprocess
import time
import urllib.request

import pytest

import seeds
from harness import wait_for

ZONE = seeds.ZONES[0]
INSTANCE = f"zones/{ZONE}/instances/db-0"
DISK = f"zones/{ZONE}/disks/data-0"


def control(emu, sub, body=None, method="POST"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{emu.port}/emulator/v1/{sub}", data=data,
                                 method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def release(emu):
    """Let every operation under way end now, and later ones run quickly."""
    control(emu, "faults", {"opSeconds": 0.2})
    control(emu, "clock", {"advanceSeconds": 3600})


def policy_file(tmp_path, name="policy.json", **sections):
    p = tmp_path / name
    p.write_text(json.dumps(sections))
    return p


def zone_ops(emu, kinds, target_suffix="/instances/db-0"):
    return [op for op in emu.list_all(f"zones/{ZONE}/operations")
            if op["operationType"] in kinds and op.get("targetLink", "").endswith(target_suffix)]


def inserts_of(emu, name):
    return [op for op in emu.list_all("global/operations")
            if op["operationType"] == "insert" and op.get("targetLink", "").endswith("/" + name)]


def status_of(emu, path):
    st, body = emu.api("GET", path)
    assert st == 200, body
    return body["status"]


def jobs(m):
    """{id: the job's JSON} as .clonefs/jobs/ lists them."""
    out = {}
    for name in os.listdir(m.path(".clonefs/jobs")):
        try:
            text = (m.path(".clonefs/jobs") / name).read_text()
        except FileNotFoundError:
            continue                                    # it ended meanwhile
        assert text.endswith("\n") and text.count("\n") == 1, text   # one line each
        out[name] = json.loads(text)
    return out


def log(m):
    return m.path(".clonefs/log").read_text()


def test_jobs_are_listed_and_rm_cancels_one_mid_stop(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seeds.inventory(4, 2))
    pol = policy_file(tmp_path, clone={"consistency": "stop"})
    m = mount_factory(emu, opts=[f"policy={pol}"])
    assert os.listdir(m.path(".clonefs/jobs")) == []
    assert "jobs" in os.listdir(m.path(".clonefs"))
    control(emu, "faults", {"opSeconds": 3600})         # the stop stays under way
    proc = subprocess.Popen(["mkdir", str(m.path(f"{INSTANCE}/clones/cancel-me"))],
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: status_of(emu, INSTANCE) == "STOPPING", 30, "the stop to be sent")
        listed = wait_for(lambda: jobs(m), 10, "the job in .clonefs/jobs")
        [(jid, job)] = listed.items()
        assert job["id"] == int(jid)
        assert job["source"] == INSTANCE
        assert job["target"] == "global/machineImages/cancel-me"
        assert job["step"] == "stop"
        assert isinstance(job["age"], int) and 0 <= job["age"] < 60
        assert job["consistency"] == "stop" and job["stop"] == [INSTANCE]
        assert job["accepted"] is False and job["cancelled"] is False
        assert job["user"] == pwd.getpwuid(os.getuid()).pw_name and job["created"].endswith("Z") and job["error"] is None
        # `cat .clonefs/jobs/*`: one JSON object per line
        cat = subprocess.run(f"cat {m.path('.clonefs/jobs')}/*", shell=True, check=True,
                             capture_output=True, text=True).stdout
        assert [json.loads(line)["id"] for line in cat.splitlines()] == [int(jid)]

        os.unlink(m.path(f".clonefs/jobs/{jid}"))      # rm .clonefs/jobs/ID: cancel it
        assert f"job {jid} (clone global/machineImages/cancel-me of {INSTANCE}, at step stop" \
            in log(m)
        assert jobs(m)[jid]["cancelled"] is True        # until it started what it stopped
        # the stop ends; the job's runner sees the cancel before its next step
        release(emu)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            release(emu)        # a failed test: let the mkdir end, so the mount can go
            proc.wait(60)
    assert proc.returncode != 0
    assert "Operation canceled" in proc.stderr.read()
    wait_for(lambda: status_of(emu, INSTANCE) == "RUNNING", 30, "the instance to be started")
    wait_for(lambda: jobs(m) == {}, 30, "the job to end")
    assert emu.api("GET", "global/machineImages/cancel-me")[0] == 404
    assert inserts_of(emu, "cancel-me") == []
    kinds = sorted(op["operationType"] for op in zone_ops(emu, ("stop", "start")))
    assert kinds == ["start", "stop"], kinds
    assert f"job {jid}: clone global/machineImages/cancel-me of {INSTANCE}, at step " in log(m)
    assert "cancelled by " in log(m) and "starting the instances it may have stopped" in log(m)
    assert not os.path.exists(m.path(f"{INSTANCE}/clones/cancel-me"))


def test_an_accepted_clone_cannot_be_cancelled(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(seeds.inventory(4, 2))
    pol = policy_file(tmp_path, clone={"consistency": "crash"})
    m = mount_factory(emu, opts=[f"policy={pol}"])
    control(emu, "faults", {"opSeconds": 3600})         # the snapshot stays CREATING
    try:
        os.mkdir(m.path(f"{DISK}/snapshots/accepted"))
        [(jid, job)] = wait_for(lambda: jobs(m), 10, "the job in .clonefs/jobs").items()
        assert job["step"] == "wait_created" and job["accepted"] is True
        with pytest.raises(OSError) as e:
            os.unlink(m.path(f".clonefs/jobs/{jid}"))
        assert e.value.errno == errno.EBUSY
        assert f"/.clonefs/jobs/{jid}: EBUSY" in log(m) and "was accepted already" in log(m)
        with pytest.raises(OSError) as e:
            os.unlink(m.path(".clonefs/jobs/999999"))
        assert e.value.errno == errno.ENOENT
    finally:
        release(emu)
    wait_for(lambda: jobs(m) == {}, 30, "the job to end")
    assert status_of(emu, "global/snapshots/accepted") == "READY"


def test_issue_14_expired_stop_job_neither_stops_nor_clones(emulator_factory, mount_factory,
                                                            tmp_path):
    """A stop-mode mkdir killed mid-stop; the operator starts the instance by hand; a later
    mount, against an API that no longer knows the request ids, gives the job up."""
    emu = emulator_factory(seeds.inventory(4, 2))
    pol = policy_file(tmp_path, clone={"consistency": "stop", "job_max_age_seconds": 2})
    m = mount_factory(emu, opts=[f"policy={pol}"])
    assert json.loads(m.path(".clonefs/policy").read_text())["clone"]["job_max_age_seconds"] == 2
    control(emu, "faults", {"opSeconds": 3600})
    proc = subprocess.Popen(["mkdir", str(m.path(f"{INSTANCE}/clones/late"))],
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: status_of(emu, INSTANCE) == "STOPPING", 30, "the stop to be sent")
        [jid] = wait_for(lambda: list(jobs(m)), 10, "the job in .clonefs/jobs")
        listed_at = time.time()                         # the job was planned before this
        m.kill()
    finally:
        if proc.poll() is None and m.proc is not None:
            release(emu)
        proc.wait(60)
    assert proc.returncode != 0                         # the caller was told it failed
    release(emu)                                        # the stop ends
    assert status_of(emu, INSTANCE) == "TERMINATED"
    # the operator starts the production instance by hand
    st, op = emu.api("POST", f"{INSTANCE}/start")
    assert st == 200, op
    emu.wait_operation(op)
    assert status_of(emu, INSTANCE) == "RUNNING"
    # the API forgets the request ids: the stop's operation record is gone
    [stop] = zone_ops(emu, ("stop",))
    assert emu.api("DELETE", f"zones/{ZONE}/operations/{stop['name']}")[0] == 204
    assert zone_ops(emu, ("stop",)) == []

    # a read-only mount of the same cache lists the job, and refuses to cancel it
    ro = mount_factory(emu, cache=m.cache, opts=[f"policy={pol}", "ro"])
    assert jobs(ro)[jid]["step"] == "stop"
    with pytest.raises(OSError) as e:
        os.unlink(ro.path(f".clonefs/jobs/{jid}"))
    assert e.value.errno == errno.EROFS
    assert f"/.clonefs/jobs/{jid}: EROFS" in log(ro)
    ro.stop()

    wait_for(lambda: time.time() > listed_at + 3, 10, "the job to be older than 2 s")
    m2 = mount_factory(emu, cache=m.cache, opts=[f"policy={pol}"])
    wait_for(lambda: jobs(m2) == {}, 30, "the expired job to end")
    line = [ln for ln in log(m2).splitlines() if f"job {jid}: " in ln and "expired" in ln]
    assert line, log(m2)
    assert f"clone global/machineImages/late of {INSTANCE}, at step stop" in line[0], line
    assert " s old: expired" in line[0] and "starting the instances it may have stopped" \
        in line[0], line
    # never stopped again, never cloned
    assert zone_ops(emu, ("stop",)) == []
    assert status_of(emu, INSTANCE) == "RUNNING"
    assert emu.api("GET", "global/machineImages/late")[0] == 404
    assert inserts_of(emu, "late") == []
    m2.wait_synced(time.time())
    assert "late" not in os.listdir(m2.path(f"{INSTANCE}/clones"))


def test_resumed_stop_rechecks_health_first(emulator_factory, mount_factory, tmp_path):
    """A stop-mode job a restart resumes before its stop was accepted: the source is no longer
    healthy, so it is cancelled and sends no stop."""
    emu = emulator_factory(seeds.inventory(4, 2))
    flag = tmp_path / "unhealthy"
    pol = policy_file(tmp_path, clone={"consistency": "stop",
                                       "health_command": ["/usr/bin/test", "!", "-e", str(flag)]})
    m = mount_factory(emu, opts=[f"policy={pol}"])
    stop_path = f"/compute/v1/projects/{emu.project}/{INSTANCE}/stop"
    body = json.dumps({"error": {"code": 503, "message": "The service is currently unavailable.",
                                 "errors": [{"reason": "backendError"}]}})
    control(emu, "raw-override", {"method": "POST", "path": stop_path, "status": 503,
                                  "body": body, "times": 10000})
    control(emu, "requests", method="DELETE")
    proc = subprocess.Popen(["mkdir", str(m.path(f"{INSTANCE}/clones/recheck"))],
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: control(emu, "requests", method="GET")["requests"]
                 .get(f"POST {stop_path}", 0) >= 1, 30, "the stop to be tried")
        [jid] = list(jobs(m))
        m.kill()                                        # before any stop got through
    finally:
        proc.wait(30)
    control(emu, "raw-override", method="DELETE")
    flag.write_text("the database is recovering\n")    # the health command fails from now on
    m2 = mount_factory(emu, cache=m.cache, opts=[f"policy={pol}"])
    wait_for(lambda: jobs(m2) == {}, 30, "the job to end")
    line = [ln for ln in log(m2).splitlines() if f"job {jid}: " in ln and "re-check" in ln]
    assert line, log(m2)
    assert "cancelled on its re-check before the stop: the source is not healthy" in line[0]
    assert zone_ops(emu, ("stop",)) == []              # no stop was ever sent
    assert status_of(emu, INSTANCE) == "RUNNING"
    assert emu.api("GET", "global/machineImages/recheck")[0] == 404
    assert inserts_of(emu, "recheck") == []


def test_resumed_stop_rechecks_the_policy(emulator_factory, mount_factory, tmp_path):
    """The same, with the source's clone-consistency label changed meanwhile: the operator
    no longer wants it stopped."""
    emu = emulator_factory(seeds.inventory(4, 2))
    pol = policy_file(tmp_path, clone={"consistency": "stop"})
    m = mount_factory(emu, opts=[f"policy={pol}"])
    stop_path = f"/compute/v1/projects/{emu.project}/{INSTANCE}/stop"
    control(emu, "raw-override", {"method": "POST", "path": stop_path, "status": 503,
                                  "body": "{}", "times": 10000})
    control(emu, "requests", method="DELETE")
    proc = subprocess.Popen(["mkdir", str(m.path(f"{INSTANCE}/clones/repolicy"))],
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: control(emu, "requests", method="GET")["requests"]
                 .get(f"POST {stop_path}", 0) >= 1, 30, "the stop to be tried")
        [jid] = list(jobs(m))
        m.kill()
    finally:
        proc.wait(30)
    control(emu, "raw-override", method="DELETE")
    st, inst = emu.api("GET", INSTANCE)
    st, op = emu.api("POST", f"{INSTANCE}/setLabels",
                     {"labels": dict(inst.get("labels", {}), **{"clone-consistency": "crash"}),
                      "labelFingerprint": inst["labelFingerprint"]})
    assert st == 200, op
    m2 = mount_factory(emu, cache=m.cache, opts=[f"policy={pol}"])
    wait_for(lambda: jobs(m2) == {}, 30, "the job to end")
    assert f"job {jid}: " in log(m2) and "consistency is now crash" in log(m2), log(m2)
    assert zone_ops(emu, ("stop",)) == []
    assert emu.api("GET", "global/machineImages/repolicy")[0] == 404


def test_unmount_ends_a_job_following_a_clone_deleted_while_pending(emulator_factory,
                                                                     mount_factory, tmp_path):
    """mkdir, rmdir at once, unmount: the daemon exits within a bound although its clone job
    still follows the create (the unmount never waits for an operation in the cloud); the job
    stays in the journal, and the next mount resumes it to its end: the clone stays in the
    trash, made once."""
    emu = emulator_factory(seeds.inventory(4, 2))
    pol = policy_file(tmp_path, clone={"consistency": "crash"})
    m = mount_factory(emu, opts=[f"policy={pol}"])
    control(emu, "faults", {"opSeconds": 3600})         # the create stays under way
    target = m.path(f"{DISK}/snapshots/gone-at-once")
    try:
        os.mkdir(target)
        control(emu, "faults", {"opSeconds": 0.2})      # ... but the rmdir is quick
        # rmdir: to the trash (GCE refuses to delete a snapshot not READY yet)
        subprocess.run(["rmdir", str(target)], check=True, capture_output=True, timeout=60)
        assert not os.path.exists(target)
        [(jid, job)] = wait_for(lambda: jobs(m), 10, "the job in .clonefs/jobs").items()
        assert job["step"] == "wait_created"
        # unmount: the daemon must exit well before the operation ends
        proc = m.proc
        subprocess.run(["fusermount3", "-u", str(m.path())], check=True, capture_output=True)
        wait_for(lambda: proc.poll() is not None, 10, "the daemon to exit after the unmount")
        assert proc.returncode == 0, m.stderr()[-2000:]
        assert f"job {jid}: clone global/snapshots/gone-at-once of {DISK} left at step " \
            "wait_created: the mount is ending" in m.stderr()
    finally:
        release(emu)
    # the next mount resumes the job, which ends; the snapshot stays deleted
    m2 = mount_factory(emu, cache=m.cache, opts=[f"policy={pol}"])
    wait_for(lambda: jobs(m2) == {}, 30, "the resumed job to end")
    assert status_of(emu, "global/snapshots/gone-at-once") == "READY"
    assert not os.path.exists(m2.path(f"{DISK}/snapshots/gone-at-once"))
    assert os.path.isdir(m2.path(".clonefs/trash/global/snapshots/gone-at-once"))
    assert len(zone_ops(emu, ("createSnapshot",), "/disks/data-0")) == 1   # sent once
