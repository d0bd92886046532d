"""A small EDN reader, enough for Jepsen's history.edn: nil, booleans, numbers,
strings, characters, keywords, symbols, vectors, lists, maps, sets, comments,
#_ discards and tagged literals (kept as their value). Errors name the line
and column."""
from __future__ import annotations

import re

MAX_DEPTH = 200


class EDNError(ValueError):
    def __init__(self, message, pos, text):
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"line {line}, column {col}: {message}")
        self.line, self.col = line, col


class Keyword(str):
    """:foo reads as Keyword("foo") (a str, so it compares to "foo")."""

    __slots__ = ()


_WS = re.compile(r"(?:[\s,]+|;[^\n]*)+")
_NUM = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[NM]?(?=[\s,;()\[\]{}\"]|$)")
_SYM = re.compile(r"[^\s,;()\[\]{}\"\\]+")
_STR_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CLOSE = {"[": "]", "(": ")", "{": "}"}
MAX_DIGITS = 4000


def read_all(text: str):
    """Every top-level form, with its start offset: [(value, pos)]."""
    out = []
    pos = _skip(text, 0)
    while pos < len(text):
        start = pos
        value, pos = _read(text, pos, 0)
        out.append((value, start))
        pos = _skip(text, pos)
    return out


def _skip(text, pos):
    while True:
        m = _WS.match(text, pos)
        if m:
            pos = m.end()
        if text.startswith("#_", pos):
            _, pos = _read(text, _skip(text, pos + 2), 0)
            continue
        return pos


def _read(text, pos, depth):
    if depth > MAX_DEPTH:
        raise EDNError("nested too deeply", pos, text)
    pos = _skip(text, pos)
    if pos >= len(text):
        raise EDNError("unexpected end of input", pos, text)
    c = text[pos]
    if c in "[({":
        items, p = _seq(text, pos, pos + 1, _CLOSE[c], depth)
        if c == "{":
            if len(items) % 2:
                raise EDNError("a map needs an even number of forms", pos, text)
            try:
                return {items[i]: items[i + 1] for i in range(0, len(items), 2)}, p
            except TypeError:
                raise EDNError("a map key must be a plain value", pos, text) from None
        return (items if c == "[" else tuple(items)), p
    if c in ")]}":
        raise EDNError(f"unexpected {c!r}", pos, text)
    if c == '"':
        return _string(text, pos)
    if c == "#":
        if text.startswith("#{", pos):
            return _seq(text, pos, pos + 2, "}", depth)
        m = _SYM.match(text, pos + 1)
        if not m:
            raise EDNError("unreadable tag", pos, text)
        return _read(text, m.end(), depth + 1)  # a tagged literal: its value
    if c == "\\":
        m = _SYM.match(text, pos + 1)
        if not m:
            raise EDNError("unreadable character literal", pos, text)
        return m.group(0), m.end()
    m = _NUM.match(text, pos)
    if m:
        tok = m.group(0).rstrip("NM")
        if len(tok) > MAX_DIGITS:
            raise EDNError("number too long", pos, text)
        if any(ch in tok for ch in ".eE") or m.group(0).endswith("M"):
            return float(tok), m.end()
        return int(tok), m.end()
    m = _SYM.match(text, pos)
    if not m:
        raise EDNError(f"unexpected {c!r}", pos, text)
    tok = m.group(0)
    if tok == "nil":
        return None, m.end()
    if tok in ("true", "false"):
        return tok == "true", m.end()
    if tok.startswith(":"):
        if len(tok) == 1:
            raise EDNError("empty keyword", pos, text)
        return Keyword(tok[1:]), m.end()
    return tok, m.end()


def _seq(text, open_pos, p, close, depth):
    items = []
    while True:
        p = _skip(text, p)
        if p >= len(text):
            raise EDNError(f"{text[open_pos]!r} opened here is never closed", open_pos, text)
        if text[p] == close:
            return items, p + 1
        if text[p] in ")]}":
            raise EDNError(f"unexpected {text[p]!r} (expected {close!r})", p, text)
        v, p = _read(text, p, depth + 1)
        items.append(v)


def _string(text, pos):
    out, p = [], pos + 1
    while True:
        q = text.find('"', p)
        b = text.find("\\", p)
        if q < 0:
            raise EDNError("string opened here is never closed", pos, text)
        if 0 <= b < q:
            out.append(text[p:b])
            if b + 1 >= len(text):
                raise EDNError("string opened here is never closed", pos, text)
            e = text[b + 1]
            if e == "u":
                try:
                    out.append(chr(int(text[b + 2:b + 6], 16)))
                except ValueError:
                    raise EDNError("bad \\u escape", b, text) from None
                p = b + 6
            else:
                out.append(_STR_ESC.get(e, e))
                p = b + 2
            continue
        out.append(text[p:q])
        return "".join(out), q + 1
