"""harness.py — start the GCE emulator and a real clonefs mount for a test,
and always take both down again, even when the test fails.

Nothing here synchronises with a fixed sleep: every wait polls a condition
against a deadline. A daemon whose stderr mentions a sanitizer report fails
the test that started it (as sshfs's tests do), and so does an emulator that
hit a bug of its own: it answers such a request with a 500, which clonefs
retries as a flaky cloud and a test could otherwise pass through.
"""
import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = ROOT / "scripts" / "gce-emulator"
CLONEFS = Path(os.environ.get("CLONEFS_BIN", ROOT / "build" / "test" / "clonefs"))
TOKEN = "test-token-0123456789"

# scripts/gce_emulator/server.py prints this line before the traceback of an
# exception it did not mean to raise (never for a fault it was told to inject).
EMULATOR_BUG_MARK = "gce-emulator: internal error"

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "ThreadSanitizer", "SUMMARY: UndefinedBehavior")


def wait_for(pred, timeout=20.0, what="condition", interval=0.02):
    """Poll pred() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def read_line_with_deadline(proc, timeout):
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("emulator did not announce its port")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("emulator exited: " + proc.stderr.read().decode(errors="replace"))
            buf += chunk
    return buf.split(b"\n", 1)[0].decode()


class Emulator:
    """scripts/gce-emulator on a loopback port picked by the kernel."""

    def __init__(self, workdir, seed=None, project="demo-project", token=TOKEN, args=(),
                 program=EMULATOR):
        self.workdir = Path(workdir)
        self.program = Path(program)
        self.project = project
        self.token = token
        self.seed_path = None
        if seed is not None:
            self.seed_path = self.workdir / "seed.json"
            self.seed_path.write_text(json.dumps(seed))
        self.args = list(args)
        self.proc = None
        self.url = None
        self.checked = False

    def start(self):
        cmd = [sys.executable, str(self.program), "--port", "0", "--project", self.project]
        if self.token:
            cmd += ["--token", self.token]
        if self.seed_path:
            cmd += ["--seed", str(self.seed_path)]
        cmd += self.args
        # one file per emulator: a test may run several in the same directory
        fd, name = tempfile.mkstemp(prefix="emulator-", suffix=".stderr", dir=self.workdir)
        self.stderr_path = Path(name)
        with os.fdopen(fd, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        self.checked = False
        line = read_line_with_deadline(self.proc, 30)
        if "http://" not in line:
            raise RuntimeError(f"unexpected emulator banner: {line!r}")
        self.url = line[line.index("http://"):].strip()
        if not self.url.endswith("/"):
            self.url += "/"
        self.port = int(self.url.split(":")[2].split("/")[0])
        return self

    def stop(self, check=True):
        """Stop the emulator; with check, fail (once) if it hit a bug of its own."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if check and self.proc and not self.checked:
            self.checked = True
            err = self.stderr()
            assert EMULATOR_BUG_MARK not in err, \
                "the emulator hit a bug of its own (answered 500):\n" + \
                err[err.index(EMULATOR_BUG_MARK):][:4000]

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except (AttributeError, OSError):
            return ""

    # --- the emulator's API, as a client would use it ---
    def api(self, method, path, body=None, query=None):
        """Call /compute/v1/projects/P/<path>; returns (status, parsed JSON or None)."""
        url = f"{self.url}projects/{self.project}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, None

    def list_all(self, path):
        items, token = [], None
        while True:
            q = {"maxResults": 500}
            if token:
                q["pageToken"] = token
            st, body = self.api("GET", path, query=q)
            assert st == 200, body
            items += body.get("items", [])
            token = body.get("nextPageToken")
            if not token:
                return items

    def wait_operation(self, op, timeout=30):
        scope = "global"
        if op.get("zone"):
            scope = "zones/" + op["zone"].rsplit("/", 1)[1]
        elif op.get("region"):
            scope = "regions/" + op["region"].rsplit("/", 1)[1]

        def done():
            st, body = self.api("GET", f"{scope}/operations/{op['name']}")
            return body if st == 200 and body.get("status") == "DONE" else None
        return wait_for(done, timeout, f"operation {op['name']}")


import urllib.parse  # noqa: E402  (used by Emulator.api)


class Mount:
    """A clonefs daemon in the foreground on a temporary mountpoint."""

    def __init__(self, emulator, workdir, opts=(), cache=None, token_file=True,
                 endpoint=None, project=None, sync_interval=1, env=None, mnt_parent=None):
        self.emu = emulator
        self.workdir = Path(workdir)
        # mnt_parent: where the mountpoint goes when other users must reach it
        self.mnt = Path(tempfile.mkdtemp(prefix="mnt-", dir=mnt_parent or self.workdir))
        self.cache = Path(cache) if cache else self.workdir / "cache"
        self.opts = list(opts)
        # endpoint=False: no endpoint= option (the daemon's default or environment)
        self.endpoint = None if endpoint is False else \
            endpoint or (emulator.url if emulator else "http://127.0.0.1:9/compute/v1/")
        # project=False: no gce:PROJECT argument (the daemon finds the project itself)
        self.project = None if project is False else \
            project or (emulator.project if emulator else "demo-project")
        self.sync_interval = sync_interval
        self.env = env  # changes to the daemon's environment; a value None unsets
        self.token_file = None
        if token_file:
            self.token_file = self.workdir / "token"
            self.token_file.write_text((emulator.token if emulator else TOKEN) + "\n")
            os.chmod(self.token_file, 0o600)
        self.proc = None
        self.log_path = self.workdir / f"clonefs-{self.mnt.name}.stderr"

    def command(self):
        o = [f"endpoint={self.endpoint}"] if self.endpoint else []
        o += [f"cache={self.cache}", f"sync_interval={self.sync_interval}"]
        if self.token_file:
            o.append(f"token_file={self.token_file}")
        o += self.opts
        src = [f"gce:{self.project}"] if self.project else []
        return [str(CLONEFS)] + src + [str(self.mnt), "-f", "-o", ",".join(o)]

    def environ(self):
        env = dict(os.environ)
        for k, v in (self.env or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def start(self, wait_sync=True, timeout=60):
        self.started_at = time.time()
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "ab"), env=self.environ())

        def mounted():
            if self.proc.poll() is not None:
                raise RuntimeError(f"clonefs exited with {self.proc.returncode}: {self.stderr()}")
            return os.path.ismount(self.mnt)
        wait_for(mounted, timeout, "the mount")
        if wait_sync:
            self.wait_synced(self.started_at - 1, timeout)
        return self

    def path(self, rel=""):
        return self.mnt / rel if rel else self.mnt

    def status(self):
        return json.loads((self.mnt / ".clonefs" / "status").read_text())

    def wait_synced(self, after=None, timeout=60):
        """Wait until every collection completed a listing that started at
        or after `after` (UTC seconds)."""
        after = time.time() if after is None else after

        def synced():
            st = self.status()
            for name, c in st["collections"].items():
                lc = c.get("last_complete_epoch")
                # whole seconds: a listing done earlier in after's second is
                # not after it (ceil, not int: passes can take well under 1 s)
                if lc is None or lc < math.ceil(after):
                    return False
            return True
        wait_for(synced, timeout, "a complete sync")

    def stderr(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, check=True):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            subprocess.run(["fusermount3", "-u", str(self.mnt)], capture_output=True)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
                subprocess.run(["fusermount3", "-uz", str(self.mnt)], capture_output=True)
        elif os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-uz", str(self.mnt)], capture_output=True)
        self.proc = None
        if check:
            err = self.stderr()
            bad = [m for m in SANITIZER_MARKS if m in err]
            assert not bad, f"sanitizer report in clonefs stderr:\n{err[-4000:]}"

    def kill(self):
        """SIGKILL the daemon and clear the dead mount (crash tests)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        subprocess.run(["fusermount3", "-uz", str(self.mnt)], capture_output=True)
        self.proc = None


def cleanup_dir(path):
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------- EC2
EC2_EMULATOR = ROOT / "scripts" / "ec2-emulator"
# scripts/ec2_emulator/server.py prints this before a traceback of its own.
EC2_EMULATOR_BUG_MARK = "ec2-emulator: internal error"
EC2_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
EC2_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class Ec2Emulator:
    """scripts/ec2-emulator on a loopback port picked by the kernel (EC2, STS
    and IMDSv2 on that one port); stop() fails the test on a bug of its own."""

    def __init__(self, workdir, seed=None, region="us-east-1", args=(),
                 access_key=EC2_ACCESS_KEY, secret_key=EC2_SECRET_KEY):
        self.workdir = Path(workdir)
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.seed_path = None
        if seed is not None:
            fd, name = tempfile.mkstemp(prefix="ec2-seed-", suffix=".json", dir=self.workdir)
            with os.fdopen(fd, "w") as f:
                json.dump(seed, f)
            self.seed_path = Path(name)
        self.args = list(args)
        self.proc = None
        self.url = None
        self.checked = False

    def start(self):
        cmd = [sys.executable, str(EC2_EMULATOR), "--port", "0", "--region", self.region,
               "--access-key", self.access_key, "--secret-key", self.secret_key]
        if self.seed_path:
            cmd += ["--seed", str(self.seed_path)]
        cmd += self.args
        fd, name = tempfile.mkstemp(prefix="ec2-emulator-", suffix=".stderr", dir=self.workdir)
        self.stderr_path = Path(name)
        with os.fdopen(fd, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        self.checked = False
        try:
            line = read_line_with_deadline(self.proc, 30)
        except (RuntimeError, AttributeError):
            # read_line_with_deadline reads proc.stderr, which is a file here
            self.proc.wait(10)
            raise RuntimeError("the EC2 emulator exited: " + self.stderr())
        if "http://" not in line:
            raise RuntimeError(f"unexpected emulator banner: {line!r}")
        self.url = line[line.index("http://"):].strip()
        self.port = int(self.url.split(":")[2].split("/")[0])
        return self

    def stop(self, check=True):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if check and self.proc and not self.checked:
            self.checked = True
            err = self.stderr()
            assert EC2_EMULATOR_BUG_MARK not in err, \
                "the EC2 emulator hit a bug of its own (answered 500):\n" + \
                err[err.index(EC2_EMULATOR_BUG_MARK):][:4000]

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except (AttributeError, OSError):
            return ""

    def env(self):
        """Environment for the AWS CLI or botocore against this emulator alone:
        its keys, empty config and credentials files, no IMDS, no pager."""
        for name in ("aws-config", "aws-credentials"):
            (self.workdir / name).touch()
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("AWS_"):
                del env[k]
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key,
                   AWS_CONFIG_FILE=str(self.workdir / "aws-config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(self.workdir / "aws-credentials"),
                   AWS_DEFAULT_REGION=self.region, AWS_EC2_METADATA_DISABLED="true",
                   AWS_PAGER="")
        return env

    def control(self, method, sub, body=None):
        """/emulator/v1/<sub> -> parsed JSON (raises on an HTTP error)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "emulator/v1/" + sub, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())


class AwsMount(Mount):
    """A clonefs daemon mounting aws:REGION from an Ec2Emulator: the
    emulator's keys in the environment (nothing else of AWS's: no profile
    files, no IMDS), -o endpoint= its URL. Everything else as Mount."""

    def __init__(self, emulator, workdir, region=None, **kw):
        kw["token_file"] = False
        kw["project"] = False
        super().__init__(emulator, workdir, **kw)
        self.endpoint = kw.get("endpoint") or emulator.url
        self.region = region or emulator.region

    def command(self):
        o = [f"endpoint={self.endpoint}"] if self.endpoint else []
        o += [f"cache={self.cache}", f"sync_interval={self.sync_interval}"] + self.opts
        return [str(CLONEFS), f"aws:{self.region}", str(self.mnt), "-f", "-o", ",".join(o)]

    def environ(self):
        env = self.emu.env()
        for k, v in (self.env or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env
