"""MaxResults / NextToken paging of the Describe calls.

Every listing walks its collection in id order; a NextToken is opaque to
the client and carries the action, the last id it returned and a
fingerprint of the request's other parameters (a token replayed with other
filters is InvalidPaginationToken).  As on AWS, filters are applied to a
window of the collection, so a filtered page may hold fewer than
MaxResults items, or none, and still carry a NextToken: only a page
without a token ends the listing.
"""

import base64
import hashlib
import json

from .util import ApiError, invalid_value

SCAN_FACTOR = 10      # candidates examined per page, in MaxResults


def fingerprint(action, params):
    keep = sorted((k, v) for k, v in params.items()
                  if k not in ("NextToken", "MaxResults", "DryRun"))
    return hashlib.sha256(json.dumps([action, keep]).encode()).hexdigest()[:16]


def make_token(action, params, last):
    raw = json.dumps({"a": action, "k": last, "f": fingerprint(action, params)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_token(action, params, token):
    try:
        pad = "=" * (-len(token) % 4)
        d = json.loads(base64.urlsafe_b64decode(token + pad).decode())
        if d["a"] == action and d["f"] == fingerprint(action, params):
            return d["k"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        pass
    raise ApiError("InvalidPaginationToken", "Invalid pagination token")


def page_size(params, lo, hi, ids_param=None, ids_given=False):
    """MaxResults as the action documents it: below lo refused, above hi
    clamped; not given: everything in one page (None)."""
    if not params.has("MaxResults"):
        return None
    if ids_given:
        raise ApiError("InvalidParameterCombination",
                       "The parameter %s cannot be used with the parameter maxResults"
                       % ids_param)
    n = params.int("MaxResults")
    if n < lo:
        raise invalid_value("Value ( %d ) for parameter maxResults is invalid. Expecting a "
                            "value greater than %d." % (n, lo - 1))
    return min(n, hi)


def walk(coll, after, limit, pred):
    """Up to `limit` matching resources after id `after`; -> (items, last id
    examined or None when the collection is exhausted)."""
    items = []
    budget = None if limit is None else limit * SCAN_FACTOR
    last = None
    for rid in coll.after(after):
        if budget is not None:
            if len(items) >= limit or budget <= 0:
                return items, last
            budget -= 1
        last = rid
        r = coll.items[rid]
        if pred(r):
            items.append(r)
    return items, None
