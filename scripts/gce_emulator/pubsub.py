"""A Pub/Sub REST subset (v1) fed by a Cloud Asset Inventory feed.

What clonefs's change feed needs of Pub/Sub, after the REST reference:
topics.get, subscriptions.get / delete, subscriptions.pull (maxMessages,
returnImmediately; a pull with nothing to deliver waits a bounded time),
acknowledge and modifyAckDeadline (0 = nack). Messages are PubsubMessage
{data (base64), attributes, messageId, publishTime}; a pull answers
ReceivedMessage {ackId, message, deliveryAttempt}. Delivery is at least once:
a message not acknowledged within its ack deadline (the subscription's
ackDeadlineSeconds, default 10) is delivered again with a new ackId.

The feed: every change the emulator makes to a Compute Engine resource
(create, label or status change, delete) is published to the topic as a
Cloud Asset Inventory TemporalAsset, JSON as the asset API writes it:
{window {startTime, endTime}, deleted, asset {name
"//compute.googleapis.com/projects/P/global/snapshots/S", assetType
"compute.googleapis.com/Snapshot", ancestors, resource {version,
discoveryDocumentUri, discoveryName, parent, location, data}, updateTime},
priorAssetState, priorAsset}. A deleted asset carries no resource; its last
known copy is the priorAsset. The first message on a feed is a welcome string.

Faults (server.Faults, /emulator/v1/faults): feedLostAckRate (an acknowledge
answers {} but is forgotten: the message comes back after its deadline),
feedAckFailRate (an acknowledge answers 503), feedRedeliverRate (a message is
delivered again even though acknowledged), feedDuplicateRate (a message is
delivered twice in one pull, two ackIds), feedReorderRate (a pull with several
messages waiting hands out only the newest: the older ones come in later
pulls, after it), feedHoldSeconds (messages become deliverable only once none
was published for this long, so that several pile up), feedSlowAckSeconds (an
acknowledge is taken, and answered, only this long after it arrived: a slow
link; its ackIds must still be held then, or it is lost as the API loses an
acknowledgement for an expired ackId).

Control: stats() counts per subscription the modifyAckDeadline calls, and per
message its deliveries (attempts), acknowledgements that took effect (acks) and
deadline extensions that took effect (extends)."""

import base64
import copy
import datetime
import itertools
import json
import threading
import time

from .util import dumps

JSON_TYPE = "application/json; charset=UTF-8"
DISCOVERY = "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest"
# collection -> the asset type's short name (a regional disk is a RegionDisk)
ASSET_TYPES = {"snapshots": "Snapshot", "images": "Image", "machineImages": "MachineImage",
               "disks": "Disk", "instances": "Instance"}
PULL_HOLD_SECONDS = 5.0     # the "bounded amount of time" a pull waits
MAX_ACK_DEADLINE = 600


def rfc3339(t):
    """UTC, microseconds, 'Z': how Pub/Sub and the asset API write times."""
    dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PubSubError(Exception):
    """google.rpc.Status as the REST API sends it."""

    STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 503: "UNAVAILABLE"}

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self):
        return {"error": {"code": self.code, "message": self.message,
                          "status": self.STATUS.get(self.code, "UNKNOWN")}}


class Message:
    __slots__ = ("id", "doc", "acked", "attempts", "avail", "acks", "extends")

    def __init__(self, mid, doc, avail):
        self.id = mid
        self.doc = doc          # the PubsubMessage
        self.acked = False
        self.attempts = 0
        self.avail = avail      # deliverable from (hold, nack, expiry)
        self.acks = 0           # acknowledgements that took effect
        self.extends = 0        # modifyAckDeadline > 0 that took effect


class Subscription:
    def __init__(self, name, topic, ack_deadline):
        self.name = name
        self.topic = topic
        self.ack_deadline = ack_deadline
        self.queue = []         # Messages waiting, in publish order
        self.out = {}           # ackId -> (Message, deadline)
        self.messages = {}      # messageId -> Message (for the stats)
        self.modacks = 0        # modifyAckDeadline calls answered

    def doc(self):
        return {"name": self.name, "topic": self.topic,
                "pushConfig": {}, "ackDeadlineSeconds": self.ack_deadline,
                "messageRetentionDuration": "604800s", "state": "ACTIVE"}


class PubSub:
    def __init__(self, faults, rng, ack_deadline=10, hold=PULL_HOLD_SECONDS):
        self.faults = faults
        self.rng = rng            # the State's (seeded) generator; used under self.lock
        self.ack_deadline = ack_deadline
        self.hold = hold
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.topics = {}          # name -> [subscription names]
        self.subs = {}
        self.published = 0
        self._ids = itertools.count(1)
        self._acks = itertools.count(1)
        self.last = {}            # asset name -> its last published asset (priorAsset)

    def _chance(self, rate):
        return bool(rate) and self.rng.random() < rate

    def add_subscription(self, name, topic=None):
        """projects/P/subscriptions/S, on topic (default projects/P/topics/clonefs-feed)."""
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "subscriptions" \
                or not parts[1] or not parts[3]:
            raise ValueError("--feed %s: expected projects/P/subscriptions/S" % name)
        topic = topic or "projects/%s/topics/clonefs-feed" % parts[1]
        with self.lock:
            self.subs[name] = Subscription(name, topic, self.ack_deadline)
            self.topics.setdefault(topic, []).append(name)

    # ------------------------------------------------------------ publishing
    def welcome(self):
        """What the asset API publishes first on a feed: a plain string."""
        for topic in list(self.topics):
            project = topic.split("/")[1]
            self.publish(project, ("You have successfully configured real time feed "
                                   "'projects/%s/feeds/clonefs-feed' with asset types "
                                   "compute.googleapis.com/Snapshot,compute.googleapis.com/Image,"
                                   "compute.googleapis.com/MachineImage,compute.googleapis.com/"
                                   "Disk,compute.googleapis.com/RegionDisk,compute.googleapis.com/"
                                   "Instance" % project).encode())

    def publish_change(self, project, coll, entry, deleted, now):
        """A TemporalAsset for a change of one resource. Caller: State.lock held."""
        rtype = coll.rtype
        if rtype not in ASSET_TYPES or not self.subs or not isinstance(entry.doc, dict):
            return
        short = ASSET_TYPES[rtype]
        if rtype == "disks" and coll.scope_type == "regions":
            short = "RegionDisk"
        name = "//compute.googleapis.com/projects/%s/%s/%s" % (project.name, coll.path,
                                                               entry.key)
        parent = "//cloudresourcemanager.googleapis.com/projects/%s" % project.id
        ts = rfc3339(now)
        asset = {"name": name, "assetType": "compute.googleapis.com/" + short,
                 "ancestors": ["projects/%s" % project.id], "updateTime": ts}
        if not deleted:
            asset["resource"] = {
                "version": "v1", "discoveryDocumentUri": DISCOVERY, "discoveryName": short,
                "parent": parent,
                "location": coll.scope_name if coll.scope_name else "global",
                "data": copy.deepcopy(entry.doc)}
        prior = self.last.get(name)
        ta = {"window": {"startTime": ts, "endTime": ts}, "asset": asset,
              "priorAssetState": "PRESENT" if prior else "DOES_NOT_EXIST"}
        if deleted:
            ta["deleted"] = True
        if prior:
            ta["priorAsset"] = prior
        if deleted:
            self.last.pop(name, None)
        else:
            self.last[name] = asset
        self.publish(project.name, json.dumps(ta, separators=(",", ":")).encode())

    def publish(self, project_name, data):
        with self.lock:
            now = time.time()
            for topic, subs in self.topics.items():
                if topic.split("/")[1] != project_name:
                    continue
                mid = str(next(self._ids))
                doc = {"data": base64.b64encode(data).decode("ascii"), "attributes": {},
                       "messageId": mid, "publishTime": rfc3339(now)}
                hold = self.faults.feed_hold_seconds
                for sname in subs:
                    s = self.subs.get(sname)
                    if s is None:
                        continue
                    m = Message(mid, doc, now + hold)
                    if hold:    # a quiet period: what waits, waits with it
                        for w in s.queue:
                            if w.avail > now:
                                w.avail = now + hold
                    s.queue.append(m)
                    s.messages[mid] = m
                self.published += 1
            self.cond.notify_all()

    # ------------------------------------------------------------ the REST API
    def handle(self, method, path, body):
        """path: after /v1/. Returns (status, headers, body bytes)."""
        try:
            out = self._route(method, path, body)
            return 200, {"Content-Type": JSON_TYPE}, dumps(out)
        except PubSubError as e:
            return e.code, {"Content-Type": JSON_TYPE}, dumps(e.body())

    def _route(self, method, path, body):
        name, _, verb = path.partition(":")
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] not in ("topics", "subscriptions"):
            raise PubSubError(404, "Requested entity was not found.")
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            raise PubSubError(400, "Invalid JSON payload received.")
        if not isinstance(data, dict):
            raise PubSubError(400, "Invalid JSON payload received.")
        if parts[2] == "topics":
            if method == "GET" and not verb:
                with self.lock:
                    if name in self.topics:
                        return {"name": name}
                raise PubSubError(404, "Resource not found (resource=%s)." % parts[3])
            raise PubSubError(404, "Requested entity was not found.")
        with self.lock:
            s = self.subs.get(name)
            if s is None:
                raise PubSubError(404, "Resource not found (resource=%s)." % parts[3])
            if method == "GET" and not verb:
                return s.doc()
            if method == "DELETE" and not verb:
                del self.subs[name]
                self.topics[s.topic].remove(name)
                self.cond.notify_all()
                return {}
        if method != "POST":
            raise PubSubError(404, "Requested entity was not found.")
        if verb == "pull":
            return self._pull(name, data)
        if verb == "acknowledge":
            return self._ack(name, data)
        if verb == "modifyAckDeadline":
            return self._modack(name, data)
        raise PubSubError(404, "Requested entity was not found.")

    @staticmethod
    def _ack_ids(data):
        ids = data.get("ackIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise PubSubError(400, "No ack ids specified.")
        return ids

    def _expire(self, s, now):
        """Outstanding messages past their deadline go back to the queue."""
        for aid, (m, dl) in list(s.out.items()):
            if dl <= now:
                del s.out[aid]
                if not m.acked and m not in s.queue:
                    m.avail = now
                    s.queue.append(m)
        s.queue.sort(key=lambda m: int(m.id))

    def _pull(self, name, data):
        n = data.get("maxMessages")
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise PubSubError(400, "maxMessages must be a positive integer.")
        immediate = data.get("returnImmediately") is True
        end = time.time() + self.hold
        with self.lock:
            while True:
                s = self.subs.get(name)
                if s is None:
                    raise PubSubError(404, "Resource not found (resource=%s)."
                                      % name.split("/")[3])
                now = time.time()
                self._expire(s, now)
                ready = [m for m in s.queue if m.avail <= now][:n]
                if ready or immediate or now >= end:
                    break
                # wake for a publish, an expiry or a held message coming due
                wake = [m.avail for m in s.queue] + [dl for _, dl in s.out.values()]
                nxt = min([end] + [w for w in wake if w > now])
                self.cond.wait(max(0.01, min(nxt - now, 0.5)))
            f = self.faults
            if len(ready) > 1 and self._chance(f.feed_reorder_rate):
                ready = ready[-1:]      # the newest first, the others later
            got = []
            for m in ready:
                s.queue.remove(m)
                copies = 2 if self._chance(f.feed_duplicate_rate) else 1
                for _ in range(copies):
                    m.attempts += 1
                    aid = "%s-%d" % (m.id, next(self._acks))
                    s.out[aid] = (m, now + s.ack_deadline)
                    got.append({"ackId": aid, "message": m.doc, "deliveryAttempt": m.attempts})
        return {"receivedMessages": got} if got else {}

    def _ack(self, name, data):
        ids = self._ack_ids(data)
        f = self.faults
        if f.feed_slow_ack_seconds:
            time.sleep(f.feed_slow_ack_seconds)
        with self.lock:
            if self._chance(f.feed_ack_fail_rate):
                raise PubSubError(503, "The service was unable to fulfill your request.")
            s = self.subs.get(name)
            if s is None:       # deleted meanwhile (a slow acknowledge)
                raise PubSubError(404, "Resource not found (resource=%s)." % name.split("/")[3])
            self._expire(s, time.time())    # an ackId past its deadline is no longer held
            for aid in ids:
                ent = s.out.get(aid)
                if ent is None or self._chance(f.feed_lost_ack_rate):
                    continue    # expired, unknown or lost: no error, as the API
                del s.out[aid]
                m = ent[0]
                if not m.acked:
                    m.acked = True
                    m.acks += 1
                if self._chance(f.feed_redeliver_rate):
                    m.acked = False
                    m.avail = time.time()
                    if m not in s.queue:
                        s.queue.append(m)
                    self.cond.notify_all()
        return {}

    def _modack(self, name, data):
        ids = self._ack_ids(data)
        secs = data.get("ackDeadlineSeconds")
        if not isinstance(secs, int) or isinstance(secs, bool) or not 0 <= secs <= MAX_ACK_DEADLINE:
            raise PubSubError(400, "Invalid ack deadline given: %r" % (secs,))
        with self.lock:
            s = self.subs.get(name)
            if s is None:
                raise PubSubError(404, "Resource not found (resource=%s)." % name.split("/")[3])
            s.modacks += 1
            now = time.time()
            self._expire(s, now)
            for aid in ids:
                ent = s.out.get(aid)
                if ent is None:
                    continue
                if secs == 0:      # a nack: deliver again now
                    del s.out[aid]
                    m = ent[0]
                    if not m.acked and m not in s.queue:
                        m.avail = now
                        s.queue.append(m)
                else:
                    s.out[aid] = (ent[0], now + secs)
                    ent[0].extends += 1
            self.cond.notify_all()
        return {}

    # ------------------------------------------------------------ control
    def stats(self):
        with self.lock:
            subs = {}
            for name, s in self.subs.items():
                subs[name] = {
                    "queued": len(s.queue), "outstanding": len(s.out),
                    "modifyAckDeadline": s.modacks,
                    "messages": {m.id: {"attempts": m.attempts, "acks": m.acks,
                                        "acked": m.acked, "extends": m.extends}
                                 for m in s.messages.values()}}
            return {"published": self.published, "subscriptions": subs}
