"""Fault injection knobs (all settable at run time via /emulator/v1/faults),
and the errors AWS answers when it is the one failing."""

from .util import ApiError


class Faults:
    FIELDS = {"failRate": "fail_rate", "slowRate": "slow_rate", "slowSeconds": "slow_seconds",
              "dropRate": "drop_rate", "garbageRate": "garbage_rate"}

    def __init__(self):
        self.fail_rate = 0.0
        self.slow_rate = 0.0
        self.slow_seconds = 2.0
        self.drop_rate = 0.0
        self.garbage_rate = 0.0


def injected_failure(pick, sts=False):
    """One of AWS's server-side refusals, chosen by pick in [0, 1): EC2's
    InternalError (500), Unavailable (503) and RequestLimitExceeded (503,
    the throttling code botocore and the CLI retry); STS's InternalFailure
    and Throttling."""
    if sts:
        if pick < 0.5:
            return ApiError("InternalFailure", "An internal error has occurred", status=500)
        return ApiError("Throttling", "Rate exceeded", status=400)
    if pick < 0.34:
        return ApiError("InternalError", "An internal error has occurred", status=500)
    if pick < 0.5:
        return ApiError("Unavailable", "The server is overloaded and can't handle the request.",
                        status=503)
    return ApiError("RequestLimitExceeded", "Request limit exceeded.", status=503)
