"""MkDocs hook: links from the documentation to files elsewhere in the repository.

The pages link to committed results the way they read on GitHub, relative to ``docs/``
(``../results/image/cpu/paper/table.md``, ``![gains](../results/image/cpu/paper/gains.png)``).
MkDocs only knows the files under ``docs/``; turning its link validation off would hide every
broken link. Instead this hook, for each relative link (or image) whose target lies outside
``docs/`` but inside the repository:

* checks that the target exists and is not ignored by git (an ignored file is not in a
  clone); if not, it logs a warning, which fails ``mkdocs build --strict`` (``make docs``);
* adds the target to the site at its repository path (``results/...``): a Markdown file
  becomes a page (not in the navigation), a figure or a data file is copied, and a folder
  becomes a generated page listing its files;
* rewrites the link to point there, so MkDocs then validates it (and its ``#anchor``) like
  any link between pages.

Links inside code blocks and code spans are left alone, as Markdown does. Targets outside the
repository are warnings too.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.repo_links")

# `](target)` or `](target "title")` (the link text may wrap onto earlier lines).
_INLINE = re.compile(r"(?P<head>\]\(\s*<?)(?P<target>[^)\s>]+)(?P<tail>>?(?:\s+\"[^\"]*\")?\s*\))")
# `[label]: target` (a reference definition).
_REFDEF = re.compile(r"^(?P<head> {0,3}\[[^\]]+\]:\s*<?)(?P<target>[^\s>]+)(?P<tail>.*)$")
_FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+).+?\1")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_LISTING = "index.md"
_NOT_IN_NAV = InclusionLevel.NOT_IN_NAV  # pages reached by links only, by design


class _State:
    """What one build found; reset by ``on_config`` (``mkdocs serve`` rebuilds)."""

    def __init__(self, config: MkDocsConfig) -> None:
        self.docs = Path(config.docs_dir).resolve()
        self.repo = Path(config.config_file_path).resolve().parent
        self.missing: dict[str, str] = {}  # repository path -> why it is not on the site
        self.added: set[str] = set()  # repository paths added to the site


_state: _State | None = None


def _segments(markdown: str):
    """Yield (text, is_code, starts_a_line) pieces: fenced blocks and code spans are code."""
    fence: str | None = None
    for line in markdown.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is not None:
            if m and m["fence"][0] == fence[0] and len(m["fence"]) >= len(fence):
                fence = None
            yield line, True, True
            continue
        if m:
            fence = m["fence"]
            yield line, True, True
            continue
        pos = 0
        for span in _CODE_SPAN.finditer(line):
            yield line[pos : span.start()], False, pos == 0
            yield span.group(0), True, False
            pos = span.end()
        yield line[pos:], False, pos == 0


def _split(target: str) -> tuple[str, str]:
    """``path#frag`` -> (path, ``#frag``); the query, if any, stays with the path."""
    path, sep, frag = target.partition("#")
    return path, sep + frag


def _outside(target: str, page_dir: Path, state: _State) -> tuple[str, Path] | None:
    """(repository path, absolute path) of a relative link target outside docs/, else None."""
    path, _ = _split(target)
    if not path or _SCHEME.match(path) or path.startswith(("/", "\\")):
        return None
    absolute = Path(os.path.normpath(page_dir / unquote(path.split("?", 1)[0])))
    if absolute == state.docs or state.docs in absolute.parents:
        return None  # MkDocs validates links between docs files itself
    try:
        rel = absolute.relative_to(state.repo).as_posix()
    except ValueError:
        return "", absolute  # outside the repository
    return rel, absolute


def _links(markdown: str, page_dir: Path, state: _State):
    """Every (repository path, absolute path) a page links to outside docs/."""
    for text, is_code, line_start in _segments(markdown):
        if is_code:
            continue
        for regex in (_INLINE, _REFDEF) if line_start else (_INLINE,):
            for m in regex.finditer(text):
                found = _outside(m["target"], page_dir, state)
                if found is not None:
                    yield found


def _git(state: _State, *args: str) -> list[str] | None:
    """Lines of a git command's output in the repository; None on a non-zero exit (outside a
    work tree; ``check-ignore`` of a path git does not ignore) or without git."""
    try:
        out = subprocess.run(
            ["git", "-C", str(state.repo), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    if out.returncode != 0:
        return None
    return out.stdout.splitlines()


def _listing(rel: str, absolute: Path, state: _State) -> tuple[str, list[str]]:
    """A generated page listing a folder's files (not ignored by git); its repository paths."""
    names = _git(state, "ls-files", "--cached", "--others", "--exclude-standard", "--", rel + "/")
    if names is None:
        names = [f"{rel}/{p.name}" + ("/" if p.is_dir() else "") for p in absolute.iterdir()]
    files: set[str] = set()
    folders: set[str] = set()
    for name in names:
        child = name[len(rel) + 1 :]
        head, sep, _ = child.partition("/")
        (folders if sep else files).add(head)
    lines = [f"# `{rel}/`", "", "The files of this folder of the repository:", ""]
    lines += [f"- [`{name}`]({name})" for name in sorted(files)]
    lines += [f"- `{name}/` (a folder)" for name in sorted(folders)]
    return "\n".join(lines) + "\n", [f"{rel}/{name}" for name in sorted(files)]


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    global _state
    _state = _State(config)
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add every existing repository file (or folder) the pages link to, pages they link to
    included; remember the missing ones for ``on_page_markdown``."""
    state = _state
    assert state is not None
    queue: list[tuple[str, Path]] = []
    for f in files.documentation_pages():
        if f.abs_src_path is not None:  # (pages generated by a plugin have no source file)
            source = Path(f.abs_src_path)
            queue += _links(source.read_text(encoding="utf-8"), source.parent, state)
    while queue:
        rel, absolute = queue.pop()
        if not rel or rel in state.added or rel in state.missing:
            continue
        if not absolute.exists():
            state.missing[rel] = "does not exist in the repository"
            continue
        if _git(state, "check-ignore", "-q", "--", rel) == []:
            state.missing[rel] = "is ignored by git (not in a clone); commit it or link elsewhere"
            continue
        src_uri = posixpath.join(rel, _LISTING) if absolute.is_dir() else rel
        if files.get_file_from_path(src_uri) is not None:
            state.missing[rel] = f"clashes with docs/{src_uri}"
            continue
        state.added.add(rel)
        if absolute.is_dir():
            content, children = _listing(rel, absolute, state)
            files.append(File.generated(config, src_uri, content=content, inclusion=_NOT_IN_NAV))
            queue += [(child, state.repo / child) for child in children]
            continue
        files.append(
            File.generated(config, src_uri, abs_src_path=str(absolute), inclusion=_NOT_IN_NAV)
        )
        if absolute.suffix == ".md":
            queue += _links(absolute.read_text(encoding="utf-8"), absolute.parent, state)
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Point each link outside docs/ at its copy on the site; warn about the missing ones."""
    state = _state
    assert state is not None
    if page.file.abs_src_path is None:
        page_dir = state.repo / posixpath.dirname(page.file.src_uri)  # a generated listing
    else:
        page_dir = Path(page.file.abs_src_path).parent
    here = posixpath.dirname(page.file.src_uri)

    def rewrite(m: re.Match[str]) -> str:
        target = m["target"]
        found = _outside(target, page_dir, state)
        if found is None:
            return m.group(0)
        rel, absolute = found
        if not rel:
            log.warning(f"{page.file.src_uri}: link to '{target}' leaves the repository")
            return m.group(0)
        if rel not in state.added:
            why = state.missing.get(rel, "was not found")
            log.warning(f"{page.file.src_uri}: link to '{target}': {rel} {why}")
            return m.group(0)
        uri = posixpath.join(rel, _LISTING) if absolute.is_dir() else rel
        new = posixpath.relpath(uri, here or ".") + _split(target)[1]
        return m["head"] + new + m["tail"]

    out = []
    for text, is_code, line_start in _segments(markdown):
        if not is_code:
            text = _INLINE.sub(rewrite, text)
            if line_start:
                text = _REFDEF.sub(rewrite, text)
        out.append(text)
    return "".join(out)
