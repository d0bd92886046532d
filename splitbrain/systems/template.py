"""Placeholders in a system file: `{name}` is replaced, `{{` and `}}` are literal braces.

An unknown placeholder is an error naming it, found when the file is loaded
(every template is rendered once with sample values), not when a node starts.
"""
from __future__ import annotations

import re
from typing import Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(ValueError):
    pass


def render(text: str, values: Mapping[str, object]) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        name = m.group(1)
        if name not in values:
            raise TemplateError(f"unknown placeholder {{{name}}} (known: "
                                f"{', '.join('{' + k + '}' for k in sorted(values))})")
        value = values[name]
        if value is None:
            raise TemplateError(f"placeholder {{{name}}} has no value here")
        return str(value)

    return _TOKEN.sub(one, text)


def names(text: str) -> set[str]:
    return {m.group(1) for m in _TOKEN.finditer(text) if m.group(1)}
