"""The Query protocol's request side: the flat Name.N.Member parameters of a
form body or query string, checked against the model, and read back as the
lists and structures an action handler wants."""

import re
import urllib.parse

from .model import COMMON, pattern_of
from .util import ApiError, invalid_value, missing

_INT = re.compile(r"^-?[0-9]+$")


def parse_form(text):
    """application/x-www-form-urlencoded -> {name: value} (a repeated name: the last)."""
    out = {}
    for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True, errors="strict"):
        out[k] = v
    return out


def validate(model, action, params):
    """UnknownParameter for a name the action does not take; InvalidParameterValue
    for a malformed integer or boolean, as AWS answers them."""
    allowed = model.params(action)
    for key, value in params.items():
        if key in COMMON or key.startswith("X-Amz-"):
            continue
        t = allowed.get(pattern_of(key))
        if t is None:
            raise ApiError("UnknownParameter", "The parameter %s is not recognized" % key)
        if t == "i" and not _INT.match(value):
            raise invalid_value("Invalid value '%s' for %s" % (value, key))
        if t == "b" and value.lower() not in ("true", "false"):
            raise invalid_value("Invalid value '%s' for %s" % (value, key))


class Params:
    """Read access to one request's parameters."""

    def __init__(self, params):
        self.p = params

    def get(self, name, default=None):
        return self.p.get(name, default)

    def has(self, name):
        return name in self.p

    def required(self, name):
        v = self.p.get(name)
        if v is None or v == "":
            raise missing(name)
        return v

    def int(self, name, default=None):
        v = self.p.get(name)
        return default if v is None else int(v)

    def bool(self, name, default=False):
        v = self.p.get(name)
        return default if v is None else v.lower() == "true"

    def indices(self, prefix):
        """The list indices N present under prefix.N..., in numeric order."""
        n = len(prefix) + 1
        found = set()
        for k in self.p:
            if k.startswith(prefix + "."):
                head = k[n:].split(".", 1)[0]
                if head.isdigit():
                    found.add(int(head))
        return sorted(found)

    def list(self, prefix):
        """Name.1, Name.2, ... -> [values]"""
        return [self.p["%s.%d" % (prefix, i)] for i in self.indices(prefix)
                if "%s.%d" % (prefix, i) in self.p]

    def filters(self):
        """[(name, [values])] from Filter.N.Name / Filter.N.Value.M."""
        out = []
        for i in self.indices("Filter"):
            name = self.p.get("Filter.%d.Name" % i)
            if name is None:
                raise missing("Filter.%d.Name" % i)
            out.append((name, self.list("Filter.%d.Value" % i)))
        return out

    def tags(self, prefix="Tag"):
        """[(key, value or None)] from Tag.N.Key / Tag.N.Value (None: no Value sent)."""
        out = []
        for i in self.indices(prefix):
            key = self.p.get("%s.%d.Key" % (prefix, i))
            if key is None:
                raise missing("%s.%d.Key" % (prefix, i))
            out.append((key, self.p.get("%s.%d.Value" % (prefix, i))))
        return out

    def tag_specs(self):
        """{resource type: [(key, value)]} from TagSpecification.N."""
        out = {}
        for i in self.indices("TagSpecification"):
            rt = self.p.get("TagSpecification.%d.ResourceType" % i)
            if rt is None:
                raise missing("TagSpecification.%d.ResourceType" % i)
            tags = [(k, v if v is not None else "")
                    for k, v in self.tags("TagSpecification.%d.Tag" % i)]
            out.setdefault(rt, []).extend(tags)
        return out
