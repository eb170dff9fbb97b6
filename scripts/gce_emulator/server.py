"""HTTP/1.1 front end: keep-alive, faults, test control endpoints."""

import email.utils
import gzip
import json
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .api import JSON_TYPE, Api
from .oauth import METADATA_PREFIX
from .store import SeedError, split_collection_path
from .util import ApiError, dumps

COMPUTE_PREFIX = "/compute/v1/"
PUBSUB_PREFIX = "/v1/"   # Pub/Sub's REST API (pubsub.py), when a feed is configured
CONTROL_PREFIX = "/emulator/v1/"
TOKEN_PATH = "/token"

# Printed on stderr before the traceback of an exception the emulator did not
# mean to raise (a bug in it, never an injected fault). The request still gets
# a 500, as from a real server, which clonefs retries like a flaky cloud; the
# test harness looks for this line so that the test that hit the bug fails.
INTERNAL_ERROR_MARK = "gce-emulator: internal error"


class Faults:
    """Fault-injection knobs; all can be changed at run time via /emulator/v1/faults."""

    FIELDS = {
        "failRate": "fail_rate", "slowRate": "slow_rate", "slowSeconds": "slow_seconds",
        "dropRate": "drop_rate", "garbageRate": "garbage_rate",
        # the change feed's Pub/Sub (pubsub.py)
        "feedLostAckRate": "feed_lost_ack_rate", "feedAckFailRate": "feed_ack_fail_rate",
        "feedRedeliverRate": "feed_redeliver_rate", "feedDuplicateRate": "feed_duplicate_rate",
        "feedReorderRate": "feed_reorder_rate", "feedHoldSeconds": "feed_hold_seconds",
        "feedSlowAckSeconds": "feed_slow_ack_seconds",
    }

    def __init__(self):
        self.fail_rate = 0.0
        self.slow_rate = 0.0
        self.slow_seconds = 2.0
        self.drop_rate = 0.0
        self.garbage_rate = 0.0
        self.feed_lost_ack_rate = 0.0
        self.feed_ack_fail_rate = 0.0
        self.feed_redeliver_rate = 0.0
        self.feed_duplicate_rate = 0.0
        self.feed_reorder_rate = 0.0
        self.feed_hold_seconds = 0.0
        self.feed_slow_ack_seconds = 0.0


class Emulator:
    """Everything the request handler needs."""

    def __init__(self, state, api, faults, verbose=False, oauth=None, pubsub=None):
        self.state = state
        self.pubsub = pubsub  # pubsub.PubSub when a change feed is configured
        self.api = api
        self.oauth = oauth
        self.faults = faults
        self.verbose = verbose
        self.stats_lock = threading.Lock()
        self.req_counts = {}
        self.req_bytes = {}
        self.received = {}    # requests by key as they arrive, before any fault or answer
        self.total_requests = 0
        self.total_bytes = 0
        self.overrides = []   # [{"method", "path", "status", "body", "headers", "times"}]
        self.internal_errors = 0

    def internal_error(self, what):
        """Record a bug of the emulator's own, from inside its except block."""
        with self.stats_lock:
            self.internal_errors += 1
        sys.stderr.write("%s: %s\n%s" % (INTERNAL_ERROR_MARK, what, traceback.format_exc()))
        sys.stderr.flush()

    def count(self, key, nbytes):
        with self.stats_lock:
            self.req_counts[key] = self.req_counts.get(key, 0) + 1
            self.req_bytes[key] = self.req_bytes.get(key, 0) + nbytes
            self.total_requests += 1
            self.total_bytes += nbytes

    def chance(self, rate):
        if not rate:
            return False
        with self.state.lock:
            return self.state.rng.random() < rate

    def take_override(self, method, path):
        with self.stats_lock:
            for ov in self.overrides:
                if ov["path"] == path and ov["method"] in (None, method):
                    if ov["times"] is not None:
                        ov["times"] -= 1
                        if ov["times"] <= 0:
                            self.overrides.remove(ov)
                    return ov
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, emulator):
        self.emulator = emulator
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):
        """An exception that escaped a handler: the client going away is not
        the emulator's fault; anything else is a bug of its own."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        self.emulator.internal_error("a request from %s:%s" % client_address[:2])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gce-emulator/0.1"
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

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    # ---------------------------------------------------------------- plumbing
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

    def _gzip_wanted(self):
        # Google's APIs compress an answer when the client asks in both places
        # their performance tips name: Accept-Encoding: gzip, and a User-Agent
        # that contains "gzip".
        ae = (self.headers.get("Accept-Encoding") or "").lower()
        ua = (self.headers.get("User-Agent") or "").lower()
        codings = [c.split(";")[0].strip() for c in ae.split(",")]
        return "gzip" in codings and "gzip" in ua

    def _send(self, status, headers, body, drop=False):
        phrase = self.responses.get(status, ("",))[0]
        if body and self._gzip_wanted():
            body = gzip.compress(body, 6)
            headers = dict(headers)
            headers["Content-Encoding"] = "gzip"
        lines = ["HTTP/1.1 %d %s" % (status, phrase),
                 "Date: " + email.utils.formatdate(usegmt=True),
                 "Server: " + self.server_version]
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
            return len(body) // 2
        self.wfile.write(head + body)
        return len(body)

    def _error(self, err):
        h = {"Content-Type": JSON_TYPE}
        h.update(err.headers)
        return err.code, h, dumps(err.body())

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
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        key = "%s %s" % (method, path)
        if not path.startswith(CONTROL_PREFIX):
            with em.stats_lock:
                em.received[key] = em.received.get(key, 0) + 1
        if path.startswith(COMPUTE_PREFIX):
            sent = self._compute(em, method, path, q, body)
        elif path.startswith(PUBSUB_PREFIX) and em.pubsub is not None:
            sent = self._send(*self._pubsub(em, method, path[len(PUBSUB_PREFIX):], body))
        elif path == TOKEN_PATH and em.oauth is not None:
            sent = self._send(*self._guarded(
                em, key, lambda: em.oauth.token_endpoint(method, self.headers, body)))
        elif path.startswith(METADATA_PREFIX) and em.oauth is not None:
            sent = self._send(*self._guarded(
                em, key, lambda: em.oauth.metadata(method, path, self.headers)))
        elif path.startswith(CONTROL_PREFIX):
            def control():
                status, out = self._control(em, method, path[len(CONTROL_PREFIX):], q, body)
                return status, {"Content-Type": JSON_TYPE}, dumps(out)
            sent = self._send(*self._guarded(em, key, control))
        else:
            sent = self._send(*self._error(ApiError(
                404, "notFound", "The requested URL %s was not found on this server." % path)))
        em.count(key, sent)

    def _guarded(self, em, key, answer):
        """answer() -> (status, headers, body); an ApiError is its answer, any
        other exception a bug of the emulator's: recorded, and a 500."""
        try:
            return answer()
        except ApiError as e:
            return self._error(e)
        except Exception as e:
            em.internal_error(key)
            return self._error(ApiError(
                500, "backendError", "Internal error in gce-emulator: %s" % e))

    def _compute(self, em, method, path, q, body):
        f = em.faults
        ov = em.take_override(method, path)
        if ov is not None:
            raw = ov["body"]
            return self._send(ov["status"], ov["headers"],
                              raw.encode("utf-8") if isinstance(raw, str) else raw)
        if em.chance(f.fail_rate):
            if em.chance(0.5):
                err = ApiError(503, "backendError", "The service is currently unavailable.",
                               headers={"Retry-After": "1"})
            else:
                err = ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded",
                               headers={"Retry-After": "1"})
            return self._send(*self._error(err))
        if em.chance(f.slow_rate):
            time.sleep(f.slow_seconds)
        # Faults above are deliberate; an exception from here on is a bug.
        status, headers, out = self._guarded(
            em, "%s %s" % (method, path),
            lambda: em.api.handle(method, path[len(COMPUTE_PREFIX):], q, body, self.headers))
        if status == 200 and em.chance(f.garbage_rate):
            if em.chance(0.5) and len(out) > 2:
                out = out[: len(out) // 2]                  # truncated JSON
            else:
                headers = {"Content-Type": "text/html; charset=UTF-8"}
                out = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        return self._send(status, headers, out, drop=em.chance(f.drop_rate))

    def _pubsub(self, em, method, sub, body):
        """Pub/Sub, with the compute API's credentials (one token serves both)."""
        def answer():
            em.api.check_auth(self.headers)
            return em.pubsub.handle(method, urllib.parse.unquote(sub), body)
        return self._guarded(em, "%s %s%s" % (method, PUBSUB_PREFIX, sub), answer)

    # ----------------------------------------------------------------- control
    def _control(self, em, method, sub, q, body):
        st = em.state
        parts = sub.split("/")
        try:
            data = json.loads(body) if body else None
        except ValueError:
            raise ApiError(400, "parseError", "Parse Error")
        if sub == "health" and method == "GET":
            return 200, {"status": "ok", "project": st.default_project}
        if sub == "requests":
            with em.stats_lock:
                if method == "DELETE":
                    em.req_counts.clear()
                    em.req_bytes.clear()
                    em.received.clear()
                    em.total_requests = em.total_bytes = 0
                    return 200, {}
                if method == "GET":
                    return 200, {"requests": dict(em.req_counts), "bytes": dict(em.req_bytes),
                                 "received": dict(em.received),
                                 "totalRequests": em.total_requests,
                                 "bytesServed": em.total_bytes}
        if sub == "internal-errors" and method == "GET":
            with em.stats_lock:
                return 200, {"count": em.internal_errors}
        if sub == "pubsub" and method == "GET" and em.pubsub is not None:
            return 200, em.pubsub.stats()
        if sub == "tokens" and method == "GET" and em.oauth is not None:
            return 200, {"tokens": em.oauth.listing()}
        if sub == "faults":
            if method == "POST":
                if not isinstance(data, dict):
                    raise ApiError(400, "invalid", "faults: expected a JSON object")
                with st.lock:
                    for k, v in data.items():
                        if k in Faults.FIELDS:
                            setattr(em.faults, Faults.FIELDS[k], float(v))
                        elif k == "opErrorRate":
                            st.op_error_rate = float(v)
                        elif k == "conflictRate":
                            em.api.conflict_rate = float(v)
                        elif k == "flushFails":
                            st.flush_fails = bool(v)
                        elif k == "pageTokenTtl":
                            em.api.page_token_ttl = None if v is None else float(v)
                        elif k == "opSeconds":
                            st.op_seconds = float(v)
                        else:
                            raise ApiError(400, "invalid", "faults: unknown field '%s'" % k)
            if method in ("GET", "POST"):
                out = {k: getattr(em.faults, a) for k, a in Faults.FIELDS.items()}
                out.update(opErrorRate=st.op_error_rate, conflictRate=em.api.conflict_rate,
                           flushFails=st.flush_fails, pageTokenTtl=em.api.page_token_ttl,
                           opSeconds=st.op_seconds)
                return 200, out
        if sub == "clock" and method == "POST":
            secs = (data or {}).get("advanceSeconds", 0) if isinstance(data, dict) else 0
            with st.lock:
                st.clock_offset += float(secs)
                st.advance()
                st.cond.notify_all()
                return 200, {"clockOffsetSeconds": st.clock_offset}
        if sub == "raw-override":
            if method == "DELETE":
                with em.stats_lock:
                    em.overrides.clear()
                return 200, {}
            if method == "POST":
                if not isinstance(data, dict) or not isinstance(data.get("path"), str):
                    raise ApiError(400, "invalid", "raw-override: expected {\"path\": ..., \"body\": ...}")
                p = data["path"]
                if not p.startswith("/"):
                    if not p.startswith("projects/"):
                        p = "projects/%s/%s" % (st.default_project, p)
                    p = "/compute/v1/" + p
                ov = {"method": data.get("method"), "path": p,
                      "status": int(data.get("status", 200)),
                      "body": data.get("body", ""),
                      "headers": dict(data.get("headers") or {"Content-Type": JSON_TYPE}),
                      "times": data.get("times")}
                with em.stats_lock:
                    em.overrides.append(ov)
                return 200, {"path": p}
        if parts[0] == "resources" and len(parts) > 1:
            return self._control_resources(em, method, "/".join(parts[1:]), data)
        raise ApiError(404, "notFound", "Unknown control endpoint %s %s%s"
                       % (method, CONTROL_PREFIX, sub))

    def _control_resources(self, em, method, rpath, data):
        st = em.state
        pname = st.default_project
        if rpath.startswith("projects/"):
            bits = rpath.split("/", 2)
            if len(bits) < 3:
                raise ApiError(400, "invalid", "bad resource path")
            pname, rpath = bits[1], bits[2]
        with st.lock:
            if method == "POST":
                if split_collection_path(rpath) is None:
                    raise ApiError(400, "invalid", "unknown collection '%s'" % rpath)
                proj = st.add_project(pname)
                docs = data if isinstance(data, list) else [data]
                out = []
                try:
                    for d in docs:
                        out.append(st.add_resource(proj, rpath, d, link=False).doc)
                    st.link_pass(proj)
                except SeedError as e:
                    raise ApiError(400, "invalid", str(e))
                return 200, {"resources": out}
            if method == "DELETE":
                cpath, _, name = rpath.rpartition("/")
                proj = st.project(pname)
                coll = proj.colls.get(cpath) if proj else None
                if coll is None or coll.remove(name) is None:
                    raise ApiError(404, "notFound", "no resource %s/%s" % (cpath, name))
                return 200, {}
        raise ApiError(404, "notFound", "Unknown control endpoint")


def serve(emulator, port):
    srv = Server(("127.0.0.1", port), emulator)
    return srv
