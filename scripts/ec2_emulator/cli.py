"""Command line of scripts/ec2-emulator."""

import argparse
import json
import signal
import sys
import textwrap
import threading

from .api import ACTIONS, Api
from .faults import Faults
from .metadata import Credentials, Imds
from .model import Model
from .server import Emulator, Server
from .store import SeedError, State, generate, load_seed

DEFAULT_KEY = "AKIAIOSFODNN7EXAMPLE"
DEFAULT_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

DESCRIPTION = """\
A local emulator of the Amazon EC2 Query API (version 2016-11-15) subset
clonefs uses: EBS snapshots, AMIs, volumes, instances, availability zones
and tags, with AWS's form-encoded requests, XML answers, SigV4 signatures,
MaxResults/NextToken paging, filters, states that move over time, and the
error envelope
  <Response><Errors><Error><Code>..</Code><Message>..</Message></Error>
  </Errors><RequestID>..</RequestID></Response>
On the same port: STS GetCallerIdentity and the instance metadata service
(IMDSv2).  It binds 127.0.0.1 only and prints, as its first line,
  listening on http://127.0.0.1:PORT/
"""

EPILOG = """\
routing (one port):
  GET|POST /            the EC2 Query API (Action=..&Version=2016-11-15, form body
                        or query string), signed SigV4 with scope REGION/ec2;
                        Action=GetCallerIdentity (or Version=2011-06-15) goes to
                        STS instead (scope REGION/sts; point AWS_ENDPOINT_URL_STS
                        at the same URL)
  PUT /latest/api/token, GET /latest/...   IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT=
                        http://127.0.0.1:PORT/): the token PUT takes
                        X-aws-ec2-metadata-token-ttl-seconds (1-21600; else 400;
                        with X-Forwarded-For 403); every GET needs the token in
                        X-aws-ec2-metadata-token (IMDSv1, without it: 401).
                        Served: meta-data/iam/security-credentials/[ROLE] (fresh
                        temporary keys, accepted by the API until they expire),
                        meta-data/iam/info, meta-data/instance-id,
                        meta-data/placement/{region,availability-zone},
                        dynamic/instance-identity/document.
  /emulator/v1/...      test control (no auth; see below)

actions:
%s
  Each takes exactly the parameters of botocore's service model (read from
  %s
  when present, else a built-in table), plus DescribeImages' MaxResults,
  NextToken and IncludeDisabled, which the API gained later.  Anything else is
  UnknownParameter; an action not in the model InvalidAction; one in it that
  the emulator lacks UnsupportedOperation; DryRun=true DryRunOperation (412).
  MaxResults: DescribeSnapshots/Images/Instances/Tags 5-1000, DescribeVolumes
  5-500 (below: InvalidParameterValue; above: clamped; with ids:
  InvalidParameterCombination); without it, one page holds everything.
  Filters apply to a window of 10 x MaxResults ids, so a filtered page may be
  short or empty and still carry a NextToken (only a page without one ends).
  Filters: Name.N / Value.M with * and ? wildcards, tag:KEY, tag-key,
  tag-value and per resource the documented names (snapshot: description,
  encrypted, owner-alias, owner-id, progress, snapshot-id, start-time,
  status, storage-tier, volume-id, volume-size; ...); an unknown one is
  InvalidParameterValue "The filter 'x' is invalid".
  Owner / OwnerId: self, an account id or an alias.
states (seconds of the emulator's clock, settable at /emulator/v1/faults):
  snapshot pending -> completed (--snapshot-seconds, progress 0%%..100%%);
  AMI pending -> available (--image-seconds after its last snapshot);
  volume creating -> available/in-use (--volume-seconds); instance
  pending -> running, stopping -> stopped, shutting-down -> terminated
  (--instance-seconds); a terminated instance is listed for
  --terminated-linger seconds, then gone (DescribeInstances shows recently
  terminated instances, as AWS documents).
refusals: InvalidSnapshot.InUse (a snapshot a registered AMI uses);
  InvalidParameterValue "This snapshot is managed by the AWS Backup
  service ..." (a snapshot with an aws:backup:* tag); InvalidParameterValue
  for a locked snapshot (seed "locked": true; the reference this emulator
  was written from does not give AWS's own code for that case);
  InvalidAMIName.Duplicate / .Malformed; IncorrectInstanceState;
  IncorrectState; TagLimitExceeded (50 tags); InvalidParameterValue for aws:*
  tag keys; *.NotFound and *.Malformed per id; AuthFailure (401) for an
  unknown key, a wrong secret or session token; RequestExpired (X-Amz-Date
  more than 15 minutes off the real clock; moving the emulator's clock
  does not expire signatures, only IMDS keys).
  STS answers in its own envelope: InvalidClientTokenId, SignatureDoesNotMatch.

seed file (--seed): a JSON object; every key optional, every id generated
  when left out, times ISO 8601 (or epoch seconds), tags an object or
  [{"Key": .., "Value": ..}]:
    {"availabilityZones": ["us-east-1a", "us-east-1b"],
     "volumes":   [{"volumeId": "vol-0123456789abcdef0", "size": 100,
                    "availabilityZone": "us-east-1a", "volumeType": "gp3",
                    "createTime": "2024-05-01T10:00:00Z", "tags": {"Name": "db-data"}}],
     "instances": [{"instanceId": "i-0123456789abcdef0", "state": "running",
                    "availabilityZone": "us-east-1a", "instanceType": "m5.large",
                    "launchTime": "...", "attachTime": "...", "tags": {"Name": "db1"},
                    "volumes": [{"volumeId": "vol-0123456789abcdef0",
                                 "device": "/dev/xvda", "deleteOnTermination": true}]}],
     "snapshots": [{"snapshotId": "snap-...", "volumeId": "vol-...", "volumeSize": 100,
                    "description": "..", "startTime": "..", "state": "completed",
                    "ownerId": "123456789012", "fullSnapshotSizeInBytes": 1073741824,
                    "locked": false, "tags": {"Name": "nightly"}}],
     "images":    [{"imageId": "ami-...", "name": "golden", "state": "available",
                    "creationDate": "..", "description": "..",
                    "blockDeviceMappings": [{"deviceName": "/dev/xvda",
                                             "snapshotId": "snap-...", "volumeSize": 8}]}]}
  fullSnapshotSizeInBytes (of a completed snapshot) is sent when the service
  model's Snapshot shape has that member, or with --full-snapshot-size (the
  current API reference lists it; botocore 1.29's model does not).

test control endpoints (no auth; not part of the API):
  GET    /emulator/v1/health
  GET    /emulator/v1/requests       counts by "EC2 Action", "STS Action", "IMDS ..."
  DELETE /emulator/v1/requests       reset them
  GET|POST /emulator/v1/faults       {"failRate", "slowRate", "slowSeconds",
         "dropRate", "garbageRate", "eventualSeconds", "snapshotSeconds",
         "imageSeconds", "volumeSeconds", "instanceSeconds",
         "terminatedLingerSeconds"}
  POST   /emulator/v1/clock          {"advanceSeconds": S}: move the clock on
  POST   /emulator/v1/raw-override   {"action": "DescribeSnapshots", "status": 200,
         "body": "raw text", "headers": {...}, "times": N (optional)}: that
         action answers the raw body, before auth and faults (malformed-
         response tests); DELETE removes every override
  POST   /emulator/v1/resources      a seed-format object: add resources
  DELETE /emulator/v1/resources/ID   remove one behind the API's back
  GET    /emulator/v1/internal-errors  {"count": N}: exceptions of the
         emulator's own, each answered 500 InternalError and printed on
         stderr after a line starting "ec2-emulator: internal error"

not implemented: CreateImage's reboot (NoReboot is taken; the instance just
  stays running), presigned (query-string) SigV4, SigV4A, snapshot copy,
  sharing and archive, AttachVolume/DetachVolume, launch templates,
  networking beyond a fixed VPC and subnet, IAM policies (every key may do
  everything), STS actions other than GetCallerIdentity.
"""


def build_parser():
    model = Model()
    p = argparse.ArgumentParser(
        prog="ec2-emulator", description=DESCRIPTION,
        epilog=EPILOG % (textwrap.fill(", ".join(sorted(ACTIONS)) + ".", 76,
                                       initial_indent="  ", subsequent_indent="  "),
                         model.source),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    p.add_argument("--region", default="us-east-1", help="the region served (default us-east-1)")
    p.add_argument("--account-id", default="123456789012", help="the account (default 123456789012)")
    p.add_argument("--access-key", default=DEFAULT_KEY,
                   help="access key id accepted (default %s)" % DEFAULT_KEY)
    p.add_argument("--secret-key", default=DEFAULT_SECRET,
                   help="its secret (default AWS's documentation example secret)")
    p.add_argument("--session-token", default=None,
                   help="require this X-Amz-Security-Token with that key (default: none)")
    p.add_argument("--credentials", action="append", default=[], metavar="KEY:SECRET[:TOKEN]",
                   help="accept another key; repeatable")
    p.add_argument("--imds-role", default="clonefs-role", help="IMDS role name")
    p.add_argument("--imds-credentials-ttl", type=float, default=21600.0, metavar="S",
                   help="lifetime of the keys IMDS hands out (default 21600)")
    p.add_argument("--model", metavar="FILE", help="service-2.json to read (default: botocore's)")
    p.add_argument("--seed", metavar="FILE", help="seed file (JSON, see below)")
    p.add_argument("--generate-snapshots", type=int, default=None, metavar="N",
                   help="generate 4 instances, 6 volumes in 2 zones, N completed snapshots "
                        "(Name tags snapshot-%%06d) and 2 AMIs with a snapshot each")
    p.add_argument("--generate-epoch", type=float, default=None, metavar="SECONDS",
                   help="time of the generated inventory (default: now)")
    p.add_argument("--snapshot-seconds", type=float, default=2.0, metavar="S")
    p.add_argument("--image-seconds", type=float, default=0.5, metavar="S")
    p.add_argument("--volume-seconds", type=float, default=1.0, metavar="S")
    p.add_argument("--instance-seconds", type=float, default=1.0, metavar="S")
    p.add_argument("--terminated-linger", type=float, default=3600.0, metavar="S")
    p.add_argument("--eventual-seconds", type=float, default=0.0, metavar="S",
                   help="a new resource is missing from Describe calls for S seconds")
    p.add_argument("--fail-rate", type=float, default=0.0, metavar="R",
                   help="answer this fraction of API requests InternalError (500), "
                        "Unavailable (503) or RequestLimitExceeded (503), before any effect")
    p.add_argument("--slow-rate", type=float, default=0.0, metavar="R",
                   help="delay this fraction of API requests by --slow-seconds")
    p.add_argument("--slow-seconds", type=float, default=2.0, metavar="S")
    p.add_argument("--drop-rate", type=float, default=0.0, metavar="R",
                   help="send half of this fraction of responses, then close the connection "
                        "(the request itself took effect)")
    p.add_argument("--garbage-rate", type=float, default=0.0, metavar="R",
                   help="answer this fraction of successful requests 200 with truncated XML "
                        "or an HTML page")
    p.add_argument("--full-snapshot-size", action="store_true", default=None,
                   help="send snapshots' fullSnapshotSizeInBytes even if the model lacks it")
    p.add_argument("--random-seed", type=int, default=None, help="seed for every random choice")
    p.add_argument("--verbose", action="store_true", help="log requests to stderr")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ("fail_rate", "slow_rate", "drop_rate", "garbage_rate"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            print("ec2-emulator: --%s must be between 0 and 1" % name.replace("_", "-"),
                  file=sys.stderr)
            return 2
    st = State(region=args.region, account_id=args.account_id, random_seed=args.random_seed)
    st.snapshot_seconds = args.snapshot_seconds
    st.image_seconds = args.image_seconds
    st.volume_seconds = args.volume_seconds
    st.instance_seconds = args.instance_seconds
    st.terminated_linger = args.terminated_linger
    model = Model(args.model)
    if args.model and model.model is None:
        print("ec2-emulator: cannot read the model %s" % args.model, file=sys.stderr)
        return 2
    creds = Credentials(st)
    creds.add(args.access_key, args.secret_key, args.session_token)
    for spec in args.credentials:
        parts = spec.split(":", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            print("ec2-emulator: --credentials wants KEY:SECRET[:TOKEN]", file=sys.stderr)
            return 2
        creds.add(parts[0], parts[1], parts[2] if len(parts) > 2 else None)
    try:
        if args.seed:
            with open(args.seed, encoding="utf-8") as f:
                load_seed(st, json.load(f))
        if args.generate_snapshots is not None:
            generate(st, args.generate_snapshots, epoch=args.generate_epoch)
    except (OSError, ValueError, TypeError, KeyError, SeedError) as e:
        print("ec2-emulator: %s" % e, file=sys.stderr)
        return 2
    # Seeded resources are there from the start; only later ones are eventual.
    st.eventual_seconds = args.eventual_seconds
    faults = Faults()
    faults.fail_rate = args.fail_rate
    faults.slow_rate = args.slow_rate
    faults.slow_seconds = args.slow_seconds
    faults.drop_rate = args.drop_rate
    faults.garbage_rate = args.garbage_rate
    imds = Imds(st, creds, role=args.imds_role, credentials_ttl=args.imds_credentials_ttl)
    em = Emulator(st, Api(st, model, full_size=args.full_snapshot_size), creds, imds, faults,
                  verbose=args.verbose)
    try:
        srv = Server(("127.0.0.1", args.port), em)
    except OSError as e:
        print("ec2-emulator: cannot listen on 127.0.0.1:%d: %s" % (args.port, e), file=sys.stderr)
        return 1
    sys.stdout.write("listening on http://127.0.0.1:%d/\n" % srv.server_address[1])
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
    return 0
