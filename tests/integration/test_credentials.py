"""test_credentials.py — every way clonefs finds credentials, against the
emulator's OAuth 2 token endpoint and metadata server: a service-account key
(-o credentials=, GOOGLE_APPLICATION_CREDENTIALS), gcloud's authorized_user
file, the metadata server; a wrong signature, an expired assertion, a revoked
refresh token; refresh before expiry and after a 401; the project and the
endpoint from the environment, the key, the metadata server; files open to
others refused with the chmod that fixes them; and no token, key or refresh
token in stderr, .clonefs/status or .clonefs/log.

Keys are generated per test with `openssl genpkey`; none is committed."""
import base64
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from harness import Mount, wait_for

EMAIL = "clonefs-test@demo-project.iam.gserviceaccount.com"
ZONE = "us-central1-a"
SEED = {
    f"zones/{ZONE}/disks": [{"name": "data-1", "sizeGb": "10"}],
    "global/snapshots": [{"name": "snap-1", "sourceDisk": f"zones/{ZONE}/disks/data-1",
                          "storageBytes": "1024", "labels": {"env": "dev"}}],
}
SCOPE = "https://www.googleapis.com/auth/"
REFRESH_TOKEN = "1//refresh-token-for-tests"
CLIENT_SECRET = "client-secret-for-tests"


# ---- keys and files ----

def genkey(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(path)], check=True, capture_output=True)
    os.chmod(path, 0o600)
    return path


def pubkey(priv, out):
    subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(out)],
                   check=True, capture_output=True)
    return out


def write_private(path, doc, mode=0o600):
    path.write_text(json.dumps(doc, indent=2))
    os.chmod(path, mode)
    return path


def sa_key(path, priv, token_uri, project="demo-project", mode=0o600):
    doc = {"type": "service_account", "project_id": project, "private_key_id": "kid-1",
           "private_key": priv.read_text(), "client_email": EMAIL, "client_id": "1234",
           "token_uri": token_uri}
    if project is None:
        del doc["project_id"]
    return write_private(path, doc, mode)


def au_file(path, token_uri, refresh_token=REFRESH_TOKEN):
    return write_private(path, {"type": "authorized_user",
                                "client_id": "client-1.apps.googleusercontent.com",
                                "client_secret": CLIENT_SECRET,
                                "refresh_token": refresh_token, "token_uri": token_uri})


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def isolated(tmp_path, **extra):
    """The daemon's environment with nothing of this machine's own credentials,
    projects or metadata server in it."""
    env = {"GOOGLE_APPLICATION_CREDENTIALS": None, "GOOGLE_CLOUD_PROJECT": None,
           "CLOUDSDK_CORE_PROJECT": None, "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": None,
           "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"),
           "GCE_METADATA_HOST": f"127.0.0.1:{closed_port()}"}
    env.update(extra)
    return env


# ---- the emulator's side ----

def token_uri(emu):
    return f"http://127.0.0.1:{emu.port}/token"


def control(emu, sub):
    with urllib.request.urlopen(f"http://127.0.0.1:{emu.port}/emulator/v1/{sub}",
                                timeout=30) as r:
        return json.loads(r.read())


def issued(emu):
    return control(emu, "tokens")["tokens"]


def requests(emu, key):
    return control(emu, "requests")["requests"].get(key, 0)


def compute_requests(emu):
    return sum(n for k, n in control(emu, "requests")["requests"].items()
               if " /compute/" in k)


def sa_emulator(emulator_factory, tmp_path, args=()):
    """An emulator trusting a fresh key's public half, and that key's file."""
    priv = genkey(tmp_path / "sa-private.pem")
    pub = pubkey(priv, tmp_path / "sa-public.pem")
    emu = emulator_factory(SEED, args=["--service-account", f"{EMAIL}={pub}", *args])
    return emu, sa_key(tmp_path / "sa.json", priv, token_uri(emu))


def stderr_has(m, text, timeout=30):
    return wait_for(lambda: text in m.stderr(), timeout, f"{text!r} in clonefs's stderr")


def run_to_exit(m):
    """Start the daemon expecting it to stop before mounting."""
    r = subprocess.run(m.command(), env=m.environ(), capture_output=True, text=True, timeout=60)
    assert not os.path.ismount(m.mnt)
    return r


# ---- service accounts ----

def test_service_account_key_file(emulator_factory, mount_factory, tmp_path):
    emu, key = sa_emulator(emulator_factory, tmp_path)
    m = mount_factory(emu, token_file=False, opts=[f"credentials={key}"],
                      env=isolated(tmp_path))
    assert os.listdir(m.path("global/snapshots")) == ["snap-1"]
    st = m.status()
    assert st["auth"] == "service_account"
    toks = issued(emu)
    assert len(toks) == 1
    assert toks[0]["source"] == "service_account" and toks[0]["subject"] == EMAIL
    assert toks[0]["scopes"] == [SCOPE + "compute"]
    assert requests(emu, "POST /token") == 1
    # the read-write scope lets a change through (the emulator refuses it to a
    # read-only token with 403)
    os.setxattr(m.path("global/snapshots/snap-1"), "user.owner", b"alice")

    def labelled():
        st, body = emu.api("GET", "global/snapshots/snap-1")
        return st == 200 and body.get("labels", {}).get("owner") == "alice"
    wait_for(labelled, 30, "the label at the API")


def test_read_only_mount_asks_for_compute_readonly(emulator_factory, mount_factory, tmp_path):
    emu, key = sa_emulator(emulator_factory, tmp_path)
    m = mount_factory(emu, token_file=False, opts=[f"credentials={key}", "ro"],
                      env=isolated(tmp_path))
    assert os.listdir(m.path("global/snapshots")) == ["snap-1"]
    assert [t["scopes"] for t in issued(emu)] == [[SCOPE + "compute.readonly"]]


def test_google_application_credentials_and_the_keys_project(emulator_factory, mount_factory,
                                                              tmp_path):
    # the emulator told about the key by the key file itself (JSON form)
    priv = genkey(tmp_path / "k.pem")
    key = sa_key(tmp_path / "sa.json", priv, "http://127.0.0.1:1/token")
    emu = emulator_factory(SEED, args=["--service-account", str(key)])
    sa_key(key, priv, token_uri(emu))
    m = mount_factory(emu, token_file=False, project=False,
                      env=isolated(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(key)))
    st = m.status()
    assert st["project"] == "demo-project" and st["auth"] == "service_account"
    assert os.listdir(m.path("global/snapshots")) == ["snap-1"]
    with open("/proc/self/mounts") as f:
        assert any(line.split()[:2] == ["gce:demo-project", str(m.mnt)] for line in f)


def test_wrong_signature_is_refused_and_said(emulator_factory, mount_factory, tmp_path):
    emu, _ = sa_emulator(emulator_factory, tmp_path)
    other = genkey(tmp_path / "other.pem")  # same account, a key Google never saw
    key = sa_key(tmp_path / "wrong.json", other, token_uri(emu))
    m = mount_factory(emu, token_file=False, opts=[f"credentials={key}"], wait_sync=False,
                      env=isolated(tmp_path))
    stderr_has(m, "answered HTTP 400: invalid_grant: Invalid JWT Signature.")
    assert "invalid_grant: Invalid JWT Signature." in m.path(".clonefs/log").read_text()
    assert issued(emu) == []
    assert compute_requests(emu) == 0
    assert os.listdir(m.path("global/snapshots")) == []

    def said_in_status():
        errors = [c.get("last_error") for c in m.status()["collections"].values()]
        return any(e and "no access token" in e for e in errors)
    wait_for(said_in_status, 30, "the refusal in .clonefs/status")


def test_expired_assertion_is_refused(emulator_factory, mount_factory, tmp_path):
    emu, key = sa_emulator(emulator_factory, tmp_path)
    # two hours on the emulator's clock: every JWT clonefs signs is from its past
    with urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{emu.port}/emulator/v1/clock", method="POST",
            data=json.dumps({"advanceSeconds": 7200}).encode()), timeout=30) as r:
        assert r.status == 200
    m = mount_factory(emu, token_file=False, opts=[f"credentials={key}"], wait_sync=False,
                      env=isolated(tmp_path))
    stderr_has(m, "invalid_grant: Invalid JWT: Token must be a short-lived token (60 minutes)")
    assert issued(emu) == [] and compute_requests(emu) == 0


def test_tokens_are_refreshed_before_they_expire(emulator_factory, mount_factory, tmp_path):
    emu, key = sa_emulator(emulator_factory, tmp_path, args=["--token-ttl", "4"])
    m = mount_factory(emu, token_file=False, opts=[f"credentials={key}"],
                      env=isolated(tmp_path))
    wait_for(lambda: requests(emu, "POST /token") >= 3, 30, "three tokens")
    m.wait_synced()
    # each new token came before the last one expired: the API never said 401
    assert "401, fetching a fresh access token" not in m.stderr()
    assert os.listdir(m.path("global/snapshots")) == ["snap-1"]


# ---- the token endpoint checks what Google checks ----

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(priv, claims, alg="RS256"):
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(priv)],
                         input=f"{head}.{body}".encode(), capture_output=True, check=True).stdout
    return f"{head}.{body}.{b64url(sig)}"


def post_token(emu, form, ctype="application/x-www-form-urlencoded"):
    data = urllib.parse.urlencode(form).encode() if "form" in ctype else \
        json.dumps(form).encode()
    req = urllib.request.Request(token_uri(emu), data=data, method="POST")
    req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.mark.parametrize("case,error,text", [
    ("good", None, None),
    ("other key", "invalid_grant", "Invalid JWT Signature."),
    ("expired", "invalid_grant", "Token must be a short-lived token"),
    ("two hours", "invalid_grant", "Token must be a short-lived token"),
    ("from the future", "invalid_grant", "Token must be a short-lived token"),
    ("wrong aud", "invalid_grant", "Failed audience check"),
    ("unknown iss", "invalid_grant", "Invalid grant: account not found"),
    ("no scope", "invalid_scope", "Invalid OAuth scope"),
    ("HS256", "invalid_grant", "alg must be RS256"),
    ("json body", "invalid_request", "Content-Type"),
    ("unknown grant", "unsupported_grant_type", "Invalid grant_type"),
    ("bad refresh token", "invalid_grant", "Token has been expired or revoked."),
    ("good refresh token", None, None),
])
def test_token_endpoint_checks(emulator_factory, tmp_path, case, error, text):
    priv = genkey(tmp_path / "k.pem")
    pub = pubkey(priv, tmp_path / "k.pub")
    emu = emulator_factory(SEED, args=["--service-account", f"{EMAIL}={pub}",
                                       "--refresh-token", REFRESH_TOKEN])
    now = int(time.time())
    claims = {"iss": EMAIL, "scope": SCOPE + "compute", "aud": token_uri(emu),
              "iat": now, "exp": now + 3600}
    key, ctype, alg = priv, "application/x-www-form-urlencoded", "RS256"
    form = None
    if case == "other key":
        key = genkey(tmp_path / "other.pem")
    elif case == "expired":
        claims.update(iat=now - 7200, exp=now - 3600)
    elif case == "two hours":
        claims.update(exp=now + 7200)
    elif case == "from the future":
        claims.update(iat=now + 600, exp=now + 1200)
    elif case == "wrong aud":
        claims["aud"] = "https://oauth2.googleapis.com/token"
    elif case == "unknown iss":
        claims["iss"] = "nobody@demo-project.iam.gserviceaccount.com"
    elif case == "no scope":
        del claims["scope"]
    elif case == "HS256":
        alg = "HS256"
    elif case == "json body":
        ctype = "application/json"
    elif case == "unknown grant":
        form = {"grant_type": "password", "username": "u", "password": "p"}
    elif case.endswith("refresh token"):
        form = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s",
                "refresh_token": REFRESH_TOKEN if case.startswith("good") else "other"}
    if form is None:
        form = {"grant_type": GRANT, "assertion": jwt(key, claims, alg)}
    st, body = post_token(emu, form, ctype)
    if error is None:
        assert st == 200, body
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        # the token opens the API, and nothing else does (--token aside)
        req = urllib.request.Request(f"{emu.url}projects/demo-project/global/snapshots")
        req.add_header("Authorization", "Bearer " + body["access_token"])
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
    else:
        assert st == 400, body
        assert body["error"] == error and text in body["error_description"], body
        assert issued(emu) == []


def test_metadata_server_requires_its_header(emulator_factory):
    emu = emulator_factory(SEED)
    url = f"http://127.0.0.1:{emu.port}/computeMetadata/v1/project/project-id"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=30)
    assert e.value.code == 403
    req = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.read() == b"demo-project" and r.headers["Metadata-Flavor"] == "Google"


# ---- authorized_user (gcloud auth application-default login) ----

def test_gcloud_application_default_credentials_and_a_401(emulator_factory, mount_factory,
                                                          tmp_path):
    emu = emulator_factory(SEED, args=["--refresh-token", REFRESH_TOKEN])
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    au_file(gcloud / "application_default_credentials.json", token_uri(emu))
    m = mount_factory(emu, token_file=False,
                      env=isolated(tmp_path, CLOUDSDK_CONFIG=str(gcloud)))
    assert m.status()["auth"] == "authorized_user"
    assert [t["source"] for t in issued(emu)] == ["authorized_user"]
    # the token expires on the emulator's clock: the API answers 401, clonefs
    # fetches a fresh token once and the sync carries on
    with urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{emu.port}/emulator/v1/clock", method="POST",
            data=json.dumps({"advanceSeconds": 3601}).encode()), timeout=30) as r:
        assert r.status == 200
    after = time.time()
    stderr_has(m, "401, fetching a fresh access token")
    m.wait_synced(after)
    assert requests(emu, "POST /token") == 2
    assert len(issued(emu)) == 2


def test_revoked_refresh_token(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(SEED, args=["--refresh-token", REFRESH_TOKEN])
    au = au_file(tmp_path / "au.json", token_uri(emu), refresh_token="1//revoked")
    m = mount_factory(emu, token_file=False, opts=[f"credentials={au}"], wait_sync=False,
                      env=isolated(tmp_path))
    stderr_has(m, "invalid_grant: Token has been expired or revoked.")
    assert issued(emu) == [] and compute_requests(emu) == 0


# ---- the metadata server ----

def test_metadata_server_token_and_project(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(SEED)
    m = mount_factory(emu, token_file=False, project=False,
                      env=isolated(tmp_path, GCE_METADATA_HOST=f"127.0.0.1:{emu.port}"))
    st = m.status()
    assert st["auth"] == "metadata" and st["project"] == "demo-project"
    assert os.listdir(m.path("global/snapshots")) == ["snap-1"]
    assert requests(emu, "GET /computeMetadata/v1/project/project-id") == 1
    assert requests(emu, "GET /computeMetadata/v1/instance/service-accounts/default/token") >= 1
    assert {t["source"] for t in issued(emu)} == {"metadata"}


# ---- project and endpoint from the environment ----

@pytest.mark.parametrize("var", ["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"])
def test_project_and_endpoint_from_the_environment(emulator_factory, mount_factory, tmp_path,
                                                   var):
    emu = emulator_factory(SEED)
    env = isolated(tmp_path, CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=emu.url)
    env[var] = "demo-project"
    m = mount_factory(emu, project=False, endpoint=False, env=env)
    st = m.status()
    assert st["project"] == "demo-project" and st["endpoint"] == emu.url
    assert os.listdir(m.path("global/snapshots")) == ["snap-1"]


def test_command_line_wins_over_the_environment(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(SEED)
    env = isolated(tmp_path, GOOGLE_CLOUD_PROJECT="not-this-one",
                   CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE="http://127.0.0.1:9/compute/v1/")
    m = mount_factory(emu, env=env)  # gce:demo-project and -o endpoint=
    st = m.status()
    assert st["project"] == "demo-project" and st["endpoint"] == emu.url


def test_no_project_and_a_bad_endpoint_override_are_usage_errors(mount_factory, tmp_path):
    env = isolated(tmp_path)
    m = mount_factory(None, start=False, project=False, env=env)
    r = run_to_exit(m)
    assert r.returncode == 2
    assert "no project: give gce:PROJECT, -o project=ID or GOOGLE_CLOUD_PROJECT" in r.stderr
    assert env["GCE_METADATA_HOST"] in r.stderr  # what was asked, and that it did not answer

    env = isolated(tmp_path, CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE="http://example.com/compute/v1/")
    m = mount_factory(None, start=False, endpoint=False, env=env)
    r = run_to_exit(m)
    assert r.returncode == 2
    assert ("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=http://example.com/compute/v1/: "
            "plain http only to a loopback address") in r.stderr


# ---- files open to others ----

@pytest.mark.parametrize("kind,mode", [("credentials", 0o644), ("credentials", 0o640),
                                       ("token_file", 0o644), ("token_file", 0o604)])
def test_files_open_to_others_are_refused(emulator_factory, mount_factory, tmp_path, kind, mode):
    emu = emulator_factory(SEED, args=["--refresh-token", REFRESH_TOKEN])
    if kind == "credentials":
        path = au_file(tmp_path / "au.json", token_uri(emu))
        m = mount_factory(emu, start=False, token_file=False, opts=[f"credentials={path}"],
                          env=isolated(tmp_path))
    else:
        m = mount_factory(emu, start=False, env=isolated(tmp_path))
        path = m.token_file
    os.chmod(path, mode)
    r = run_to_exit(m)
    assert r.returncode == 1
    assert f"(mode {mode:04o}): run chmod 600 {path}" in r.stderr
    assert compute_requests(emu) == 0 and requests(emu, "POST /token") == 0
    os.chmod(path, 0o600)
    m.start()
    assert os.listdir(m.path("global/snapshots")) == ["snap-1"]


def test_unusable_key_file_stops_the_mount(mount_factory, tmp_path):
    bad = write_private(tmp_path / "ext.json", {"type": "external_account", "audience": "x"})
    m = mount_factory(None, start=False, token_file=False, opts=[f"credentials={bad}"],
                      env=isolated(tmp_path))
    r = run_to_exit(m)
    assert r.returncode == 1
    assert 'type "external_account" is not supported' in r.stderr


# ---- no secret in what clonefs says ----

def test_no_token_key_or_refresh_token_in_logs_or_status(emulator_factory, mount_factory,
                                                         tmp_path):
    emu, key = sa_emulator(emulator_factory, tmp_path, args=["--refresh-token", REFRESH_TOKEN])
    au = au_file(tmp_path / "au.json", token_uri(emu))
    seen = []
    for cred in (key, au):
        # debug: every FUSE request and HTTP retry is logged too
        m = mount_factory(emu, token_file=False, opts=[f"credentials={cred}", "debug"],
                          env=isolated(tmp_path))
        os.listdir(m.path("global/snapshots"))
        seen += [m.stderr(), m.path(".clonefs/status").read_text(),
                 m.path(".clonefs/log").read_text()]
    pem = json.loads(key.read_text())["private_key"]
    secrets = [t["token"] for t in issued(emu)] + [REFRESH_TOKEN, CLIENT_SECRET]
    secrets += [line for line in pem.splitlines() if len(line) > 40]
    assert len(issued(emu)) >= 2
    for text in seen:
        assert "ya29." not in text
        for s in secrets:
            assert s not in text


# ---- issue 14: what a token file and a policy file may be; never dumpable ----

def test_token_file_replaced_by_a_fifo_is_refused_at_once(emulator_factory, mount_factory,
                                                          tmp_path):
    """A FIFO where the token file was used to hang every write forever (an open for
    reading waits for a writer): now it is refused at once, with a line naming the file,
    and the write answers within its budget. A regular file again, and writes work."""
    emu = emulator_factory(SEED)
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"clone": {"consistency": "crash"}}))
    m = mount_factory(emu, opts=[f"policy={pol}"], env=isolated(tmp_path))
    tok = m.token_file
    good = tok.read_text()
    tok.unlink()
    os.mkfifo(tok, 0o600)
    # each write in a child with a deadline, so that a hang fails the test, not the suite
    for cmd in (["setfattr", "-n", "user.team", "-v", "db", str(m.path("global/snapshots/snap-1"))],
                ["mkdir", str(m.path(f"zones/{ZONE}/disks/data-1/snapshots/after-fifo"))]):
        t = time.monotonic()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{cmd[0]} hung on a token file that is a FIFO")
        assert r.returncode != 0 and time.monotonic() - t < 20, (r, time.monotonic() - t)
    wait_for(lambda: f"token file {tok} is not a regular file" in m.stderr(), 10,
             "the refusal in the log")
    tok.unlink()
    tok.write_text(good)
    os.chmod(tok, 0o600)
    os.setxattr(m.path("global/snapshots/snap-1"), "user.team", b"db")
    assert emu.api("GET", "global/snapshots/snap-1")[1]["labels"]["team"] == "db"


def test_token_file_of_another_user_is_refused(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(SEED)
    m = mount_factory(emu, start=False, env=isolated(tmp_path))
    os.chown(m.token_file, 4242, -1)
    r = run_to_exit(m)
    assert r.returncode == 1
    assert f"token file {m.token_file} belongs to uid 4242" in r.stderr
    assert compute_requests(emu) == 0
    os.chown(m.token_file, os.geteuid(), -1)
    m.start()
    assert os.listdir(m.path("global/snapshots")) == ["snap-1"]


@pytest.mark.parametrize("how", ["mode-0664", "mode-0646", "owner-4242", "fifo"])
def test_unsafe_policy_file_stops_the_mount(emulator_factory, mount_factory, tmp_path, how):
    """The policy names the health command the daemon runs (as root under systemd) and
    what it may delete: a file others may change is refused at start, naming it."""
    emu = emulator_factory(SEED)
    pol = tmp_path / "policy.json"
    if how == "fifo":
        os.mkfifo(pol, 0o644)
    else:
        pol.write_text(json.dumps({"clone": {"health_command": ["/bin/true"]}}))
        if how.startswith("mode-"):
            os.chmod(pol, int(how[5:], 8))
        else:
            os.chown(pol, 4242, -1)
    m = mount_factory(emu, start=False, opts=[f"policy={pol}"], env=isolated(tmp_path))
    r = run_to_exit(m)
    assert r.returncode != 0
    want = {"mode-0664": f"policy file {pol} is writable by group or others (mode 0664)",
            "mode-0646": f"policy file {pol} is writable by group or others (mode 0646)",
            "owner-4242": f"policy file {pol} belongs to uid 4242",
            "fifo": f"policy file {pol} is not a regular file"}[how]
    assert want in r.stderr, r.stderr
    assert compute_requests(emu) == 0


def test_daemon_is_never_dumpable(emulator_factory, mount_factory, tmp_path):
    """With a token file (not only with a key) the process is not dumpable: no core
    file, no ptrace or /proc/PID/mem for another process of its user. The observable
    from outside: the kernel gives a non-dumpable process's /proc/PID files to root.
    The daemon runs here with group 4242 (still uid 0, so it may mount): dumpable, its
    /proc/PID/fd would belong to group 4242; not dumpable, to group 0."""
    emu = emulator_factory(SEED)

    class Regid(Mount):
        def command(self):
            return ["setpriv", "--regid=4242", "--clear-groups", "--"] + super().command()

    # allow_other: FUSE lets only the mounting uid and gid in otherwise, and we are gid 0
    m = Regid(emu, tmp_path, opts=["allow_other"], env=isolated(tmp_path))
    try:
        m.start()
        pid = m.proc.pid
        status = open(f"/proc/{pid}/status").read()
        assert "\nGid:\t4242\t4242" in status, status     # the daemon's own group is 4242
        assert os.stat(f"/proc/{pid}/fd").st_gid == 0
        assert os.stat(f"/proc/{pid}/environ").st_gid == 0
    finally:
        m.stop()
