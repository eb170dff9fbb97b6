"""Signature Version 4 verification (the Authorization header form), as the
SigV4 reference describes it:

  canonical request = METHOD \\n canonical URI \\n canonical query \\n
                      canonical headers \\n signed headers \\n payload hash
  string to sign    = AWS4-HMAC-SHA256 \\n X-Amz-Date \\n scope \\n hex(sha256(CR))
  signing key       = HMAC chain "AWS4"+secret, date, region, service, "aws4_request"

The verifier rebuilds the canonical request from what arrived and compares
signatures in constant time; it never trusts the client's idea of them.
"""

import calendar
import hashlib
import hmac
import re
import time
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = 15 * 60           # AWS refuses a request stamped more than 15 minutes off
_SPACES = re.compile(r"\s+")


class AuthError(Exception):
    """kind: missing | malformed | unknown-key | token | signature | expired | scope"""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _quote(s):
    return urllib.parse.quote(s, safe="-_.~")


def canonical_uri(raw_path):
    """The path normalised (. and .. segments, repeated slashes) and each
    segment URI-encoded once more, as for every service but S3."""
    path = urllib.parse.unquote(raw_path or "/")
    segs = []
    for s in path.split("/"):
        if s in ("", "."):
            continue
        if s == "..":
            if segs:
                segs.pop()
            continue
        segs.append(s)
    norm = "/" + "/".join(segs)
    if path.endswith("/") and norm != "/":
        norm += "/"
    return urllib.parse.quote(urllib.parse.quote(norm, safe="/~"), safe="/~")


def canonical_query(raw_query):
    pairs = []
    for part in (raw_query or "").split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        k = urllib.parse.unquote_plus(k)
        v = urllib.parse.unquote_plus(v)
        if k == "X-Amz-Signature":
            continue
        pairs.append((_quote(k), _quote(v)))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def parse_authorization(value):
    if not value.startswith(ALGORITHM + " "):
        raise AuthError("malformed", "Unsupported authorization type")
    fields = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        k, sep, v = part.strip().partition("=")
        if not sep:
            raise AuthError("malformed", "Authorization header requires 'Credential', "
                            "'SignedHeaders' and 'Signature' parameters")
        fields[k] = v
    for need in ("Credential", "SignedHeaders", "Signature"):
        if need not in fields:
            raise AuthError("malformed", "Authorization header requires '%s' parameter" % need)
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthError("malformed", "Credential should be scoped to a valid region")
    return cred, fields["SignedHeaders"], fields["Signature"]


def verify(method, raw_path, raw_query, headers, body, service, region, lookup, now=None):
    """Check one request.  headers: a list of (name, value) as received;
    lookup(access_key) -> (secret, session token or None) or None.
    Returns the access key on success, raises AuthError otherwise."""
    hdrs = {}
    for name, value in headers:
        hdrs.setdefault(name.lower(), []).append(value)
    auth = hdrs.get("authorization")
    if not auth:
        raise AuthError("missing", "Authentication header is missing")
    cred, signed, signature = parse_authorization(auth[0])
    akid, date, cregion, cservice, _ = cred
    amz_date = (hdrs.get("x-amz-date") or [""])[0]
    try:
        t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise AuthError("malformed", "Missing or malformed X-Amz-Date header")
    if amz_date[:8] != date:
        raise AuthError("scope", "Credential should be scoped to a valid date "
                        "(the X-Amz-Date header's): '%s'" % date)
    if cregion != region:
        raise AuthError("scope", "Credential should be scoped to a valid region, not '%s'"
                        % cregion)
    if cservice != service:
        raise AuthError("scope", "Credential should be scoped to correct service: '%s'"
                        % service)
    now = time.time() if now is None else now
    if abs(now - t) > MAX_SKEW:
        raise AuthError("expired", "Request has expired.")
    found = lookup(akid)
    if found is None:
        raise AuthError("unknown-key", "AWS was not able to validate the provided access "
                        "credentials")
    secret, token = found
    sent_token = (hdrs.get("x-amz-security-token") or [None])[0]
    if token != sent_token:
        raise AuthError("token", "The security token included in the request is invalid.")
    names = signed.split(";")
    if "host" not in names:
        raise AuthError("malformed", "'Host' must be a signed header")
    if names != sorted(names):
        raise AuthError("signature", "SignedHeaders are not in order")
    lines = []
    for n in names:
        vals = hdrs.get(n)
        if vals is None:
            raise AuthError("signature", "Signed header '%s' is missing" % n)
        lines.append("%s:%s" % (n, ",".join(_SPACES.sub(" ", v.strip()) for v in vals)))
    payload = (hdrs.get("x-amz-content-sha256") or [None])[0]
    body_hash = hashlib.sha256(body).hexdigest()
    if payload is None:
        payload = body_hash
    elif payload != "UNSIGNED-PAYLOAD" and payload != body_hash:
        raise AuthError("signature", "The provided 'x-amz-content-sha256' header does not "
                        "match what was computed.")
    creq = "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                      "\n".join(lines) + "\n", signed, payload])
    scope = "/".join(cred[1:])
    sts = "\n".join([ALGORITHM, amz_date, scope,
                     hashlib.sha256(creq.encode("utf-8")).hexdigest()])
    want = hmac.new(signing_key(secret, date, cregion, cservice), sts.encode("utf-8"),
                    hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signature):
        raise AuthError("signature", "The request signature we calculated does not match "
                        "the signature you provided. Check your AWS Secret Access Key and "
                        "signing method. Consult the service documentation for details.")
    return akid
