"""Command line of scripts/gce-emulator."""

import argparse
import json
import signal
import sys
import threading

from .api import Api
from .oauth import OAuth, SetupError
from .pubsub import PubSub
from .server import Emulator, Faults, Server
from .store import SeedError, State, generate, load_seed

DESCRIPTION = """\
A local emulator of the Compute Engine REST API v1 subset clonefs uses:
snapshots, images, machine images, zonal and regional disks, instances,
zones, regions, aggregated lists and operations, with the API's paths, JSON,
pagination, filters, label fingerprints, requestId idempotency and error
envelopes.  It binds 127.0.0.1 only and prints, as its first line,
  listening on http://127.0.0.1:PORT/compute/v1/
"""

EPILOG = """\
served (under /compute/v1/projects/PROJECT/):
  GET    global/{snapshots,images,machineImages}[/NAME]
  GET    zones/Z/{disks,instances}[/NAME], regions/R/disks[/NAME]
  GET    zones[/Z], regions[/R], aggregated/{disks,instances,operations}
  POST   zones/Z/disks/D/createSnapshot, regions/R/disks/D/createSnapshot
         (?guestFlush=true|false, body Snapshot)
  POST   global/snapshots, global/images (?forceCreate), global/machineImages
         (?sourceInstance=...)
  DELETE global/{snapshots,images,machineImages}/NAME
  POST   zones/Z/instances/I/{stop,start}
  POST   .../setLabels on snapshots, images, machineImages, zonal and
         regional disks, instances (labelFingerprint checked: 412)
  GET    {global,zones/Z,regions/R}/operations[/OP], POST .../OP/wait,
         DELETE .../OP (204; the operation's work goes on, and a repeat of its
         requestId is a new request)
  Every mutation takes ?requestId=UUID (same id in the project -> the same
  operation, nothing done twice) and returns an Operation that is PENDING,
  RUNNING after 0.1 x --op-seconds, DONE after --op-seconds.  Meanwhile:
  snapshot CREATING -> UPLOADING -> READY, image PENDING -> READY, machine
  image CREATING -> READY, a deleted resource DELETING then gone, instance
  stop STOPPING -> TERMINATED, start STAGING -> RUNNING; setLabels applies
  (and changes labelFingerprint) at once.  Refusals: 409 alreadyExists, 400
  invalid (names, labels, requestId), 400 resourceNotReady (deleting a
  resource still being created), 400 resourceInUseByAnotherResource
  (deleting a snapshot an image was made from; an image of a disk attached
  to a running instance without forceCreate=true), 412 conditionNotMet.
  List parameters: maxResults (0-500, 0 = 500), pageToken (opaque, bound to
  the filter and orderBy), filter (AIP-160 = != > < >= <= :, AND, OR, NOT,
  juxtaposed (terms); or `field eq|ne regexp`), orderBy (name |
  creationTimestamp desc), returnPartialSuccess; fields= partial responses.
  Aggregated lists carry every known zone (and, for disks, region) scope;
  an empty one has the NO_RESULTS_ON_PAGE warning.  A zone or region the
  project does not have is 400 invalid ("Unknown zone.").
  The fault switches failRate, slowRate, dropRate and garbageRate apply to
  /compute/ requests only; the feed* switches (below) to Pub/Sub.

change feed (with --feed; Pub/Sub REST v1 under /v1/, the compute API's
  credentials):
  GET    projects/P/topics/T                 topics.get
  GET    projects/P/subscriptions/S          subscriptions.get
  DELETE projects/P/subscriptions/S          subscriptions.delete (the feed is
         "gone": pulls answer 404 NOT_FOUND)
  POST   projects/P/subscriptions/S:pull     {"maxMessages": N (> 0),
         "returnImmediately": bool}: up to N ReceivedMessage {ackId, message
         {data (base64), attributes, messageId, publishTime}, deliveryAttempt};
         with nothing to deliver it waits --feed-pull-hold seconds (a publish
         ends the wait), then answers {}
  POST   projects/P/subscriptions/S:acknowledge        {"ackIds": [...]}
  POST   projects/P/subscriptions/S:modifyAckDeadline  {"ackIds": [...],
         "ackDeadlineSeconds": 0-600} (0: deliver again now)
  Every change the emulator makes to a snapshot, image, machine image, disk
  or instance of project P (create, label or status change, delete, those
  of /emulator/v1/resources included; not the seed or --generate-snapshots)
  is published to projects/P/topics/clonefs-feed
  as a Cloud Asset Inventory TemporalAsset (window, deleted, asset {name
  "//compute.googleapis.com/projects/P/...", assetType, ancestors, resource
  {version, discoveryDocumentUri, discoveryName, parent, location, data},
  updateTime}, priorAssetState, priorAsset); the first message on the topic
  is the asset API's welcome string.  Delivery is at least once: a message
  not acknowledged within the subscription's ackDeadlineSeconds
  (--feed-ack-deadline) comes again with a new ackId; an acknowledgement of
  an expired or unknown ackId is answered {} and does nothing.  Refusals: 400
  INVALID_ARGUMENT (maxMessages, ackIds, ackDeadlineSeconds, JSON), 404
  NOT_FOUND (no such subscription or topic).
  Fault switches (POST /emulator/v1/faults; rates 0-1, or seconds):
    feedLostAckRate      an acknowledge answers {} but is forgotten (the
                         message comes back after its deadline)
    feedAckFailRate      an acknowledge answers 503 UNAVAILABLE
    feedRedeliverRate    an acknowledged message is delivered again
    feedDuplicateRate    a message is delivered twice in one pull (two ackIds)
    feedReorderRate      a pull with several messages waiting hands out only
                         the newest; the older ones come in later pulls
    feedHoldSeconds      messages become deliverable only once none was
                         published for this long (several pile up)
    feedSlowAckSeconds   an acknowledge takes effect, and is answered, only
                         this long after it arrived

credentials (Google's OAuth 2 token endpoint and the metadata server):
  POST   /token   form-encoded (application/x-www-form-urlencoded), as
         https://oauth2.googleapis.com/token:
         grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT
           the JWT signed RS256 by a --service-account key (checked with
           `openssl dgst -sha256 -verify`), iss = its client_email, aud =
           http://127.0.0.1:PORT/token, scope = space-separated
           https://www.googleapis.com/auth/... scopes, exp - iat <= 3600,
           iat and exp around the emulator's clock (60 s of skew forgiven);
         grant_type=refresh_token&client_id=..&client_secret=..&refresh_token=T
           T one of the --refresh-token values (scope cloud-platform).
         Answers {"access_token", "expires_in", "token_type": "Bearer"}, or
         Google's refusals: 400 {"error": "invalid_grant", "error_description":
         "Invalid JWT Signature." | "Invalid JWT: Token must be a short-lived
         token (60 minutes) ..." | "Invalid grant: account not found" | "Token
         has been expired or revoked."}, 400 invalid_scope, 400 invalid_request,
         400 unsupported_grant_type, 401 invalid_client.
  GET    /computeMetadata/v1/instance/service-accounts/default/token
  GET    /computeMetadata/v1/project/project-id
         the metadata server (point GCE_METADATA_HOST at 127.0.0.1:PORT):
         only with the header Metadata-Flavor: Google (else 403), answered
         with it; the token (scope cloud-platform) is the same one until at
         most 5 minutes (or half of --token-ttl) are left of it.
  Every token issued is accepted by /compute/ until --token-ttl seconds have
  passed on the emulator's clock (POST /emulator/v1/clock moves it), then
  401; with only read-only scopes (compute.readonly, cloud-platform.read-only)
  a change is 403 insufficientPermissions.  --token keeps working alongside.

seed file (--seed): a JSON object mapping a collection path to a list of
  resources in the API's own JSON, e.g.
    {"global/snapshots": [{"name": "s1", "sourceDisk": "zones/us-central1-a/disks/d1",
                           "labels": {"owner": "alice"}, "storageBytes": "1024"}],
     "zones/us-central1-a/disks": [{"name": "d1", "sizeGb": "10"}],
     "zones/us-central1-a/instances": [{"name": "vm1", "disks": [{"source":
         "zones/us-central1-a/disks/d1", "boot": true}]}],
     "regions/us-central1/disks": [], "global/images": [], "global/machineImages": []}
  Keys may be prefixed projects/OTHER/ to seed another project; "zones" and
  "regions" may be given explicitly.  Zones and regions that appear become
  zone/region resources (a zone's region = its name minus the last "-x").
  Missing fields the API always sets are filled in (kind, id, selfLink,
  creationTimestamp, labelFingerprint, status, zone/region, sourceDiskId,
  images' source*Id, disk users, region zones); everything else is kept
  verbatim, malformed entries included (a non-object entry is listed as is
  and matches no filter).

guest flush failures: a snapshot or machine image with guestFlush=true fails
  (the operation ends DONE with an error, code GUEST_FLUSH_FAILED, and the
  new resource is removed) when an instance using the disk carries the label
  "emulator-flush-fails" (any value), or always with --flush-fails.

test control endpoints (no auth; not part of the API):
  GET    /emulator/v1/health
  GET    /emulator/v1/tokens        every access token issued: source, subject,
         scopes, expiresInSeconds (tests check none of them leaks)
  GET    /emulator/v1/requests      counts and bytes by "METHOD /path" as answered, and
                                     "received": counts as they arrived (before faults)
  DELETE /emulator/v1/requests      reset the counters
  POST   /emulator/v1/resources/COLLECTION   body: a resource or a list of
         them (API JSON; filled like the seed); replaces one of the same name
         COLLECTION like global/snapshots or projects/P/zones/Z/disks
  DELETE /emulator/v1/resources/COLLECTION/NAME
  POST   /emulator/v1/raw-override  {"path": "global/snapshots" (or a full
         /compute/v1/... path), "method": "GET" (optional), "status": 200,
         "body": "raw text", "headers": {...}, "times": N (optional)}: that
         path answers the raw body, before auth and faults
         (malformed-response tests)
  DELETE /emulator/v1/raw-override  remove all overrides
  GET|POST /emulator/v1/faults      read / set {"failRate", "slowRate",
         "slowSeconds", "dropRate", "garbageRate", "opErrorRate",
         "conflictRate", "flushFails", "pageTokenTtl", "opSeconds",
         "feedLostAckRate", "feedAckFailRate", "feedRedeliverRate",
         "feedDuplicateRate", "feedReorderRate", "feedHoldSeconds",
         "feedSlowAckSeconds"}
  GET    /emulator/v1/pubsub        with --feed: {"published": N, "subscriptions":
         {NAME: {"queued", "outstanding", "modifyAckDeadline" (calls answered),
         "messages": {MESSAGE_ID: {"attempts", "acks", "acked", "extends"}}}}}
  POST   /emulator/v1/clock         {"advanceSeconds": S}: move the emulator's
         clock forward (finishes operations without waiting)
  GET    /emulator/v1/internal-errors  {"count": N}: exceptions of the
         emulator's own (bugs, never injected faults); each one is answered
         with a 500 and printed on stderr after a line starting
         "gce-emulator: internal error", which the test harness fails on

not implemented: insert/delete of disks and instances, images from Cloud
  Storage (rawDisk), images.getFromFamily, IAM methods,
  aggregated `unreachables`, instance suspend/resume; `=` in filters has no
  wildcards and regexps run on Python's re, not RE2; at /token: token
  revocation, domain-wide delegation (`sub`), ID tokens, external accounts.
"""


def build_parser():
    p = argparse.ArgumentParser(prog="gce-emulator", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    p.add_argument("--project", default="demo-project", help="project id (default demo-project)")
    p.add_argument("--seed", metavar="FILE", help="seed file (JSON, see below)")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' (default: any non-empty bearer)")
    p.add_argument("--generate-snapshots", type=int, default=None, metavar="N",
                   help="generate disks and instances in 2 zones and N snapshots snap-%%06d")
    p.add_argument("--generate-epoch", type=float, default=None, metavar="SECONDS",
                   help="newest generated snapshot's creation time (default: now)")
    p.add_argument("--op-seconds", type=float, default=0.2, metavar="S",
                   help="how long an operation runs before DONE (default 0.2)")
    p.add_argument("--user", help="the operations' user field")
    p.add_argument("--fail-rate", type=float, default=0.0, metavar="R",
                   help="answer this fraction of API requests 503 backendError or 429 "
                        "rateLimitExceeded with Retry-After: 1")
    p.add_argument("--random-seed", type=int, default=None, help="seed for every random choice")
    p.add_argument("--slow-rate", type=float, default=0.0, metavar="R",
                   help="delay this fraction of requests by --slow-seconds")
    p.add_argument("--slow-seconds", type=float, default=2.0, metavar="S")
    p.add_argument("--drop-rate", type=float, default=0.0, metavar="R",
                   help="send half of this fraction of responses, then close the connection "
                        "(the request itself took effect)")
    p.add_argument("--garbage-rate", type=float, default=0.0, metavar="R",
                   help="answer this fraction of successful requests 200 with a truncated or "
                        "non-JSON body")
    p.add_argument("--op-error-rate", type=float, default=0.0, metavar="R",
                   help="this fraction of operations ends DONE with an error (change undone)")
    p.add_argument("--conflict-rate", type=float, default=0.0, metavar="R",
                   help="this fraction of setLabels calls fails 412 conditionNotMet")
    p.add_argument("--page-token-ttl", type=float, default=None, metavar="S",
                   help="page tokens older than S seconds are refused (400 invalid)")
    p.add_argument("--flush-fails", action="store_true",
                   help="every guestFlush snapshot / machine image fails")
    p.add_argument("--service-account", action="append", default=[], metavar="FILE",
                   help="trust this service account's key at POST /token: a service-account "
                        "key file (JSON; its public key is derived with openssl), or "
                        "EMAIL=FILE with a PEM public key; repeatable")
    p.add_argument("--refresh-token", action="append", default=[], metavar="T",
                   help="accept refresh token T (any client_id and client_secret) at "
                        "POST /token; repeatable")
    p.add_argument("--token-ttl", type=float, default=3600.0, metavar="S",
                   help="lifetime of the access tokens POST /token and the metadata server "
                        "issue, in seconds of the emulator's clock (default 3600)")
    p.add_argument("--feed", action="append", default=[], metavar="SUBSCRIPTION",
                   help="serve Pub/Sub's REST API at /v1/ with subscription "
                        "projects/P/subscriptions/S on topic projects/P/topics/clonefs-feed, "
                        "which gets a Cloud Asset Inventory TemporalAsset for every change "
                        "to a resource of project P; repeatable (one per watching host)")
    p.add_argument("--feed-ack-deadline", type=int, default=10, metavar="S",
                   help="with --feed: the subscriptions' ackDeadlineSeconds, 10 to 600 "
                        "(default 10)")
    p.add_argument("--feed-pull-hold", type=float, default=5.0, metavar="S",
                   help="with --feed: how long a pull with nothing to deliver waits, 0 to 60 "
                        "seconds (default 5)")
    p.add_argument("--verbose", action="store_true", help="log requests to stderr")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ("fail_rate", "slow_rate", "drop_rate", "garbage_rate", "op_error_rate",
                 "conflict_rate"):
        v = getattr(args, name)
        if not 0.0 <= v <= 1.0:
            print("gce-emulator: --%s must be between 0 and 1" % name.replace("_", "-"),
                  file=sys.stderr)
            return 2
    state = State(default_project=args.project, op_seconds=args.op_seconds,
                  random_seed=args.random_seed, user=args.user)
    state.flush_fails = args.flush_fails
    state.op_error_rate = args.op_error_rate
    try:
        if args.seed:
            with open(args.seed, encoding="utf-8") as f:
                data = json.load(f)
            load_seed(state, data)
        if args.generate_snapshots is not None:
            generate(state, args.generate_snapshots, epoch=args.generate_epoch)
    except (OSError, ValueError, SeedError) as e:
        print("gce-emulator: %s" % e, file=sys.stderr)
        return 2
    state.warm()
    if not args.token_ttl > 0:
        print("gce-emulator: --token-ttl must be positive", file=sys.stderr)
        return 2
    oauth = OAuth(state, token_ttl=args.token_ttl, refresh_tokens=args.refresh_token)
    try:
        for spec in args.service_account:
            oauth.add_service_account(spec)
    except SetupError as e:
        oauth.close()
        print("gce-emulator: %s" % e, file=sys.stderr)
        return 2
    api = Api(state, token=args.token, conflict_rate=args.conflict_rate,
              page_token_ttl=args.page_token_ttl, oauth=oauth)
    faults = Faults()
    faults.fail_rate = args.fail_rate
    faults.slow_rate = args.slow_rate
    faults.slow_seconds = args.slow_seconds
    faults.drop_rate = args.drop_rate
    faults.garbage_rate = args.garbage_rate
    pubsub = None
    if args.feed:
        if not 10 <= args.feed_ack_deadline <= 600 or not 0 <= args.feed_pull_hold <= 60:
            oauth.close()
            print("gce-emulator: --feed-ack-deadline must be 10..600, --feed-pull-hold 0..60",
                  file=sys.stderr)
            return 2
        pubsub = PubSub(faults, state.rng, ack_deadline=args.feed_ack_deadline,
                        hold=args.feed_pull_hold)
        try:
            for sub in args.feed:
                pubsub.add_subscription(sub)
        except ValueError as e:
            oauth.close()
            print("gce-emulator: %s" % e, file=sys.stderr)
            return 2
        # the asset API's first message on a new feed is a welcome string, not an asset
        pubsub.welcome()
        # from now on (after the seed): every change is published
        state.set_observer(pubsub.publish_change)
    em = Emulator(state, api, faults, verbose=args.verbose, oauth=oauth, pubsub=pubsub)
    try:
        srv = Server(("127.0.0.1", args.port), em)
    except OSError as e:
        oauth.close()
        print("gce-emulator: cannot listen on 127.0.0.1:%d: %s" % (args.port, e), file=sys.stderr)
        return 1
    port = srv.server_address[1]
    oauth.audiences = ["http://127.0.0.1:%d/token" % port, "http://localhost:%d/token" % port]
    sys.stdout.write("listening on http://127.0.0.1:%d/compute/v1/\n" % port)
    sys.stdout.flush()

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
        oauth.close()
    return 0
