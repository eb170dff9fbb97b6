"""Small helpers shared by the emulator: the API's errors, time, ids, XML."""

import datetime
import uuid
from xml.sax.saxutils import escape

API_VERSION = "2016-11-15"
STS_VERSION = "2011-06-15"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class ApiError(Exception):
    """An error the API answers in its XML error envelope (code, message,
    HTTP status).  Client errors are 400-series, server errors 500-series."""

    def __init__(self, code, message, status=400, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = headers or {}


def invalid_value(message):
    return ApiError("InvalidParameterValue", message)


def missing(name):
    return ApiError("MissingParameter",
                    "The request must contain the parameter %s" % name)


def request_id():
    return str(uuid.uuid4())


def fmt_time(epoch):
    """EC2's timestamps: UTC with milliseconds and a Z, 2024-05-01T10:20:30.123Z."""
    ms = int(round(epoch * 1000))
    dt = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


def parse_time(text):
    """Epoch seconds of an ISO 8601 timestamp (Z or offset), or None."""
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


def xml_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def to_xml(name, value, out):
    """Append the XML of one element: a dict is a structure (None members
    left out), a list is a set of <item> elements, bytes are pre-rendered
    XML, anything else text."""
    if value is None:
        return
    if isinstance(value, bytes):
        out.append(value.decode("utf-8"))
        return
    if isinstance(value, dict):
        out.append("<%s>" % name)
        for k, v in value.items():
            to_xml(k, v, out)
        out.append("</%s>" % name)
    elif isinstance(value, list):
        if not value:
            out.append("<%s/>" % name)
            return
        out.append("<%s>" % name)
        for v in value:
            to_xml("item", v, out)
        out.append("</%s>" % name)
    else:
        out.append("<%s>%s</%s>" % (name, xml_text(value), name))


def item_xml(value):
    """One <item> rendered once, for the caches of big listings."""
    out = []
    to_xml("item", value, out)
    return "".join(out).encode("utf-8")


def ec2_response(action, rid, members, version=API_VERSION):
    """<ActionResponse xmlns=...><requestId>..</requestId>members..</ActionResponse>."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           '<%sResponse xmlns="http://ec2.amazonaws.com/doc/%s/">' % (action, version),
           "<requestId>%s</requestId>" % rid]
    for k, v in members.items():
        to_xml(k, v, out)
    out.append("</%sResponse>" % action)
    return "".join(out).encode("utf-8")


def ec2_error(err, rid):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
            '<Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>'
            % (escape(err.code), escape(err.message), rid)).encode("utf-8")


def sts_response(action, rid, result):
    out = ['<%sResponse xmlns="%s">' % (action, STS_NS), "<%sResult>" % action]
    for k, v in result.items():
        to_xml(k, v, out)
    out.append("</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>"
               "</%sResponse>" % (action, rid, action))
    return "".join(out).encode("utf-8")


def sts_error(err, rid):
    kind = "Sender" if err.status < 500 else "Receiver"
    return ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message>'
            '</Error><RequestId>%s</RequestId></ErrorResponse>'
            % (STS_NS, kind, escape(err.code), escape(err.message), rid)).encode("utf-8")
