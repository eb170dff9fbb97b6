"""Google's OAuth 2 token endpoint and the GCE metadata server, as far as
clients of the Compute Engine API use them.

POST /token (https://oauth2.googleapis.com/token), form-encoded (RFC 6749
section 3.2), with two grants:
  urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523; Google's OAuth 2.0
    for Server to Server Applications): `assertion` is a JWT signed RS256
    with a service account's key.  The signature is checked against a public
    key the emulator was given (--service-account), with the openssl command,
    and the claims as Google does: iss a known account, aud this endpoint,
    scope non-empty, iat/exp within an hour of each other and of now.
  refresh_token (RFC 6749 section 6; authorized_user files): client_id,
    client_secret and a refresh token the emulator was given.
  The answer is {"access_token", "expires_in", "token_type": "Bearer"} (the
  refresh grant adds "scope"); a refusal is {"error", "error_description"}
  with Google's codes and texts.

GET /computeMetadata/v1/instance/service-accounts/default/token and
/computeMetadata/v1/project/project-id, which require the header
Metadata-Flavor: Google and answer with it, as the metadata server does.

Every token issued is accepted by /compute/ until it expires on the
emulator's clock (which POST /emulator/v1/clock moves), with its scopes: a
token with only read-only scopes may not change anything (403).
"""

import base64
import binascii
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import urllib.parse

JSON_TYPE = "application/json; charset=utf-8"
FORM_TYPE = "application/x-www-form-urlencoded"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_GRANT = "refresh_token"
MAX_ASSERTION_LIFETIME = 3600  # Google: a JWT lives at most an hour
CLOCK_SKEW = 60                # seconds of client clock error forgiven
SCOPE_ROOT = "https://www.googleapis.com/auth/"
# Scopes that let a token read, and write, Compute Engine resources.
READ_SCOPES = {SCOPE_ROOT + s for s in ("compute", "compute.readonly", "cloud-platform",
                                         "cloud-platform.read-only")}
WRITE_SCOPES = {SCOPE_ROOT + s for s in ("compute", "cloud-platform")}
METADATA_PREFIX = "/computeMetadata/v1/"
METADATA_SCOPES = [SCOPE_ROOT + "cloud-platform"]
USER_SCOPES = [SCOPE_ROOT + "cloud-platform"]

# Google's texts for the refusals a client of this endpoint meets.
BAD_TIMEFRAME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                 "reasonable timeframe. Check your iat and exp values in the JWT claim.")
BAD_SIGNATURE = "Invalid JWT Signature."
NO_ACCOUNT = "Invalid grant: account not found"
BAD_SCOPE = "Invalid OAuth scope or ID token audience provided."


class OAuthError(Exception):
    def __init__(self, status, error, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class SetupError(Exception):
    """A --service-account the emulator cannot use."""


def _b64url_decode(text):
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _openssl(args, data, what):
    try:
        return subprocess.run(["openssl"] + args, input=data, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupError("%s: cannot run openssl: %s" % (what, e))


class OAuth:
    def __init__(self, state, token_ttl=3600, refresh_tokens=()):
        self.state = state
        self.token_ttl = token_ttl
        self.refresh_tokens = set(refresh_tokens)
        self.accounts = {}      # client_email -> [public key PEM path, ...]
        self.tokens = {}        # access token -> {"expires", "scopes", "source", "subject"}
        self.metadata_token = None
        self.audiences = []     # this endpoint's own URLs, set once the port is known
        self.lock = threading.Lock()
        self.keydir = tempfile.mkdtemp(prefix="gce-emulator-keys-")

    def close(self):
        shutil.rmtree(self.keydir, ignore_errors=True)

    # ------------------------------------------------------------- set-up
    def add_service_account(self, spec):
        """spec: a service-account key file (JSON), or EMAIL=FILE with a PEM public key."""
        email = None
        if "=" in spec and "@" in spec.split("=", 1)[0] and not os.path.exists(spec):
            email, spec = spec.split("=", 1)
        try:
            with open(spec, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise SetupError("--service-account %s: %s" % (spec, e.strerror))
        if email is not None:
            if b"-----BEGIN PUBLIC KEY-----" not in raw:
                raise SetupError("--service-account %s=%s: not a PEM public key" % (email, spec))
            pem = raw
        else:
            try:
                info = json.loads(raw)
            except ValueError:
                raise SetupError("--service-account %s: not JSON (give EMAIL=PUBKEY.pem for a "
                                 "PEM public key)" % spec)
            if not isinstance(info, dict) or info.get("type") != "service_account" or \
                    not isinstance(info.get("client_email"), str) or \
                    not isinstance(info.get("private_key"), str):
                raise SetupError("--service-account %s: not a service_account key with "
                                 "client_email and private_key" % spec)
            email = info["client_email"]
            r = _openssl(["pkey", "-pubout"], info["private_key"].encode(), spec)
            if r.returncode != 0 or b"PUBLIC KEY" not in r.stdout:
                raise SetupError("--service-account %s: openssl cannot read its private_key"
                                 % spec)
            pem = r.stdout
        path = os.path.join(self.keydir, "%d.pem" % sum(len(v) for v in self.accounts.values()))
        with open(path, "wb") as f:
            f.write(pem)
        self.accounts.setdefault(email, []).append(path)

    # ------------------------------------------------------------- tokens
    def _issue(self, scopes, source, subject):
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = {"expires": self.state.now() + self.token_ttl,
                                  "scopes": list(scopes), "source": source, "subject": subject}
        return token

    def lookup(self, token):
        """'valid' (with its scopes), 'expired', or None for a token never issued."""
        with self.lock:
            t = self.tokens.get(token)
            if t is None:
                return None, None
            if self.state.now() >= t["expires"]:
                return "expired", None
            return "valid", t["scopes"]

    def listing(self):
        now = self.state.now()
        with self.lock:
            return [{"token": k, "source": v["source"], "subject": v["subject"],
                     "scopes": v["scopes"], "expiresInSeconds": round(v["expires"] - now, 3)}
                    for k, v in self.tokens.items()]

    # ------------------------------------------------------ POST /token
    def token_endpoint(self, method, headers, body):
        try:
            if method != "POST":
                raise OAuthError(405, "invalid_request", "The token endpoint takes POST only.")
            ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != FORM_TYPE:
                raise OAuthError(400, "invalid_request",
                                 "Invalid Content-Type: expected %s" % FORM_TYPE)
            try:
                form = urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True,
                                             strict_parsing=bool(body))
            except (UnicodeDecodeError, ValueError):
                raise OAuthError(400, "invalid_request", "Malformed request body.")
            if any(len(v) > 1 for v in form.values()):
                raise OAuthError(400, "invalid_request", "Duplicate parameter in the request.")
            form = {k: v[0] for k, v in form.items()}
            grant = form.get("grant_type")
            if not grant:
                raise OAuthError(400, "invalid_request", "Missing required parameter: grant_type")
            if grant == JWT_GRANT:
                out = self._jwt_grant(form)
            elif grant == REFRESH_GRANT:
                out = self._refresh_grant(form)
            else:
                raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type: " + grant)
            status = 200
        except OAuthError as e:
            status, out = e.status, {"error": e.error, "error_description": e.description}
        hdrs = {"Content-Type": JSON_TYPE, "Cache-Control": "no-cache, no-store, max-age=0, "
                "must-revalidate", "Pragma": "no-cache"}
        return status, hdrs, json.dumps(out, indent=2).encode()

    def _jwt_grant(self, form):
        assertion = form.get("assertion")
        if not assertion:
            raise OAuthError(400, "invalid_request", "Missing required parameter: assertion")
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: not header.claims.signature")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: not base64url-encoded JSON")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: not base64url-encoded JSON")
        if header.get("alg") != "RS256":
            raise OAuthError(400, "invalid_grant", "Invalid JWT: alg must be RS256")
        iss = claims.get("iss")
        keys = self.accounts.get(iss) if isinstance(iss, str) else None
        if not keys:
            raise OAuthError(400, "invalid_grant", NO_ACCOUNT)
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        if not any(self._verify(k, signed, signature) for k in keys):
            raise OAuthError(400, "invalid_grant", BAD_SIGNATURE)
        aud = claims.get("aud")
        if aud not in self.audiences:
            raise OAuthError(400, "invalid_grant",
                             "Invalid JWT: Failed audience check. The right audience is %s"
                             % self.audiences[0])
        iat, exp = claims.get("iat"), claims.get("exp")
        now = self.state.now()
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)) or \
                exp <= iat or exp - iat > MAX_ASSERTION_LIFETIME or \
                iat > now + CLOCK_SKEW or exp < now - CLOCK_SKEW:
            raise OAuthError(400, "invalid_grant", BAD_TIMEFRAME)
        scope = claims.get("scope")
        scopes = scope.split() if isinstance(scope, str) else []
        if not scopes or any(not s.startswith(SCOPE_ROOT) for s in scopes):
            raise OAuthError(400, "invalid_scope", BAD_SCOPE)
        token = self._issue(scopes, "service_account", iss)
        return {"access_token": token, "expires_in": int(self.token_ttl), "token_type": "Bearer"}

    def _verify(self, pubkey, signed, signature):
        with tempfile.NamedTemporaryFile(dir=self.keydir, suffix=".sig") as sig:
            sig.write(signature)
            sig.flush()
            r = _openssl(["dgst", "-sha256", "-verify", pubkey, "-signature", sig.name],
                         signed, "JWT signature")
        return r.returncode == 0 and b"Verified OK" in r.stdout

    def _refresh_grant(self, form):
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not form.get(k)]
        if "client_id" in missing or "client_secret" in missing:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if missing:
            raise OAuthError(400, "invalid_request", "Missing required parameter: refresh_token")
        if form["refresh_token"] not in self.refresh_tokens:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        token = self._issue(USER_SCOPES, "authorized_user", form["client_id"])
        return {"access_token": token, "expires_in": int(self.token_ttl),
                "scope": " ".join(USER_SCOPES), "token_type": "Bearer"}

    # -------------------------------------------- the metadata server
    def metadata(self, method, path, headers):
        """(status, headers, body) for a path under /computeMetadata/v1/."""
        base = {"Metadata-Flavor": "Google"}
        if headers.get("X-Forwarded-For") is not None or \
                (headers.get("Metadata-Flavor") or "").strip() != "Google":
            return 403, {"Content-Type": "text/html; charset=UTF-8"}, (
                b"Your client does not have permission to get URL " + path.encode() +
                b" from this server. Missing Metadata-Flavor:Google header.\n")
        if method != "GET":
            return 405, dict(base, **{"Content-Type": "text/html; charset=UTF-8"}), \
                b"Method not allowed\n"
        sub = path[len(METADATA_PREFIX):]
        if sub == "instance/service-accounts/default/token":
            # The metadata server hands out its cached token until five
            # minutes (here: at most half the lifetime) are left of it.
            now = self.state.now()
            with self.lock:
                tok = self.metadata_token
                left = self.tokens[tok]["expires"] - now if tok else 0
            if left <= min(300, self.token_ttl / 2):
                tok = self._issue(METADATA_SCOPES, "metadata", "default")
                left = self.token_ttl
                with self.lock:
                    self.metadata_token = tok
            body = json.dumps({"access_token": tok, "expires_in": int(left),
                               "token_type": "Bearer"}).encode()
            return 200, dict(base, **{"Content-Type": "application/json"}), body
        if sub == "project/project-id":
            return 200, dict(base, **{"Content-Type": "application/text"}), \
                self.state.default_project.encode()
        return 404, dict(base, **{"Content-Type": "text/html; charset=UTF-8"}), \
            b"Not Found\n"
