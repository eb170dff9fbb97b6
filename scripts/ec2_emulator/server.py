"""HTTP/1.1 front end: routing (EC2 and STS by Action, IMDS by path, test
control endpoints), SigV4, faults, the error envelopes."""

import email.utils
import json
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .faults import Faults, injected_failure
from .metadata import IMDS_PREFIX, check_sts_action, get_caller_identity, is_sts
from .query import parse_form
from .sigv4 import AuthError, verify
from .store import SeedError, load_seed
from .util import ApiError, ec2_error, request_id, sts_error

CONTROL_PREFIX = "/emulator/v1/"
XML_TYPE = "text/xml;charset=UTF-8"

# Printed on stderr before the traceback of an exception the emulator did not
# mean to raise (a bug in it, never an injected fault). The request still gets
# a 500 InternalError, as from AWS; the test harness looks for this line so
# that the test that hit the bug fails.
INTERNAL_ERROR_MARK = "ec2-emulator: internal error"

EC2_AUTH = {  # AuthError kind -> (code, HTTP status) as EC2 answers
    "missing": ("MissingAuthenticationToken", 401),
    "malformed": ("AuthFailure", 401),
    "scope": ("AuthFailure", 401),
    "unknown-key": ("AuthFailure", 401),
    "token": ("AuthFailure", 401),
    "signature": ("AuthFailure", 401),
    "expired": ("RequestExpired", 400),
}
EC2_AUTH_MESSAGE = "AWS was not able to validate the provided access credentials"
STS_AUTH = {  # ... and as STS answers
    "missing": ("MissingAuthenticationToken", 403),
    "malformed": ("IncompleteSignature", 400),
    "scope": ("SignatureDoesNotMatch", 403),
    "unknown-key": ("InvalidClientTokenId", 403),
    "token": ("InvalidClientTokenId", 403),
    "signature": ("SignatureDoesNotMatch", 403),
    "expired": ("SignatureDoesNotMatch", 403),
}


class Emulator:
    """Everything the request handler needs."""

    def __init__(self, state, api, creds, imds, faults, verbose=False):
        self.state = state
        self.api = api
        self.creds = creds
        self.imds = imds
        self.faults = faults
        self.verbose = verbose
        self.stats_lock = threading.Lock()
        self.req_counts = {}
        self.total_requests = 0
        self.internal_errors = 0
        self.overrides = []   # [{"action", "status", "body", "headers", "times"}]

    def take_override(self, action):
        with self.stats_lock:
            for ov in self.overrides:
                if ov["action"] == action:
                    if ov["times"] is not None:
                        ov["times"] -= 1
                        if ov["times"] <= 0:
                            self.overrides.remove(ov)
                    return ov
        return None

    def internal_error(self, what):
        with self.stats_lock:
            self.internal_errors += 1
        sys.stderr.write("%s: %s\n%s" % (INTERNAL_ERROR_MARK, what, traceback.format_exc()))
        sys.stderr.flush()

    def count(self, key):
        with self.stats_lock:
            self.req_counts[key] = self.req_counts.get(key, 0) + 1
            self.total_requests += 1

    def chance(self, rate):
        if not rate:
            return False
        with self.state.lock:
            return self.state.rng.random() < rate

    def pick(self):
        with self.state.lock:
            return self.state.rng.random()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, emulator):
        self.emulator = emulator
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        self.emulator.internal_error("a request from %s:%s" % client_address[:2])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ec2-emulator/0.1"
    sys_version = ""

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.emulator.verbose:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # ------------------------------------------------------------ plumbing
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, headers, body, drop=False):
        phrase = self.responses.get(status, ("",))[0]
        lines = ["HTTP/1.1 %d %s" % (status, phrase),
                 "Date: " + email.utils.formatdate(usegmt=True),
                 "Server: AmazonEC2"]
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        lines.append("Content-Length: %d" % len(body))
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.log_request(status, len(body))
        if drop:
            # The headers promise the whole body; half of it arrives, then EOF.
            self.wfile.write(head + body[: len(body) // 2])
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(head + body)

    def _dispatch(self, method):
        em = self.server.emulator
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(400, {"Content-Type": "text/plain"}, b"bad request body")
            return
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path.startswith(IMDS_PREFIX):
            em.count("IMDS %s %s" % (method, path))
            self._send(*self._guarded_raw(em, "IMDS " + path,
                                          lambda: em.imds.handle(method, path, self.headers)))
        elif path.startswith(CONTROL_PREFIX):
            em.count("%s %s" % (method, path))
            self._send(*self._guarded_raw(em, path, lambda: self._control(
                em, method, path[len(CONTROL_PREFIX):], body)))
        else:
            self._api(em, method, url, body)

    def _guarded_raw(self, em, key, answer):
        try:
            return answer()
        except ApiError as e:
            return e.status, {"Content-Type": "application/json"}, json.dumps(
                {"error": e.code, "message": e.message}).encode()
        except Exception:
            em.internal_error(key)
            return 500, {"Content-Type": "text/plain"}, b"internal error"

    # ----------------------------------------------------------------- API
    def _api(self, em, method, url, body):
        rid = request_id()
        sts = False
        try:
            if method not in ("GET", "POST"):
                raise ApiError("InvalidAction", "The HTTP method %s is not supported." % method)
            try:
                params = parse_form(url.query)
                ctype = (self.headers.get("Content-Type") or "").lower()
                if method == "POST" and (not ctype or "x-www-form-urlencoded" in ctype):
                    params.update(parse_form(body.decode("utf-8")))
            except (UnicodeDecodeError, ValueError):
                raise ApiError("MalformedQueryString", "The query string is malformed")
            sts = is_sts(params)
            em.count(("STS " if sts else "EC2 ") + str(params.get("Action")))
            ov = em.take_override(params.get("Action"))
            if ov is not None:
                raw = ov["body"]
                self._send(ov["status"], ov["headers"],
                           raw.encode("utf-8") if isinstance(raw, str) else raw)
                return
            f = em.faults
            if em.chance(f.fail_rate):
                raise injected_failure(em.pick(), sts)
            if em.chance(f.slow_rate):
                time.sleep(f.slow_seconds)
            st = em.state
            try:
                akid = verify(method, url.path, url.query, self.headers.items(), body,
                              "sts" if sts else "ec2", st.region, em.creds.lookup)
            except AuthError as e:
                code, status = (STS_AUTH if sts else EC2_AUTH)[e.kind]
                msg = e.message
                if not sts and e.kind in ("unknown-key", "token", "signature"):
                    msg = EC2_AUTH_MESSAGE
                raise ApiError(code, msg, status=status)
            if sts:
                check_sts_action(params)
                status, out = 200, get_caller_identity(em.creds, akid, rid)
            else:
                status, out = em.api.handle(params, rid)
        except ApiError as e:
            h = {"Content-Type": XML_TYPE}
            h.update(e.headers)
            if sts:
                h["x-amzn-RequestId"] = rid
            self._send(e.status, h, (sts_error if sts else ec2_error)(e, rid))
            return
        except Exception:
            em.internal_error("%s %s" % (method, url.path))
            err = ApiError("InternalError", "An internal error has occurred", status=500)
            self._send(500, {"Content-Type": XML_TYPE}, ec2_error(err, rid))
            return
        headers = {"Content-Type": XML_TYPE}
        if sts:
            headers["x-amzn-RequestId"] = rid
        if em.chance(em.faults.garbage_rate):
            if em.chance(0.5) and len(out) > 2:
                out = out[: len(out) // 2]                     # truncated XML
            else:
                headers = {"Content-Type": "text/html; charset=UTF-8"}
                out = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self._send(status, headers, out, drop=em.chance(em.faults.drop_rate))

    # ------------------------------------------------------------- control
    def _control(self, em, method, sub, body):
        st = em.state
        try:
            data = json.loads(body) if body else None
        except ValueError:
            raise ApiError("ParseError", "the body is not JSON")
        out = None
        if sub == "health" and method == "GET":
            out = {"status": "ok", "region": st.region, "accountId": st.account_id}
        elif sub == "requests" and method == "GET":
            with em.stats_lock:
                out = {"requests": dict(em.req_counts), "totalRequests": em.total_requests}
        elif sub == "requests" and method == "DELETE":
            with em.stats_lock:
                em.req_counts.clear()
                em.total_requests = 0
            out = {}
        elif sub == "internal-errors" and method == "GET":
            with em.stats_lock:
                out = {"count": em.internal_errors}
        elif sub == "faults" and method in ("GET", "POST"):
            timing = {"eventualSeconds": "eventual_seconds",
                      "snapshotSeconds": "snapshot_seconds", "imageSeconds": "image_seconds",
                      "volumeSeconds": "volume_seconds", "instanceSeconds": "instance_seconds",
                      "terminatedLingerSeconds": "terminated_linger"}
            with st.lock:
                if method == "POST":
                    if not isinstance(data, dict):
                        raise ApiError("Invalid", "faults: expected a JSON object")
                    for k, v in data.items():
                        if k in Faults.FIELDS:
                            setattr(em.faults, Faults.FIELDS[k], float(v))
                        elif k in timing:
                            setattr(st, timing[k], float(v))
                        else:
                            raise ApiError("Invalid", "faults: unknown field '%s'" % k)
                out = {k: getattr(em.faults, a) for k, a in Faults.FIELDS.items()}
                out.update({k: getattr(st, a) for k, a in timing.items()})
        elif sub == "clock" and method == "POST":
            secs = data.get("advanceSeconds", 0) if isinstance(data, dict) else 0
            with st.lock:
                st.clock_offset += float(secs)
                st.advance()
                out = {"clockOffsetSeconds": st.clock_offset}
        elif sub == "raw-override" and method == "POST":
            if not isinstance(data, dict) or not isinstance(data.get("action"), str):
                raise ApiError("Invalid", 'raw-override: expected {"action": .., "body": ..}')
            ov = {"action": data["action"], "status": int(data.get("status", 200)),
                  "body": data.get("body", ""),
                  "headers": dict(data.get("headers") or {"Content-Type": XML_TYPE}),
                  "times": data.get("times")}
            with em.stats_lock:
                em.overrides.append(ov)
            out = {"action": ov["action"]}
        elif sub == "raw-override" and method == "DELETE":
            with em.stats_lock:
                em.overrides.clear()
            out = {}
        elif sub == "resources" and method == "POST":
            with st.lock:
                try:
                    load_seed(st, data)
                except (SeedError, ValueError, TypeError, KeyError) as e:
                    raise ApiError("Invalid", "resources: %s" % e)
            out = {}
        elif sub.startswith("resources/") and method == "DELETE":
            rid = sub.split("/", 1)[1]
            with st.lock:
                kind, r = st.find(rid)
                if r is None:
                    raise ApiError("NotFound", "no resource %s" % rid, status=404)
                st.coll(kind).remove(rid)
            out = {}
        if out is None:
            raise ApiError("NotFound", "unknown control endpoint %s %s%s"
                           % (method, CONTROL_PREFIX, sub), status=404)
        return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()
