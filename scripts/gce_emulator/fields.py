"""The `fields` partial-response parameter (a subset of the field-mask syntax).

    items(name,labels),nextPageToken
    items/name,kind
    *

`*` in a path stands for every key of an object (`items/*/disks(name)`: the
disks of every scope of an aggregated list). An expression this module cannot
parse is refused (FieldsError; the API answers 400 "Invalid field
selection"), as the partial-response reference says.
"""


class FieldsError(Exception):
    pass


def parse(text):
    """A mask tree {key: subtree | True}, or None when there is no mask."""
    if text is None or not text.strip():
        return None
    pos, tree = _list(text.replace(" ", ""), 0)
    if pos != len(text.replace(" ", "")):
        raise FieldsError("trailing input")
    return tree


def _list(s, i):
    tree = {}
    while True:
        i = _item(s, i, tree)
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        return i, tree


def _item(s, i, tree):
    start = i
    while i < len(s) and s[i] not in ",()":
        i += 1
    path = s[start:i]
    if not path:
        raise FieldsError("empty path")
    segs = path.split("/")
    if any(not seg for seg in segs):
        raise FieldsError("empty segment")
    sub = True
    if i < len(s) and s[i] == "(":
        i, sub = _list(s, i + 1)
        if i >= len(s) or s[i] != ")":
            raise FieldsError("missing )")
        i += 1
    node = tree
    for seg in segs[:-1]:
        nxt = node.get(seg)
        if nxt is True:
            return i
        if nxt is None:
            nxt = node[seg] = {}
        node = nxt
    last = segs[-1]
    if node.get(last) is True:
        return i
    if sub is True or last not in node:
        node[last] = sub
    else:
        _merge(node[last], sub)
    return i


def _merge(a, b):
    for k, v in b.items():
        if v is True or k not in a:
            a[k] = v
        elif a[k] is not True:
            _merge(a[k], v)


def apply(obj, tree):
    if tree is True:
        return obj
    if isinstance(obj, list):
        return [apply(e, tree) for e in obj]
    if isinstance(obj, dict):
        if "*" in tree:
            return {k: apply(v, tree["*"]) for k, v in obj.items()}
        return {k: apply(obj[k], sub) for k, sub in tree.items() if k in obj}
    return obj
