"""Small helpers shared by the emulator: time, ids, links, errors, JSON."""

import base64
import datetime
import hashlib
import json
import re

API_HOST = "https://www.googleapis.com"
API_ROOT = API_HOST + "/compute/v1/"
PROJECTS_ROOT = API_ROOT + "projects/"

# The API writes its timestamps in Pacific time with an explicit offset and
# milliseconds, e.g. 2024-05-01T10:20:30.123-07:00.  A fixed offset keeps the
# emulator deterministic.
TZ = datetime.timezone(datetime.timedelta(hours=-7))

NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
NAME_REGEX_TEXT = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
LABEL_KEY_RE = re.compile(r"^[\w][\w-]{0,62}$", re.UNICODE)
LABEL_VALUE_RE = re.compile(r"^[\w-]{0,63}$", re.UNICODE)

# Fingerprint of an empty label set as the API reports it.
EMPTY_LABEL_FINGERPRINT = "42WmSpB8rSM="


class ApiError(Exception):
    """An error the API reports in its JSON error envelope."""

    def __init__(self, code, reason, message, headers=None, **extra):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.headers = headers or {}
        self.extra = extra  # e.g. location / locationType

    def body(self):
        err = {"message": self.message, "domain": "global", "reason": self.reason}
        err.update(self.extra)
        return {"error": {"code": self.code, "message": self.message, "errors": [err]}}


def not_found(path):
    return ApiError(404, "notFound", "The resource '%s' was not found" % path)


def already_exists(path):
    return ApiError(409, "alreadyExists", "The resource '%s' already exists" % path)


def invalid(field, value, why):
    return ApiError(400, "invalid",
                    "Invalid value for field '%s': '%s'. %s" % (field, value, why))


def required(field):
    return ApiError(400, "required", "Required field '%s' not specified" % field)


def in_use(kind, path, user):
    return ApiError(400, "resourceInUseByAnotherResource",
                    "The %s resource '%s' is already being used by '%s'" % (kind, path, user))


def not_ready(path):
    return ApiError(400, "resourceNotReady", "The resource '%s' is not ready" % path)


def fmt_ts(epoch):
    """RFC 3339 with milliseconds and the API's offset."""
    ms = int(round(epoch * 1000))
    dt = datetime.datetime.fromtimestamp(ms // 1000, TZ) + datetime.timedelta(milliseconds=ms % 1000)
    return dt.isoformat(timespec="milliseconds")


def parse_ts(text):
    """Epoch seconds of an RFC 3339 timestamp, or None."""
    if not isinstance(text, str):
        return None
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        dt = datetime.datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def stable_id(*parts):
    """A deterministic uint64 (as the API's decimal string) from text."""
    h = hashlib.sha256("\x00".join(str(p) for p in parts).encode("utf-8", "surrogatepass")).digest()
    n = int.from_bytes(h[:8], "big") & ((1 << 63) - 1)
    if n < 10 ** 15:
        n += 10 ** 15
    return str(n)


def label_fingerprint(labels):
    """base64 of 8 bytes; a content hash, so it changes whenever labels do."""
    if not labels:
        return EMPTY_LABEL_FINGERPRINT
    canon = json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return base64.b64encode(hashlib.sha256(canon.encode()).digest()[:8]).decode()


def dumps(obj):
    """Compact UTF-8 JSON bytes (falls back to ASCII escapes for odd strings)."""
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def region_of_zone(zone):
    """us-central1-a -> us-central1 (strip the last '-x')."""
    if "-" in zone:
        return zone.rsplit("-", 1)[0]
    return zone


def storage_location(region):
    for prefix, loc in (("us-", "us"), ("northamerica-", "us"), ("europe-", "eu"),
                        ("asia-", "asia"), ("australia-", "asia")):
        if region.startswith(prefix):
            return loc
    return region


def parse_link(link, default_project):
    """A full or partial resource URL -> (project, [path parts]) or None.

    Accepts https://<host>/compute/v1/projects/P/..., projects/P/...,
    and paths relative to the project (global/..., zones/..., regions/...).
    """
    if not isinstance(link, str) or not link:
        return None
    s = link
    m = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+(/.*)?$", s)
    if m:
        s = m.group(1) or ""
        i = s.find("/projects/")
        if i < 0:
            return None
        s = s[i + 1:]
    s = s.lstrip("/")
    parts = s.split("/")
    if parts[0] == "projects":
        if len(parts) < 2 or not parts[1]:
            return None
        return parts[1], parts[2:]
    if parts[0] in ("global", "zones", "regions"):
        return default_project, parts
    return None
