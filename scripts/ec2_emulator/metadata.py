"""Credentials, STS GetCallerIdentity and the instance metadata service.

Keys: the pairs given on the command line (long-term, optionally with a
session token) and the temporary ones IMDS hands out for its role, which
expire on the emulator's clock.  IMDS speaks version 2 only: PUT
/latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1-21600)
returns a token; every GET needs it in X-aws-ec2-metadata-token, else 401.
"""

import base64
import json
import secrets
import string

from .util import ApiError, fmt_time, sts_response

ALNUM = string.ascii_uppercase + string.digits
IMDS_PREFIX = "/latest/"


class Key:
    __slots__ = ("akid", "secret", "token", "arn", "user_id", "expires")

    def __init__(self, akid, secret, token=None, arn=None, user_id=None, expires=None):
        self.akid, self.secret, self.token = akid, secret, token
        self.arn, self.user_id, self.expires = arn, user_id, expires


class Credentials:
    def __init__(self, state):
        self.state = state
        self.keys = {}

    def add(self, akid, secret, token=None, arn=None, user_id=None, expires=None):
        st = self.state
        self.keys[akid] = Key(akid, secret, token,
                              arn or "arn:aws:iam::%s:user/emulator" % st.account_id,
                              user_id or "AIDA" + akid[4:].ljust(17, "X")[:17], expires)

    def lookup(self, akid):
        """-> (secret, session token) of a key that is valid now, else None."""
        k = self.keys.get(akid)
        if k is None or (k.expires is not None and k.expires <= self.state.now()):
            return None
        return k.secret, k.token


def get_caller_identity(creds, akid, rid):
    k = creds.keys[akid]
    return sts_response("GetCallerIdentity", rid, {
        "Arn": k.arn, "UserId": k.user_id, "Account": creds.state.account_id})


class Imds:
    def __init__(self, state, creds, role="clonefs-role", credentials_ttl=21600.0):
        self.state = state
        self.creds = creds
        self.role = role
        self.credentials_ttl = credentials_ttl
        self.tokens = {}            # token -> expiry (emulator clock)
        self.current = None         # the role's Key now being handed out
        self.instance_id = "i-%017x" % state.rng.getrandbits(68)
        self.started = state.now()

    def _role_key(self):
        st = self.state
        now = st.now()
        k = self.current
        # a fresh set once less than 15 minutes are left, as IMDS rotates them early
        if k is None or k.expires - now < min(900.0, self.credentials_ttl / 2):
            akid = "ASIA" + "".join(secrets.choice(ALNUM) for _ in range(16))
            secret = base64.b64encode(secrets.token_bytes(30)).decode()
            token = base64.b64encode(secrets.token_bytes(96)).decode()
            arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (st.account_id, self.role,
                                                          self.instance_id)
            self.creds.add(akid, secret, token, arn=arn,
                           user_id="AROA%s:%s" % ("".join(secrets.choice(ALNUM)
                                                          for _ in range(17)), self.instance_id),
                           expires=now + self.credentials_ttl)
            k = self.current = self.creds.keys[akid]
        return k, now

    def handle(self, method, path, headers):
        """-> (status, headers, body)"""
        st = self.state
        text = {"Content-Type": "text/plain"}
        with st.lock:
            now = st.now()
            if path == "/latest/api/token":
                if method != "PUT":
                    return 405, text, b"Method Not Allowed"
                if headers.get("X-Forwarded-For"):
                    return 403, text, b"Forbidden"
                ttl = headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                try:
                    ttl = int(ttl)
                except (TypeError, ValueError):
                    return 400, text, b"Bad Request"
                if not 1 <= ttl <= 21600:
                    return 400, text, b"Bad Request"
                token = base64.urlsafe_b64encode(secrets.token_bytes(42)).decode()
                self.tokens[token] = now + ttl
                h = dict(text)
                h["X-Aws-Ec2-Metadata-Token-Ttl-Seconds"] = str(ttl)
                return 200, h, token.encode()
            if method != "GET":
                return 405, text, b"Method Not Allowed"
            token = headers.get("X-aws-ec2-metadata-token")
            if not token or self.tokens.get(token, 0) <= now:
                return 401, text, b"Unauthorized"
            body = self._get(path, now)
            if body is None:
                return 404, text, b"Not Found"
            return 200, text, body.encode()

    def _get(self, path, now):
        st = self.state
        az = st.zones[0]
        creds_root = "/latest/meta-data/iam/security-credentials/"
        if path == creds_root:
            return self.role
        if path.rstrip("/") == creds_root + self.role:
            k, now = self._role_key()
            return json.dumps({
                "Code": "Success", "LastUpdated": fmt_time(now)[:19] + "Z", "Type": "AWS-HMAC",
                "AccessKeyId": k.akid, "SecretAccessKey": k.secret, "Token": k.token,
                "Expiration": fmt_time(k.expires)[:19] + "Z"}, indent=2)
        if path == "/latest/dynamic/instance-identity/document":
            return json.dumps({
                "accountId": st.account_id, "architecture": "x86_64",
                "availabilityZone": az, "billingProducts": None, "devpayProductCodes": None,
                "marketplaceProductCodes": None, "imageId": "ami-0123456789abcdef0",
                "instanceId": self.instance_id, "instanceType": "m5.large",
                "kernelId": None, "pendingTime": fmt_time(self.started)[:19] + "Z",
                "privateIp": "172.31.0.10", "ramdiskId": None, "region": st.region,
                "version": "2017-09-30"}, indent=2)
        simple = {
            "/latest/meta-data/instance-id": self.instance_id,
            "/latest/meta-data/placement/availability-zone": az,
            "/latest/meta-data/placement/region": st.region,
            "/latest/meta-data/iam/info": json.dumps({
                "Code": "Success", "LastUpdated": fmt_time(now)[:19] + "Z",
                "InstanceProfileArn": "arn:aws:iam::%s:instance-profile/%s"
                                      % (st.account_id, self.role),
                "InstanceProfileId": "AIPA" + "0" * 17}, indent=2),
            "/latest/meta-data/": "ami-id\niam/\ninstance-id\nplacement/",
            "/latest/meta-data/placement/": "availability-zone\nregion",
            "/latest/meta-data/iam/": "info\nsecurity-credentials/",
        }
        return simple.get(path)


STS_ACTIONS = ("GetCallerIdentity", "AssumeRole", "AssumeRoleWithSAML",
               "AssumeRoleWithWebIdentity", "DecodeAuthorizationMessage", "GetAccessKeyInfo",
               "GetFederationToken", "GetSessionToken")


def is_sts(params):
    """STS shares the port: its actions, or its API version, route there."""
    return params.get("Action") in STS_ACTIONS or params.get("Version") == "2011-06-15"


def check_sts_action(params):
    action = params.get("Action")
    if action != "GetCallerIdentity":
        raise ApiError("InvalidAction", "Could not find operation %s for version 2011-06-15"
                       % action)
    for k in params:
        if k not in ("Action", "Version") and not k.startswith("X-Amz-"):
            raise ApiError("InvalidParameter", "The parameter %s is not recognized" % k)
