"""The Compute Engine v1 subset: paths under /compute/v1/projects/PROJECT/.

Api.handle() takes a parsed request and returns (status, headers, body bytes);
errors are raised as util.ApiError and rendered in the API's envelope.
"""

import base64
import binascii
import bisect
import hashlib
import json
import urllib.parse

from . import fields as fieldmask
from .filters import FilterError, compile_filter
from .oauth import READ_SCOPES, WRITE_SCOPES
from .store import RTYPES, split_collection_path
from .util import (NAME_RE, NAME_REGEX_TEXT, PROJECTS_ROOT, UUID_RE, ApiError, already_exists,
                   dumps, fmt_ts, in_use, invalid, label_fingerprint, not_found, not_ready,
                   parse_link, region_of_zone, required, stable_id, storage_location)

JSON_TYPE = "application/json; charset=UTF-8"
MAX_RESULTS = 500
WAIT_LIMIT = 120.0
_TOKEN_SECRET = b"gce-emulator-page-token-v1"
# Collections this emulator serves (list / get) and where they live.
SERVED = ("snapshots", "images", "machineImages", "disks", "instances", "operations",
          "zones", "regions")
AGGREGATED = {
    # rtype: (list kind, scope types included by default)
    "disks": ("compute#diskAggregatedList", ("zones", "regions")),
    "instances": ("compute#instanceAggregatedList", ("zones",)),
    "operations": ("compute#operationAggregatedList", ("zones", "regions", "global")),
}
FLUSH_FAIL_LABEL = "emulator-flush-fails"


def _bool(v):
    return isinstance(v, str) and v.lower() in ("true", "1")


class Api:
    def __init__(self, state, token=None, conflict_rate=0.0, page_token_ttl=None, oauth=None):
        self.state = state
        self.token = token
        self.oauth = oauth  # tokens issued by POST /token and the metadata server
        self.conflict_rate = conflict_rate
        self.page_token_ttl = page_token_ttl

    # ------------------------------------------------------------------ entry
    def check_auth(self, headers):
        auth = headers.get("Authorization")
        www = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
        if not auth:
            raise ApiError(401, "required",
                           "Request is missing required authentication credential. Expected "
                           "OAuth 2 access token, login cookie or other valid authentication "
                           "credential. See https://developers.google.com/identity/sign-in/web/"
                           "devconsole-project.", headers=www,
                           location="Authorization", locationType="header")
        scheme, _, cred = auth.strip().partition(" ")
        cred = cred.strip()
        issued, scopes = self.oauth.lookup(cred) if self.oauth and cred else (None, None)
        if scheme.lower() != "bearer" or not cred or issued == "expired" or \
                (issued is None and self.token is not None and cred != self.token):
            www["WWW-Authenticate"] += ', error="invalid_token"'
            raise ApiError(401, "authError",
                           "Request had invalid authentication credentials. Expected OAuth 2 "
                           "access token, login cookie or other valid authentication credential. "
                           "See https://developers.google.com/identity/sign-in/web/"
                           "devconsole-project.", headers=www,
                           location="Authorization", locationType="header")
        return scopes

    def check_scopes(self, scopes, method, path):
        """An issued token reads with any Compute Engine scope and changes
        things only with a read-write one (operations' wait is a read)."""
        if scopes is None:
            return
        need = WRITE_SCOPES if method != "GET" and not path.endswith("/wait") else READ_SCOPES
        if not need & set(scopes):
            www = 'Bearer realm="https://accounts.google.com/", error="insufficient_scope", ' \
                  'scope="%s"' % " ".join(sorted(need))
            raise ApiError(403, "insufficientPermissions",
                           "Request had insufficient authentication scopes.",
                           headers={"WWW-Authenticate": www})

    def handle(self, method, path, query, body, headers):
        """path: the part after /compute/v1/.  query: {name: last value}."""
        self.check_scopes(self.check_auth(headers), method, path)
        st = self.state
        with st.lock:
            st.advance()
            status, out = self._route(method, path, query, body)
        if isinstance(out, (dict, list)):
            out = dumps(out)
        if status == 200 and query.get("fields"):
            try:
                mask = fieldmask.parse(query["fields"])
            except fieldmask.FieldsError as e:
                # The reference: a `fields` value with an error is 400 Bad
                # Request with a message naming the selection, never a full
                # answer the caller did not ask for.
                raise ApiError(400, "invalidParameter",
                               "Invalid field selection %s (%s)" % (query["fields"], e))
            if mask is not None:
                out = dumps(fieldmask.apply(json.loads(out), mask))
        return status, {"Content-Type": JSON_TYPE}, out

    # ---------------------------------------------------------------- routing
    def _route(self, method, path, q, body):
        st = self.state
        parts = [urllib.parse.unquote(p) for p in path.split("/")]
        if len(parts) < 2 or parts[0] != "projects" or not parts[1]:
            raise self._no_route(path)
        pname, rest = parts[1], parts[2:]
        proj = st.project(pname)
        if proj is None:
            raise not_found("projects/%s" % pname)
        if not rest:
            if method == "GET":
                return 200, self._project_doc(proj)
            raise self._no_route(path)
        if any(p == "" for p in rest):
            raise self._no_route(path)
        if rest[0] == "aggregated":
            if len(rest) == 2 and rest[1] in AGGREGATED and method == "GET":
                return 200, self._aggregated(proj, rest[1], q)
            raise self._no_route(path)
        if rest[0] == "global":
            if len(rest) < 2:
                raise self._no_route(path)
            cpath, remainder = "global/" + rest[1], rest[2:]
        elif rest[0] in ("zones", "regions"):
            if len(rest) <= 2:
                cpath, remainder = rest[0], rest[1:]
            else:
                cpath, remainder = "/".join(rest[:3]), rest[3:]
        else:
            raise self._no_route(path)
        sp = split_collection_path(cpath)
        if sp is None or sp[2] not in SERVED:
            raise self._no_route(path)
        scope_type, scope_name, rtype = sp
        if scope_type in ("zones", "regions") and not proj.has_scope(scope_type, scope_name):
            field = "zone" if scope_type == "zones" else "region"
            raise invalid(field, scope_name, "Unknown %s." % field)
        coll = proj.coll(cpath)
        n = len(remainder)
        if n == 0:
            if method == "GET":
                return 200, self._list(proj, coll, q)
            if method == "POST":
                if cpath == "global/snapshots":
                    return self._insert_snapshot(proj, q, body)
                if cpath == "global/images":
                    return self._insert_image(proj, q, body)
                if cpath == "global/machineImages":
                    return self._insert_machine_image(proj, q, body)
                if rtype == "disks":
                    return self._insert_disk(proj, coll, q, body)
                if rtype == "instances" and scope_type == "zones":
                    return self._insert_instance(proj, coll, q, body)
            raise self._no_route(path)
        name = remainder[0]
        if n == 1:
            if method == "GET":
                e = coll.get(name)
                if e is None:
                    raise not_found(coll.rel(name) if rtype not in ("zones", "regions")
                                    else "projects/%s/%s/%s" % (proj.name, rtype, name))
                return 200, e.bytes()
            if method == "DELETE" and rtype in ("snapshots", "images", "machineImages"):
                return self._delete(proj, coll, name, q)
            if method == "DELETE" and rtype == "operations":
                # {global,zone,region}Operations.delete: the record goes (the work it
                # describes does not stop), and with it what a requestId led to.
                if coll.remove(name) is None:
                    raise not_found(coll.rel(name))
                return 204, b""
            raise self._no_route(path)
        if n == 2 and method == "POST":
            action = remainder[1]
            if action == "setLabels" and rtype in ("snapshots", "images", "machineImages",
                                                   "disks", "instances"):
                return self._set_labels(proj, coll, name, q, body)
            if action == "createSnapshot" and rtype == "disks":
                return self._create_snapshot(proj, coll, name, q, body)
            if action in ("stop", "start") and rtype == "instances":
                return self._stop_start(proj, coll, name, q, action)
            if action == "wait" and rtype == "operations":
                return 200, self._wait(coll, name)
        raise self._no_route(path)

    @staticmethod
    def _no_route(path):
        return ApiError(404, "notFound",
                        "The requested URL /compute/v1/%s was not found on this server." % path)

    def _project_doc(self, proj):
        return {
            "kind": "compute#project",
            "id": proj.id,
            "creationTimestamp": fmt_ts(proj.created),
            "name": proj.name,
            "selfLink": PROJECTS_ROOT + proj.name,
            "defaultServiceAccount": "%s-compute@developer.gserviceaccount.com"
                                     % (int(proj.id) % 10 ** 12),
            "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
            "defaultNetworkTier": "PREMIUM",
        }

    # ------------------------------------------------------------ list params
    def _list_params(self, q, aggregated=False):
        raw = q.get("maxResults")
        if raw is None or raw == "":
            n = MAX_RESULTS
        else:
            try:
                n = int(raw)
            except ValueError:
                raise invalid("maxResults", raw, "Must be an integer between 0 and 500.")
            if n < 0 or n > MAX_RESULTS:
                raise invalid("maxResults", raw,
                              "Must be less than or equal to 500" if n > MAX_RESULTS
                              else "Must be greater than or equal to 0")
            if n == 0:
                n = MAX_RESULTS
        ob = " ".join((q.get("orderBy") or "").split())
        if ob in ("", "name"):
            order = "name"
        elif ob == "creationTimestamp desc":
            order = "ctd"
        else:
            raise invalid("orderBy", q.get("orderBy"),
                          "Only sorting by name or creationTimestamp desc is supported.")
        ftext = q.get("filter")
        try:
            filt = compile_filter(ftext)
        except FilterError:
            raise invalid("filter", ftext, "Invalid list filter expression.")
        fsig = hashlib.sha256((ftext or "").strip().encode("utf-8", "surrogatepass")).hexdigest()[:8]
        after = None
        tok = q.get("pageToken")
        if tok:
            after = self._decode_token(tok, order, fsig, aggregated)
        return n, order, filt, fsig, after

    def _encode_token(self, order, fsig, key):
        payload = json.dumps({"o": order, "f": fsig, "k": key, "t": int(self.state.now())},
                             separators=(",", ":")).encode()
        sig = hashlib.sha256(_TOKEN_SECRET + payload).digest()[:6]
        return base64.urlsafe_b64encode(sig + payload).decode().rstrip("=")

    def _decode_token(self, tok, order, fsig, aggregated):
        bad = invalid("pageToken", tok, "Invalid page token.")
        try:
            raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
        except (binascii.Error, ValueError):
            raise bad
        sig, payload = raw[:6], raw[6:]
        if len(raw) < 7 or hashlib.sha256(_TOKEN_SECRET + payload).digest()[:6] != sig:
            raise bad
        try:
            d = json.loads(payload)
        except ValueError:
            raise bad
        if d.get("o") != order or d.get("f") != fsig:
            raise invalid("pageToken", tok,
                          "The page token does not match the request's filter and orderBy.")
        ttl = self.page_token_ttl
        if ttl is not None and self.state.now() - d.get("t", 0) > ttl:
            raise invalid("pageToken", tok, "The page token has expired.")
        k = d.get("k")
        if aggregated:
            if not (isinstance(k, list) and len(k) == 2 and isinstance(k[0], str)):
                raise bad
            return (k[0], self._seq_key(order, k[1], bad))
        return self._seq_key(order, k, bad)

    @staticmethod
    def _seq_key(order, k, bad):
        if order == "name":
            if not isinstance(k, str):
                raise bad
            return k
        if not (isinstance(k, list) and len(k) == 2 and isinstance(k[1], str)):
            raise bad
        return (float(k[0]), k[1])

    # ------------------------------------------------------------------ lists
    @staticmethod
    def _page(coll, order, filt, after, n):
        """-> (entries, seq key of the last entry or None, more?)"""
        seq = coll.order(order)
        entries = coll.entries
        i = bisect.bisect_right(seq, after) if after is not None else 0
        by_name = order == "name"
        if filt is None:
            keys = seq[i:i + n]
            page = [entries[k] for k in keys] if by_name else [entries[k[1]] for k in keys]
            return page, (keys[-1] if keys else None), i + n < len(seq)
        page, last, more = [], None, False
        for j in range(i, len(seq)):
            k = seq[j]
            e = entries[k if by_name else k[1]]
            if filt.matches(e.doc):
                if len(page) == n:
                    more = True
                    break
                page.append(e)
                last = k
        return page, last, more

    def _list(self, proj, coll, q):
        n, order, filt, fsig, after = self._list_params(q)
        page, last, more = self._page(coll, order, filt, after, n)
        if coll.rtype in ("zones", "regions"):
            cid = "projects/%s/%s" % (proj.name, coll.rtype)
        else:
            cid = "projects/%s/%s" % (proj.name, coll.path)
        out = [b'{"kind":"', coll.list_kind.encode(), b'","id":', dumps(cid)]
        if page:
            out += [b',"items":[', b",".join([e.bytes() for e in page]), b"]"]
        if more:
            out += [b',"nextPageToken":"', self._encode_token(order, fsig, last).encode(), b'"']
        out += [b',"selfLink":', dumps(coll.link()), b"}"]
        return b"".join(out)

    def _aggregated(self, proj, rtype, q):
        n, order, filt, fsig, after = self._list_params(q, aggregated=True)
        kind, scope_types = AGGREGATED[rtype]
        if _bool(q.get("includeAllScopes")):
            scope_types = ("zones", "regions") + (("global",) if rtype == "operations" else ())
        scopes = []
        if "zones" in scope_types:
            scopes += ["zones/" + z for z in proj.zone_names()]
        if "regions" in scope_types:
            scopes += ["regions/" + r for r in proj.region_names()]
        if "global" in scope_types:
            scopes.append("global")
        scopes.sort()
        page = {s: [] for s in scopes}
        count, last, more = 0, None, False
        for s in scopes:
            if after is not None and s < after[0]:
                continue
            cpath = ("global/" + rtype) if s == "global" else (s + "/" + rtype)
            if s != "global" and split_collection_path(cpath) is None:
                continue
            coll = proj.colls.get(cpath)
            if coll is None or not coll.entries:
                continue
            s_after = after[1] if (after is not None and s == after[0]) else None
            got, k, m = self._page(coll, order, filt, s_after, n - count)
            if got:
                page[s] = got
                count += len(got)
                last = (s, k)
            if count >= n:
                more = m or self._more_after(proj, scopes, s, rtype, filt)
                break
        items = []
        for s in scopes:
            ents = page[s]
            if ents:
                items.append(dumps(s) + b':{"' + rtype.encode() + b'":[' +
                             b",".join([e.bytes() for e in ents]) + b"]}")
            else:
                items.append(dumps(s) + b":" + dumps({"warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": "There are no results for scope '%s' on this page." % s,
                    "data": [{"key": "scope", "value": s}]}}))
        out = [b'{"kind":"', kind.encode(), b'","id":',
               dumps("projects/%s/aggregated/%s" % (proj.name, rtype))]
        if items:
            out += [b',"items":{', b",".join(items), b"}"]
        if more and last is not None:
            key = [last[0], list(last[1]) if isinstance(last[1], tuple) else last[1]]
            out += [b',"nextPageToken":"', self._encode_token(order, fsig, key).encode(), b'"']
        out += [b',"selfLink":', dumps(PROJECTS_ROOT + proj.name + "/aggregated/" + rtype), b"}"]
        return b"".join(out)

    @staticmethod
    def _more_after(proj, scopes, scope, rtype, filt):
        for s in scopes:
            if s <= scope:
                continue
            cpath = ("global/" + rtype) if s == "global" else (s + "/" + rtype)
            coll = proj.colls.get(cpath)
            if coll is None:
                continue
            if filt is None:
                if coll.entries:
                    return True
            elif any(filt.matches(e.doc) for e in coll.entries.values()):
                return True
        return False

    # --------------------------------------------------------------- helpers
    @staticmethod
    def _body(body):
        if not body:
            return {}
        try:
            d = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "parseError", "Parse Error")
        if not isinstance(d, dict):
            raise ApiError(400, "parseError", "Parse Error")
        return d

    def _request_id(self, proj, q):
        """Validate requestId; -> (rid or None, existing op Entry or None)."""
        rid = q.get("requestId")
        if not rid:
            return None, None
        if not UUID_RE.match(rid) or rid.replace("-", "").strip("0") == "":
            raise invalid("requestId", rid,
                          "The request ID must be a valid UUID with the exception that zero "
                          "UUID is not supported (00000000-0000-0000-0000-000000000000).")
        rid = rid.lower()
        hit = proj.request_ids.get(rid)
        if hit:
            coll = proj.colls.get(hit[0])
            e = coll.get(hit[1]) if coll else None
            if e is not None:
                return rid, e
        return rid, None

    @staticmethod
    def _check_name(name):
        if name is None or name == "":
            raise required("resource.name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise invalid("resource.name", name, "Must be a match of regex '%s'" % NAME_REGEX_TEXT)

    @staticmethod
    def _check_labels(labels):
        if labels is None:
            return {}
        if not isinstance(labels, dict):
            raise invalid("labels", json.dumps(labels), "Labels must be a map of strings.")
        if len(labels) > 64:
            raise invalid("labels", "", "Number of labels (%d) exceeds the maximum (64)." % len(labels))
        for k, v in labels.items():
            ok = (0 < len(k) <= 63 and k[0].isalpha() and k == k.lower()
                  and all(c.isalnum() or c in "-_" for c in k))
            if not ok:
                raise invalid("labels", k,
                              "Label key '%s' violates format constraints. The key must start "
                              "with a lowercase character, can only contain lowercase letters, "
                              "numeric characters, underscores and dashes. The key can be at most "
                              "63 characters long. International characters are allowed." % k)
            if not isinstance(v, str) or not (len(v) <= 63 and v == v.lower() and
                                              all(c.isalnum() or c in "-_" for c in v)):
                raise invalid("labels.%s" % k, v,
                              "Label value '%s' violates format constraints. The value can only "
                              "contain lowercase letters, numeric characters, underscores and "
                              "dashes. The value can be at most 63 characters long. International "
                              "characters are allowed." % v)
        return dict(labels)

    def _resolve_or_404(self, proj, link, rtype, field):
        if not isinstance(link, str) or not link:
            raise required(field)
        r = parse_link(link, proj.name)
        if r is None:
            raise invalid(field, link, "The URL is malformed.")
        found = self.state.resolve(proj.name, link, rtype)
        if found is None:
            raise not_found("projects/%s/%s" % (r[0], "/".join(r[1])))
        return found

    def _op_response(self, e):
        return 200, e.bytes()

    @staticmethod
    def _alive(coll, e):
        return coll.entries.get(e.key) is e

    def _instances_using(self, proj, disk_doc):
        out = []
        users = disk_doc.get("users")
        if isinstance(users, list):
            for u in users:
                r = self.state.resolve(proj.name, u, "instances")
                if r:
                    out.append(r)
        return out

    def _flush_error(self, proj, disk_docs):
        """The op error for a guest flush that fails, or None."""
        for dd in disk_docs:
            for _, icoll, ie in self._instances_using(proj, dd):
                labels = ie.doc.get("labels")
                if self.state.flush_fails or (isinstance(labels, dict) and FLUSH_FAIL_LABEL in labels):
                    return {"errors": [{
                        "code": "GUEST_FLUSH_FAILED",
                        "message": "Guest flush failed: the guest environment of instance "
                                   "'%s' did not complete the flush of disk '%s'."
                                   % (icoll.rel(ie.key), dd.get("name"))}]}
        if self.state.flush_fails:
            return {"errors": [{"code": "GUEST_FLUSH_FAILED",
                                "message": "Guest flush failed (emulator --flush-fails)."}]}
        return None

    def _storage_locations(self, body, region):
        sl = body.get("storageLocations")
        if isinstance(sl, list) and sl and all(isinstance(x, str) for x in sl):
            return list(sl)
        return [storage_location(region)]

    def _new_doc(self, proj, coll, name, body, extra):
        now = self.state.now()
        labels = self._check_labels(body.get("labels"))
        doc = {"kind": coll.kind, "id": self.state.new_id(), "creationTimestamp": fmt_ts(now),
               "name": name}
        if isinstance(body.get("description"), str):
            doc["description"] = body["description"]
        doc.update(extra)
        if labels:
            doc["labels"] = labels
        doc["labelFingerprint"] = label_fingerprint(labels)
        doc["selfLink"] = coll.link(name)
        return doc

    # ---------------------------------------------------------------- writes
    def _create_snapshot(self, proj, dcoll, dname, q, body):
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        body = self._body(body)
        de = dcoll.get(dname)
        if de is None or not isinstance(de.doc, dict):
            raise not_found(dcoll.rel(dname))
        flush = _bool(q.get("guestFlush")) or body.get("guestFlush") is True
        return self._snapshot_from_disk(proj, dcoll, de, body, flush, rid, via_disk=True)

    def _insert_snapshot(self, proj, q, body):
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        body = self._body(body)
        self._check_name(body.get("name"))
        _, dcoll, de = self._resolve_or_404(proj, body.get("sourceDisk"), "disks",
                                            "resource.sourceDisk")
        return self._snapshot_from_disk(proj, dcoll, de, body, body.get("guestFlush") is True,
                                        rid, via_disk=False)

    def _snapshot_from_disk(self, proj, dcoll, de, body, flush, rid, via_disk):
        st = self.state
        name = body.get("name")
        self._check_name(name)
        scoll = proj.coll("global/snapshots")
        if name in scoll.entries:
            raise already_exists(scoll.rel(name))
        disk = de.doc
        region = dcoll.scope_name if dcoll.scope_type == "regions" else region_of_zone(dcoll.scope_name)
        size = disk.get("sizeGb")
        try:
            size_gb = int(size)
        except (TypeError, ValueError):
            size_gb = 10
        frac = 2 + int(stable_id(name)) % 34          # 2% .. 35% of the disk
        stored = size_gb * (1 << 30) * frac // 100
        extra = {"status": "CREATING", "sourceDisk": disk.get("selfLink", dcoll.link(de.key))}
        if "id" in disk:
            extra["sourceDiskId"] = disk["id"]
        if size is not None:
            extra["diskSizeGb"] = str(size)
        extra["storageBytes"] = "0"
        extra["storageLocations"] = self._storage_locations(body, region)
        extra["autoCreated"] = False
        extra["snapshotType"] = body.get("snapshotType") if isinstance(body.get("snapshotType"), str) else "STANDARD"
        if isinstance(disk.get("architecture"), str):
            extra["architecture"] = disk["architecture"]
        if isinstance(body.get("chainName"), str):
            extra["chainName"] = body["chainName"]
        extra["enableConfidentialCompute"] = False
        extra["satisfiesPzi"] = False
        doc = self._new_doc(proj, scoll, name, body, extra)
        e = scoll.put(name, doc)
        flush_err = self._flush_error(proj, [disk]) if flush else None

        def half():
            if self._alive(scoll, e) and doc["status"] == "CREATING":
                doc["status"] = "UPLOADING"
                scoll.changed(e)

        def done(fail):
            if flush_err or fail:
                if self._alive(scoll, e):
                    scoll.remove(e.key)
                return flush_err
            if self._alive(scoll, e):
                doc["status"] = "READY"
                doc["storageBytes"] = str(stored)
                doc["storageBytesStatus"] = "UP_TO_DATE"
                doc["creationSizeBytes"] = str(stored)
                doc["downloadBytes"] = str(stored + 4096)
                scoll.changed(e)
            return None

        if via_disk:
            op = st.start_operation(proj, dcoll.scope_type, dcoll.scope_name, "createSnapshot",
                                    disk.get("selfLink", dcoll.link(de.key)), disk.get("id"),
                                    on_half=half, on_done=done, request_id=rid)
        else:
            op = st.start_operation(proj, "global", None, "insert", doc["selfLink"], doc["id"],
                                    on_half=half, on_done=done, request_id=rid)
        return self._op_response(op)

    def _insert_image(self, proj, q, body):
        st = self.state
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        body = self._body(body)
        name = body.get("name")
        self._check_name(name)
        icoll = proj.coll("global/images")
        if name in icoll.entries:
            raise already_exists(icoll.rel(name))
        sources = [f for f in ("sourceDisk", "sourceSnapshot", "sourceImage") if body.get(f)]
        raw_disk = body.get("rawDisk")
        if isinstance(raw_disk, dict) and raw_disk.get("source"):
            raise invalid("resource.rawDisk.source", raw_disk.get("source"),
                          "Importing images from Cloud Storage is not supported by this emulator.")
        if not sources:
            raise required("resource.sourceDisk")
        if len(sources) > 1:
            raise invalid("resource", name, "Exactly one of sourceDisk, sourceSnapshot, "
                          "sourceImage or rawDisk.source must be specified.")
        src = sources[0]
        rtype = {"sourceDisk": "disks", "sourceSnapshot": "snapshots", "sourceImage": "images"}[src]
        _, scoll, se = self._resolve_or_404(proj, body.get(src), rtype, "resource." + src)
        sdoc = se.doc
        if src == "sourceDisk" and not _bool(q.get("forceCreate")):
            for _, ic, ie in self._instances_using(proj, sdoc):
                if ie.doc.get("status") in ("RUNNING", "STAGING", "PROVISIONING", "STOPPING"):
                    raise in_use("disk", scoll.rel(se.key), ic.rel(ie.key))
        if src == "sourceDisk":
            size = sdoc.get("sizeGb")
            region = scoll.scope_name if scoll.scope_type == "regions" else region_of_zone(scoll.scope_name)
        else:
            size = sdoc.get("diskSizeGb")
            locs = sdoc.get("storageLocations")
            region = locs[0] if isinstance(locs, list) and locs and isinstance(locs[0], str) else "us"
        extra = {"status": "PENDING", "sourceType": "RAW"}
        if isinstance(body.get("family"), str):
            extra["family"] = body["family"]
        if size is not None:
            extra["diskSizeGb"] = str(size)
        extra[src] = sdoc.get("selfLink", scoll.link(se.key))
        if "id" in sdoc:
            extra[src + "Id"] = sdoc["id"]
        extra["storageLocations"] = self._storage_locations(body, region)
        if isinstance(sdoc.get("architecture"), str):
            extra["architecture"] = sdoc["architecture"]
        extra["enableConfidentialCompute"] = False
        extra["satisfiesPzs"] = False
        doc = self._new_doc(proj, icoll, name, body, extra)
        e = icoll.put(name, doc)
        try:
            archive = int(size) * (1 << 30) * (5 + int(stable_id(name)) % 30) // 100
        except (TypeError, ValueError):
            archive = 1 << 30

        def done(fail):
            if not self._alive(icoll, e):
                return None
            if fail:
                icoll.remove(e.key)
                return None
            doc["status"] = "READY"
            doc["archiveSizeBytes"] = str(archive)
            icoll.changed(e)
            return None

        op = st.start_operation(proj, "global", None, "insert", doc["selfLink"], doc["id"],
                                on_done=done, request_id=rid)
        return self._op_response(op)

    def _insert_machine_image(self, proj, q, body):
        st = self.state
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        body = self._body(body)
        name = body.get("name")
        self._check_name(name)
        mcoll = proj.coll("global/machineImages")
        if name in mcoll.entries:
            raise already_exists(mcoll.rel(name))
        src = q.get("sourceInstance") or body.get("sourceInstance")
        _, icoll, ie = self._resolve_or_404(proj, src, "instances", "sourceInstance")
        inst = ie.doc
        region = region_of_zone(icoll.scope_name)
        saved, attached, disk_docs, total = [], [], [], 0
        for ad in inst.get("disks") or []:
            if not isinstance(ad, dict):
                continue
            r = self.state.resolve(proj.name, ad.get("source"), "disks")
            dd = r[2].doc if r else {}
            if r:
                disk_docs.append(dd)
            try:
                gb = int(dd.get("sizeGb", ad.get("diskSizeGb", 10)))
            except (TypeError, ValueError):
                gb = 10
            sb = gb * (1 << 30) * (3 + int(stable_id(name, ad.get("source"))) % 30) // 100
            total += sb
            sd = {"kind": "compute#savedDisk", "sourceDisk": ad.get("source"),
                  "storageBytes": str(sb), "storageBytesStatus": "UP_TO_DATE"}
            if isinstance(dd.get("architecture"), str):
                sd["architecture"] = dd["architecture"]
            saved.append(sd)
            sad = {"kind": "compute#savedAttachedDisk", "source": ad.get("source"),
                   "storageBytes": str(sb), "storageBytesStatus": "UP_TO_DATE"}
            for k in ("deviceName", "index", "boot", "autoDelete", "mode", "interface", "type",
                      "diskSizeGb"):
                if k in ad:
                    sad[k] = ad[k]
            if "diskSizeGb" not in sad and "sizeGb" in dd:
                sad["diskSizeGb"] = dd["sizeGb"]
            if isinstance(dd.get("type"), str):
                sad["diskType"] = dd["type"]
            attached.append(sad)
        props = {"disks": attached}
        for k in ("machineType", "labels", "canIpForward", "deletionProtection", "description",
                  "networkInterfaces", "scheduling", "serviceAccounts", "tags", "metadata",
                  "guestAccelerators", "minCpuPlatform"):
            if k in inst:
                props[k] = inst[k]
        extra = {"status": "CREATING", "sourceInstance": inst.get("selfLink", icoll.link(ie.key)),
                 "sourceInstanceProperties": props, "savedDisks": saved,
                 "storageLocations": self._storage_locations(body, region),
                 "totalStorageBytes": "0", "satisfiesPzs": False}
        doc = self._new_doc(proj, mcoll, name, body, extra)
        e = mcoll.put(name, doc)
        flush = body.get("guestFlush") is True
        flush_err = self._flush_error(proj, disk_docs) if flush else None
        if flush and flush_err is None and not disk_docs and st.flush_fails:
            flush_err = {"errors": [{"code": "GUEST_FLUSH_FAILED",
                                     "message": "Guest flush failed (emulator --flush-fails)."}]}

        def done(fail):
            if flush_err or fail:
                if self._alive(mcoll, e):
                    mcoll.remove(e.key)
                return flush_err
            if self._alive(mcoll, e):
                doc["status"] = "READY"
                doc["totalStorageBytes"] = str(total)
                mcoll.changed(e)
            return None

        op = st.start_operation(proj, "global", None, "insert", doc["selfLink"], doc["id"],
                                on_done=done, request_id=rid)
        return self._op_response(op)

    # disks.insert / regionDisks.insert from a snapshot or an image, and instances.insert
    # from a machine image: a resource restored from a copy.
    def _size_gb(self, v, default):
        try:
            n = int(v)
        except (TypeError, ValueError):
            return default
        return n

    def _insert_disk(self, proj, dcoll, q, body):
        st = self.state
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        body = self._body(body)
        name = body.get("name")
        self._check_name(name)
        if name in dcoll.entries:
            raise already_exists(dcoll.rel(name))
        if dcoll.scope_type == "regions" and not body.get("replicaZones"):
            raise required("resource.replicaZones")
        # sourceImage is a query parameter of disks.insert as well as a field of the Disk
        if q.get("sourceImage") and not body.get("sourceImage"):
            body["sourceImage"] = q.get("sourceImage")
        sources = [f for f in ("sourceSnapshot", "sourceImage", "sourceDisk") if body.get(f)]
        if len(sources) > 1:
            raise invalid("resource", name, "At most one of sourceSnapshot, sourceImage and "
                          "sourceDisk may be specified.")
        if sources == ["sourceDisk"]:
            raise invalid("resource.sourceDisk", body.get("sourceDisk"),
                          "Cloning a disk is not supported by this emulator.")
        requested = body.get("sizeGb")
        if requested is not None and self._size_gb(requested, -1) <= 0:
            raise invalid("resource.sizeGb", requested, "Must be a positive integer.")
        extra = {"status": "CREATING"}
        if sources:
            src = sources[0]
            rtype = "snapshots" if src == "sourceSnapshot" else "images"
            _, scoll, se = self._resolve_or_404(proj, body.get(src), rtype, "resource." + src)
            sdoc = se.doc
            if sdoc.get("status") != "READY":
                raise not_ready(scoll.rel(se.key))
            src_gb = self._size_gb(sdoc.get("diskSizeGb"), 10)
            size = self._size_gb(requested, src_gb) if requested is not None else src_gb
            if size < src_gb:
                what = "snapshot" if src == "sourceSnapshot" else "image"
                raise invalid("resource.sizeGb", requested,
                              "Requested disk size cannot be smaller than the %s size (%d GB)."
                              % (what, src_gb))
            extra[src] = sdoc.get("selfLink", scoll.link(se.key))
            if "id" in sdoc:
                extra[src + "Id"] = sdoc["id"]
            if isinstance(sdoc.get("architecture"), str):
                extra["architecture"] = sdoc["architecture"]
        else:
            size = self._size_gb(requested, 500) if requested is not None else 500
        extra["sizeGb"] = str(size)
        scope_link = PROJECTS_ROOT + proj.name + "/%s/%s" % (dcoll.scope_type, dcoll.scope_name)
        dtype = body.get("type") if isinstance(body.get("type"), str) else \
            scope_link + "/diskTypes/pd-standard"
        extra["type"] = dtype
        if dcoll.scope_type == "zones":
            extra["zone"] = scope_link
        else:
            extra["region"] = scope_link
            extra["replicaZones"] = body.get("replicaZones")
        doc = self._new_doc(proj, dcoll, name, body, extra)
        e = dcoll.put(name, doc)

        def done(fail):
            if not self._alive(dcoll, e):
                return None
            if fail:
                dcoll.remove(e.key)
                return None
            doc["status"] = "READY"
            dcoll.changed(e)
            return None

        op = st.start_operation(proj, dcoll.scope_type, dcoll.scope_name, "insert",
                                doc["selfLink"], doc["id"], on_done=done, request_id=rid)
        return self._op_response(op)

    def _insert_instance(self, proj, icoll, q, body):
        """instances.insert with sourceMachineImage: the instance and its disks as the
        machine image saved them (each disk restored in the instance's zone)."""
        st = self.state
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        body = self._body(body)
        name = body.get("name")
        self._check_name(name)
        if name in icoll.entries:
            raise already_exists(icoll.rel(name))
        src = body.get("sourceMachineImage") or q.get("sourceMachineImage")
        if not src:
            if q.get("sourceInstanceTemplate"):
                raise invalid("sourceInstanceTemplate", q.get("sourceInstanceTemplate"),
                              "Instance templates are not supported by this emulator.")
            raise invalid("resource", name, "Only instances.insert with a sourceMachineImage "
                          "is supported by this emulator.")
        _, mcoll, me = self._resolve_or_404(proj, src, "machineImages",
                                            "resource.sourceMachineImage")
        mi = me.doc
        if mi.get("status") != "READY":
            raise not_ready(mcoll.rel(me.key))
        zone = icoll.scope_name
        dcoll = proj.coll("zones/%s/disks" % zone)
        props = mi.get("sourceInstanceProperties") if isinstance(
            mi.get("sourceInstanceProperties"), dict) else {}
        saved = [d for d in (props.get("disks") or []) if isinstance(d, dict)]
        zone_link = PROJECTS_ROOT + proj.name + "/zones/" + zone
        ilink = icoll.link(name)
        planned = []
        for i, sad in enumerate(saved):
            dname = name if i == 0 else "%s-%d" % (name, i)
            if dname in dcoll.entries:
                raise already_exists(dcoll.rel(dname))
            planned.append((dname, sad))
        labels = body.get("labels") if "labels" in body else props.get("labels")
        ibody = dict(body)
        ibody["labels"] = labels
        mtype = props.get("machineType")
        if isinstance(mtype, str) and "/" not in mtype:
            mtype = zone_link + "/machineTypes/" + mtype
        extra = {"status": "PROVISIONING", "zone": zone_link,
                 "sourceMachineImage": mi.get("selfLink", mcoll.link(me.key)),
                 "machineType": body.get("machineType") or mtype or
                 zone_link + "/machineTypes/e2-medium"}
        for k in ("canIpForward", "deletionProtection", "networkInterfaces", "scheduling",
                  "serviceAccounts", "metadata", "guestAccelerators", "minCpuPlatform"):
            if k in props and k not in body:
                extra[k] = props[k]
        disks, ddocs = [], []
        for i, (dname, sad) in enumerate(planned):
            gb = self._size_gb(sad.get("diskSizeGb"), 10)
            dextra = {"status": "CREATING", "sizeGb": str(gb), "zone": zone_link,
                      "type": zone_link + "/diskTypes/" + (
                          sad["diskType"].rsplit("/", 1)[-1]
                          if isinstance(sad.get("diskType"), str) else "pd-standard"),
                      "users": [ilink]}
            ddoc = self._new_doc(proj, dcoll, dname, {"labels": labels or {}}, dextra)
            ddocs.append((dname, ddoc))
            ad = {"kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE",
                  "source": ddoc["selfLink"], "index": i, "boot": bool(sad.get("boot", i == 0)),
                  "autoDelete": bool(sad.get("autoDelete", False)),
                  "deviceName": sad.get("deviceName") if isinstance(sad.get("deviceName"), str)
                  else dname, "interface": sad.get("interface", "SCSI"), "diskSizeGb": str(gb)}
            disks.append(ad)
        extra["disks"] = disks
        doc = self._new_doc(proj, icoll, name, ibody, extra)
        doc["tags"] = {"fingerprint": "42WmSpB8rSM="}
        entries = [(dcoll, dcoll.put(dn, dd)) for dn, dd in ddocs]
        e = icoll.put(name, doc)

        def half():
            if self._alive(icoll, e) and doc["status"] == "PROVISIONING":
                doc["status"] = "STAGING"
                icoll.changed(e)

        def done(fail):
            if fail:
                for c, de in entries:
                    if self._alive(c, de):
                        c.remove(de.key)
                if self._alive(icoll, e):
                    icoll.remove(e.key)
                return None
            for c, de in entries:
                if self._alive(c, de):
                    de.doc["status"] = "READY"
                    c.changed(de)
            if self._alive(icoll, e):
                doc["status"] = "RUNNING"
                icoll.changed(e)
            return None

        op = st.start_operation(proj, "zones", zone, "insert", doc["selfLink"], doc["id"],
                                on_half=half, on_done=done, request_id=rid)
        return self._op_response(op)

    def _delete(self, proj, coll, name, q):
        st = self.state
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        e = coll.get(name)
        if e is None or not isinstance(e.doc, dict):
            raise not_found(coll.rel(name))
        doc = e.doc
        if doc.get("status") in ("CREATING", "UPLOADING", "PENDING"):
            raise not_ready(coll.rel(name))
        if coll.rtype == "snapshots":
            icoll = proj.colls.get("global/images")
            for ie in (icoll.entries.values() if icoll else ()):
                idoc = ie.doc
                if not isinstance(idoc, dict) or idoc.get("status") == "DELETING":
                    continue
                r = st.resolve(proj.name, idoc.get("sourceSnapshot"), "snapshots")
                if r and r[2] is e:
                    raise in_use("snapshot", coll.rel(name), icoll.rel(ie.key))
        before = doc.get("status")
        doc["status"] = "DELETING"
        coll.changed(e)

        def done(fail):
            if not self._alive(coll, e):
                return None
            if fail:
                doc["status"] = before
                coll.changed(e)
                return None
            coll.remove(e.key)
            return None

        op = st.start_operation(proj, "global", None, "delete", doc.get("selfLink", coll.link(name)),
                                doc.get("id"), on_done=done, request_id=rid)
        return self._op_response(op)

    def _stop_start(self, proj, coll, name, q, action):
        st = self.state
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        e = coll.get(name)
        if e is None or not isinstance(e.doc, dict):
            raise not_found(coll.rel(name))
        doc = e.doc
        before = doc.get("status")
        if action == "stop":
            moving = before not in ("TERMINATED", "STOPPED")
            if moving:
                doc["status"] = "STOPPING"
        else:
            moving = before in ("TERMINATED", "STOPPED", "SUSPENDED")
            if moving:
                doc["status"] = "STAGING"
        coll.changed(e)

        def done(fail):
            if not moving or not self._alive(coll, e):
                return None
            if fail:
                doc["status"] = before
            elif action == "stop":
                doc["status"] = "TERMINATED"
                doc["lastStopTimestamp"] = fmt_ts(st.now())
            else:
                doc["status"] = "RUNNING"
                doc["lastStartTimestamp"] = fmt_ts(st.now())
            coll.changed(e)
            return None

        op = st.start_operation(proj, "zones", coll.scope_name, action,
                                doc.get("selfLink", coll.link(name)), doc.get("id"),
                                on_done=done, request_id=rid)
        return self._op_response(op)

    def _set_labels(self, proj, coll, name, q, body):
        st = self.state
        rid, hit = self._request_id(proj, q)
        if hit:
            return self._op_response(hit)
        body = self._body(body)
        e = coll.get(name)
        if e is None or not isinstance(e.doc, dict):
            raise not_found(coll.rel(name))
        doc = e.doc
        labels = self._check_labels(body.get("labels"))
        cur = doc.get("labelFingerprint")
        if cur is None:
            cur = label_fingerprint(doc.get("labels") or {})
        fp = body.get("labelFingerprint")
        conflict = self.conflict_rate and st.rng.random() < self.conflict_rate
        if not fp or fp != cur or conflict:
            raise ApiError(412, "conditionNotMet",
                           "Labels fingerprint either invalid or resource labels have changed",
                           location="If-Match", locationType="header")
        if labels:
            doc["labels"] = labels
        else:
            doc.pop("labels", None)
        doc["labelFingerprint"] = label_fingerprint(labels)
        coll.changed(e)
        scope_type = coll.scope_type if coll.scope_type in ("zones", "regions") else "global"
        op = st.start_operation(proj, scope_type, coll.scope_name, "setLabels",
                                doc.get("selfLink", coll.link(name)), doc.get("id"),
                                request_id=rid, can_fail=False)
        return self._op_response(op)

    # ------------------------------------------------------------ operations
    def _wait(self, coll, name):
        st = self.state
        e = coll.get(name)
        if e is None:
            raise not_found(coll.rel(name))
        deadline = st.now() + WAIT_LIMIT
        while True:
            st.advance()
            e = coll.get(name)
            if e is None:
                raise not_found(coll.rel(name))
            if not isinstance(e.doc, dict) or e.doc.get("status") == "DONE":
                return e.bytes()
            now = st.now()
            left = deadline - now
            if left <= 0:
                return e.bytes()
            nxt = st.next_event_time()
            timeout = left if nxt is None else min(left, max(0.001, nxt - now))
            st.cond.wait(timeout)
