"""The documentation site (mkdocs.yml, docs/): every public name of ``iga`` is in the API
reference, the README's links resolve, and ``mkdocs build --strict`` succeeds, so a broken
link, #anchor, figure or API reference fails (the build half skips without the ``docs`` extra).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import iga

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
# `::: identifier` and its indented YAML options (mkdocstrings' syntax).
DIRECTIVE = re.compile(
    r"^::: *(?P<ident>[\w.]+)[ \t]*\n(?P<options>(?:[ \t]+\S.*\n|[ \t]*\n)*)", re.M
)
BUILD_TIMEOUT_S = 240


def resolve(path: str) -> Any:
    """The object a dotted path names: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ModuleNotFoundError(path)


def members_option(options: str) -> list[str] | bool | None:
    """The directive's ``members`` option: a list of names, False, or None when not set."""
    lines = options.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*members:\s*(.*?)\s*$", line)
        if not m:
            continue
        value = m[1]
        if value in ("false", "False", "no"):
            return False
        if value.startswith("["):
            return [v.strip().strip("'\"") for v in value.strip("[]").split(",") if v.strip()]
        names = []
        for item in lines[i + 1 :]:
            got = re.match(r"\s*-\s*([\w.]+)\s*$", item)
            if not got:
                break
            names.append(got[1])
        return names
    return None


def documented_objects() -> list[tuple[str, Any]]:
    """(name, object) of everything the API pages' directives render: the object of each
    directive and the members it shows (its ``members`` list, else a module's ``__all__``)."""
    found = []
    for page in sorted(API.glob("*.md")):
        for m in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            ident = m["ident"]
            obj = resolve(ident)
            found.append((ident, obj))
            members = members_option(m["options"])
            if members is None and isinstance(obj, ModuleType):
                members = list(getattr(obj, "__all__", []))
            for name in members or []:
                found.append((f"{ident}.{name}", getattr(obj, name)))
    return found


def test_every_public_name_is_in_the_api_reference() -> None:
    """Read ``iga.__all__`` now, so a name added later must be documented too: by a
    directive of its module (with its members) or by name in a ``members`` list."""
    documented = documented_objects()
    assert len(documented) > 50, "the API pages document almost nothing"
    ids = {id(obj) for _, obj in documented}
    missing = [name for name in iga.__all__ if id(getattr(iga, name)) not in ids]
    assert not missing, (
        f"iga.__all__ names missing from docs/api/*.md: {missing}; add a `::: module` "
        "directive (or the name to a `members:` list)"
    )


def test_the_check_notices_a_missing_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The coverage test is not vacuous: a new public name fails it."""
    monkeypatch.setattr(iga, "brand_new_name", object(), raising=False)
    ids = {id(obj) for _, obj in documented_objects()}
    assert id(iga.brand_new_name) not in ids


def test_readme_links_resolve() -> None:
    """Every relative link of the README (read on GitHub, outside the site) names a file."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t)]
    assert len(local) >= 10
    missing = sorted({t for t in local if not (ROOT / t).exists()})
    assert not missing, f"README.md links to missing files: {missing}"


def mkdocs_or_skip() -> None:
    for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            importlib.import_module(name)
        except ImportError:
            pytest.skip(f"{name} is not installed: pip install -e '.[docs]' (or `make docs`)")


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )


def inventory(path: Path) -> list[str]:
    """The object names of a Sphinx inventory (objects.inv, version 2) that mkdocstrings wrote."""
    data = path.read_bytes()
    body = data.split(b"\n", 4)[4]  # four header lines, then zlib
    lines = zlib.decompress(body).decode("utf-8").splitlines()
    return [line.split(" ", 1)[0] for line in lines if " py:" in line]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mkdocs_or_skip()
    out = tmp_path_factory.mktemp("docs") / "site"
    done = build(ROOT / "mkdocs.yml", out)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"
    return out


def test_site_builds_strict(site: Path) -> None:
    assert (site / "index.html").is_file() and (site / "api" / "iga" / "index.html").is_file()
    # Figures the pages show are on the site (the hook copies them from results/).
    missing = []
    for html in site.rglob("*.html"):
        for src in re.findall(r'<img[^>]* src="([^"]+)"', html.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+:|/|data:", src) and not (html.parent / src).is_file():
                missing.append(f"{html.relative_to(site)}: {src}")
    assert not missing, f"images missing from the site: {missing}"


def test_every_public_name_is_rendered(site: Path) -> None:
    """The objects the site documents (its objects.inv) include every name of iga.__all__
    (catches a directive that resolves in Python but renders nothing, e.g. a shadowed name)."""
    ids = set()
    for name in inventory(site / "objects.inv"):
        try:
            obj = resolve(name)
        except (AttributeError, ImportError):
            continue  # instance attributes and the like
        ids.add(id(obj))
    missing = [name for name in iga.__all__ if id(getattr(iga, name)) not in ids]
    assert not missing, f"iga.__all__ names the site does not render: {missing}"


def test_a_broken_link_outside_docs_fails_the_build(tmp_path: Path) -> None:
    """The repo_links hook: a link to a missing repository file fails --strict; an existing
    one is copied to the site (a Markdown file becomes a page) and the link rewritten."""
    mkdocs_or_skip()
    (tmp_path / "docs").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.md").write_text("| a |\n| --- |\n| 1 |\n")
    hook = ROOT / "docs" / "hooks" / "repo_links.py"
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"site_name: t\nhooks: [{hook.as_posix()}]\n")
    page = tmp_path / "docs" / "index.md"
    page.write_text("# t\n\n[table](../results/table.md), [folder](../results/)\n")
    done = build(config, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "results" / "table" / "index.html").is_file()
    assert (tmp_path / "site" / "results" / "index.html").is_file()  # the folder's listing
    assert 'href="results/table/"' in (tmp_path / "site" / "index.html").read_text()

    page.write_text("# t\n\n[gone](../results/gone.md)\n\n`[in code](../results/nope.md)`\n")
    done = build(config, tmp_path / "site")
    assert done.returncode != 0
    assert "results/gone.md does not exist in the repository" in done.stderr
    assert "nope.md" not in done.stderr  # links in code are not links


def test_docstrings_become_markdown() -> None:
    """The griffe extension (docs/hooks/griffe_rst.py) turns the docstrings' reStructuredText
    idioms into Markdown and leaves literal blocks alone."""
    pytest.importorskip("griffe", reason="the docs extra is not installed")
    spec = importlib.util.spec_from_file_location("griffe_rst", ROOT / "docs/hooks/griffe_rst.py")
    assert spec is not None and spec.loader is not None
    rst = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rst)

    class Obj:  # a docstring's owner in which no name resolves
        parent = None
        is_alias = False
        members: dict[str, Any] = {}
        package = type("Package", (), {"name": "pkg", "is_alias": False, "members": {}})

    doc = "\n".join(
        [
            "See :func:`~pkg.mod.f` and :class:`Thing`. Literal::",
            "",
            "    keep :func:`g` here",
            "",
            "``a``  first",
            "       more",
            "``b``  second",
            "",
            "===  =====",
            "key  value",
            "===  =====",
            "one  1",
            "     more",
            "===  =====",
            "",
            ">>> f(1)",
            "2",
        ]
    )
    out = rst.convert(Obj(), doc).splitlines()
    assert out[0] == "See <code>f</code> and <code>Thing</code>. Literal:"
    assert "    keep :func:`g` here" in out
    assert "- ``a``: first more" in out and "- ``b``: second" in out
    assert "| key | value |" in out and "| one | 1 more |" in out
    assert out[-4:] == ["```pycon", ">>> f(1)", "2", "```"]
