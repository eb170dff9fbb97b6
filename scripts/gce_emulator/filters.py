"""The list `filter` parameter, as the API documents it.

Two dialects, never mixed in one filter:

* AIP-160: `field op value` with op one of = != > < >= <= :, terms combined
  with AND / OR / NOT or by juxtaposition of parenthesised terms (implicit AND);
  OR binds tighter than AND.  `labels.owner:*` tests that a key is present.
* regular expressions: `field eq literal` / `field ne literal`, the literal
  (quoted or not) being an RE2 pattern that must match the entire field.

Values: "double" or 'single' quoted strings, or bare words.  Field paths are
dotted (`labels.env`, `scheduling.automaticRestart`).
"""

import re

from .util import parse_ts


class FilterError(Exception):
    pass


_OPS = ("!=", ">=", "<=", "=", ">", "<", ":")
_WORD_RE = re.compile(r"[^\s()=!<>:\"']+")


class _Lexer:
    def __init__(self, text):
        self.s = text
        self.i = 0
        self.depth = 0

    def skip_ws(self):
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def peek(self):
        """Next token as (type, value) without consuming it."""
        save = self.i
        tok = self.next()
        self.i = save
        return tok

    def next(self):
        self.skip_ws()
        s, i = self.s, self.i
        if i >= len(s):
            return ("eof", None)
        c = s[i]
        if c in "()":
            self.i += 1
            return (c, c)
        for op in _OPS:
            if s.startswith(op, i):
                self.i += len(op)
                return ("op", op)
        if c in "\"'":
            return ("str", self._quoted(c))
        m = _WORD_RE.match(s, i)
        if not m:
            raise FilterError("unexpected character %r" % c)
        self.i = m.end()
        return ("word", m.group(0))

    def _quoted(self, q):
        s = self.s
        i = self.i + 1
        out = []
        while i < len(s):
            c = s[i]
            if c == "\\" and i + 1 < len(s):
                out.append(s[i + 1])
                i += 2
                continue
            if c == q:
                self.i = i + 1
                return "".join(out)
            out.append(c)
            i += 1
        raise FilterError("unterminated string")

    def regex_literal(self):
        """An eq/ne literal: quoted, or raw text up to whitespace."""
        self.skip_ws()
        if self.i < len(self.s) and self.s[self.i] in "\"'":
            return self._quoted(self.s[self.i])
        start = self.i
        while self.i < len(self.s) and not self.s[self.i].isspace():
            self.i += 1
        lit = self.s[start:self.i]
        # Inside parentheses a trailing ')' that the literal does not open
        # closes the term.
        if self.depth > 0:
            while lit.endswith(")") and lit.count(")") > lit.count("("):
                lit = lit[:-1]
                self.i -= 1
        if not lit:
            raise FilterError("missing literal")
        return lit


class Filter:
    """A compiled filter: call matches(doc)."""

    def __init__(self, text):
        self.text = text
        self.dialects = set()
        lx = _Lexer(text)
        self._lx = lx
        if lx.peek()[0] == "eof":
            self.tree = None
        else:
            self.tree = self._and()
            if lx.peek()[0] != "eof":
                raise FilterError("trailing input")
        if len(self.dialects) > 1:
            raise FilterError("regular expression and AIP-160 terms mixed")
        del self._lx

    # and := or ((AND)? or)*
    def _and(self):
        terms = [self._or()]
        while True:
            t, v = self._lx.peek()
            if t == "word" and v == "AND":
                self._lx.next()
                terms.append(self._or())
            elif t in ("(", "word", "str") and not (t == "word" and v == "OR"):
                terms.append(self._or())
            else:
                break
        return ("and", terms) if len(terms) > 1 else terms[0]

    # or := unary (OR unary)*
    def _or(self):
        terms = [self._unary()]
        while self._lx.peek() == ("word", "OR"):
            self._lx.next()
            terms.append(self._unary())
        return ("or", terms) if len(terms) > 1 else terms[0]

    def _unary(self):
        lx = self._lx
        t, v = lx.peek()
        if t == "word" and v == "NOT":
            lx.next()
            return ("not", self._unary())
        if t == "word" and v.startswith("-") and len(v) > 1:
            lx.next()
            return ("not", self._comparison(v[1:]))
        if t == "(":
            lx.next()
            lx.depth += 1
            e = self._and()
            if lx.next()[0] != ")":
                raise FilterError("missing )")
            lx.depth -= 1
            return e
        if t == "word" and v not in ("AND", "OR"):
            lx.next()
            return self._comparison(v)
        raise FilterError("expected a term")

    def _comparison(self, field):
        lx = self._lx
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$", field):
            raise FilterError("bad field %r" % field)
        t, v = lx.peek()
        if t == "word" and v in ("eq", "ne"):
            lx.next()
            lit = lx.regex_literal()
            try:
                rx = re.compile(lit)
            except re.error as e:
                raise FilterError("bad regular expression: %s" % e)
            self.dialects.add("regex")
            return ("re", field.split("."), v == "eq", rx)
        if t != "op":
            raise FilterError("expected an operator after %r" % field)
        lx.next()
        t2, val = lx.next()
        if t2 not in ("word", "str"):
            raise FilterError("expected a value")
        if t2 == "word" and val in ("AND", "OR", "NOT"):
            raise FilterError("expected a value")
        self.dialects.add("aip160")
        return ("cmp", field.split("."), v, val, t2 == "str")

    def matches(self, doc):
        if self.tree is None:
            return True
        if not isinstance(doc, dict):
            return False    # an entry that is not an object has no fields to match
        return _eval(self.tree, doc)


def _lookup(doc, path):
    cur = doc
    for p in path:
        if isinstance(cur, dict):
            cur = cur.get(p)
        else:
            return None
    return cur


def _scalar_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return None
    if isinstance(v, (int, float, str)):
        return str(v)
    return None


def _num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def _compare(fv, op, val):
    """Compare one scalar field value with a filter value."""
    ft = _scalar_text(fv)
    if ft is None:
        return False
    if op == "=":
        return ft == val
    if op == ":":
        return val == "*" or ft == val
    a, b = _num(ft), _num(val)
    if a is None or b is None:
        ta, tb = parse_ts(ft), parse_ts(val)
        if ta is not None and tb is not None:
            a, b = ta, tb
        else:
            a, b = ft, val
    if op == ">":
        return a > b
    if op == "<":
        return a < b
    if op == ">=":
        return a >= b
    if op == "<=":
        return a <= b
    return False


def _eval(node, doc):
    kind = node[0]
    if kind == "and":
        return all(_eval(n, doc) for n in node[1])
    if kind == "or":
        return any(_eval(n, doc) for n in node[1])
    if kind == "not":
        return not _eval(node[1], doc)
    if kind == "re":
        _, path, positive, rx = node
        fv = _lookup(doc, path)
        vals = fv if isinstance(fv, list) else [fv]
        hit = any(_scalar_text(v) is not None and rx.fullmatch(_scalar_text(v)) for v in vals)
        return hit if positive else not hit
    _, path, op, val, _quoted = node
    fv = _lookup(doc, path)
    if op == "!=":
        vals = fv if isinstance(fv, list) else [fv]
        return not any(_compare(v, "=", val) for v in vals)
    if op == ":" and val == "*":
        return fv is not None
    if isinstance(fv, dict):
        # `labels:env` — the map has that key.
        return op == ":" and val in fv
    vals = fv if isinstance(fv, list) else [fv]
    return any(_compare(v, op, val) for v in vals)


def compile_filter(text):
    """A Filter, or None for no filter; raises FilterError."""
    if text is None or not text.strip():
        return None
    return Filter(text)
