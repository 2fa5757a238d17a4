"""Griffe extension: the docstrings' reStructuredText idioms as Markdown, for the API reference.

The docstrings are Google style (which mkdocstrings parses) with a few reStructuredText
habits that Markdown would print as they are or run together. Before mkdocstrings renders
them, this extension rewrites, outside literal blocks:

* Sphinx roles (``:func:`entk```, ``:class:`~iga.core.Balanced```) into *optional*
  cross-references: a link when the object is documented on the site, plain code otherwise
  (mkdocs-autorefs does not warn about optional references). A name is looked up as Python
  would from where the docstring is: the object's members, its parents', then the package
  root; ``~`` shows only the last part.
* ``Paragraph::`` into ``Paragraph:`` (the indented literal block after it is already a
  Markdown code block, and is left alone).
* Simple tables (``=====  =====`` borders, a header) into Markdown tables.
* Definition lines (````name``  text`` with continuation lines indented) into a bullet list.
* Doctest lines (``>>> ...``) into a ``pycon`` code block, not a nested quote.

The source stays as it is; only the site's rendering changes.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?P<role>func|class|mod|meth|attr|data|exc|obj|const):"
    r"`(?P<tilde>~?)(?P<target>[^`]+)`"
)
_BORDER = re.compile(r"^\s*=+( +=+)+\s*$")
_ITEM = re.compile(r"^(?P<pad>\s*)(?P<name>``[^`]+``) {2,}(?P<text>\S.*)$")


# --- roles -------------------------------------------------------------------------------------


def _lookup(scope: Any, parts: list[str]) -> Any | None:
    """The object ``parts`` names from ``scope``'s members, or None."""
    obj = scope
    for part in parts:
        try:
            members = obj.target.members if obj.is_alias else obj.members
        except Exception:  # an alias whose target is not loaded
            return None
        if part not in members:
            return None
        obj = members[part]
    return obj


def _path(found: Any, role: str) -> str:
    """``found``'s canonical path; for a non-module role that names a module, the module's
    member of the same name (``iga.core.entk`` the module shadows ``entk`` the function)."""
    if role != "mod" and found.is_module and found.name in found.members:
        found = found.members[found.name]
    return found.target_path if found.is_alias else found.path


def _identifier(obj: Any, role: str, target: str) -> str | None:
    """The canonical path of what ``target`` names from ``obj``'s docstring, or None."""
    parts = target.strip("()").split(".")
    scope = obj
    while scope is not None:
        found = _lookup(scope, parts)
        if found is not None:
            return _path(found, role)
        scope = scope.parent
    root = obj.package
    if parts[0] == root.name:
        found = _lookup(root, parts[1:])
        if found is not None:
            return _path(found, role)
    return None


def _roles(obj: Any, line: str) -> str:
    def link(m: re.Match[str]) -> str:
        target = m["target"]
        title = target.rsplit(".", 1)[-1] if m["tilde"] else target
        code = f"<code>{html.escape(title)}</code>"
        identifier = _identifier(obj, m["role"], target)
        if identifier is None:
            return code
        return f'<autoref identifier="{html.escape(identifier)}" optional>{code}</autoref>'

    return _ROLE.sub(link, line)


# --- blocks ------------------------------------------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _table(lines: list[str], i: int) -> tuple[list[str], int] | None:
    """A simple table with a header from line ``i`` (a border) as Markdown; the next line."""
    border = lines[i]
    starts = [m.start() for m in re.finditer(r"=+", border)]
    pad = border[: _indent(border)]
    sections: list[list[str]] = [[]]
    j = i + 1
    while j < len(lines) and len(sections) < 3:
        if _BORDER.match(lines[j]):
            sections.append([])
        elif lines[j].strip():
            sections[-1].append(lines[j])
        j += 1
    if len(sections) < 3 or not sections[0]:
        return None

    def rows(section: list[str]) -> list[list[str]]:
        out: list[list[str]] = []
        for line in section:
            cells = [
                line[a:b].strip() if b else line[a:].strip()
                for a, b in zip(starts, [*starts[1:], None], strict=True)
            ]
            if out and not cells[0]:  # a continuation line of the row above
                out[-1] = [f"{p} {c}".strip() for p, c in zip(out[-1], cells, strict=True)]
            else:
                out.append(cells)
        return out

    def md(cells: list[str]) -> str:
        return pad + "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    header = [" ".join(col) for col in zip(*rows(sections[0]), strict=True)]
    body = rows(sections[1])
    out = ["", md(header), pad + "|" + " --- |" * len(starts), *map(md, body), ""]
    return out, j


def _definitions(lines: list[str], i: int) -> tuple[list[str], int]:
    """Definition lines from line ``i`` as a bullet list; the next line."""
    items: list[str] = []
    pad = _ITEM.match(lines[i])["pad"]  # type: ignore[index]
    j = i
    while j < len(lines) and lines[j].strip():
        m = _ITEM.match(lines[j])
        if m and m["pad"] == pad:
            items.append(f"{pad}- {m['name']}: {m['text']}")
        elif _indent(lines[j]) > len(pad) and items:
            items[-1] += " " + lines[j].strip()
        else:
            break
        j += 1
    return ["", *items, ""], j


def convert(obj: Any, text: str) -> str:
    """``text`` (a docstring) with its reStructuredText idioms as Markdown."""
    lines = text.split("\n")
    out: list[str] = []
    literal: int | None = None  # the indentation of the `::` line whose block we are in
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if literal is not None:
            if not stripped or _indent(line) > literal:
                out.append(line)
                i += 1
                continue
            literal = None
        if fence is not None or stripped.startswith("```"):
            if stripped.startswith("```"):
                fence = None if fence is not None else stripped
            out.append(line)
            i += 1
            continue
        if _BORDER.match(line) and (table := _table(lines, i)) is not None:
            block, i = table
            out += block
            continue
        if stripped.startswith(">>>"):
            pad = line[: _indent(line)]
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            out += [f"{pad}```pycon", *lines[i:j], f"{pad}```"]
            i = j
            continue
        if _ITEM.match(line) and (not out or not out[-1].strip()):
            block, i = _definitions(lines, i)
            out += [_roles(obj, b) for b in block]
            continue
        if stripped.endswith("::"):
            literal = _indent(line)
            line = line.rstrip()[:-1]
            if not line.strip()[:-1]:  # `::` alone on its line
                line = ""
        out.append(_roles(obj, line))
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite the docstrings once a package is loaded (so every name can be looked up)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[Any] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_alias or id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(obj, obj.docstring.value)
            stack.extend(obj.members.values())
