"""Dataclass configs <-> ``argparse`` options, in one place.

:func:`add_options` adds one ``--option`` per leaf field of a (nested) dataclass config and
:func:`build` turns the parsed namespace back into the config, so the fields (their defaults,
types and ``metadata``) are the single source of a command's flags, defaults and help::

    p = argparse.ArgumentParser()
    add_options(p, ImageFitConfig, skip=("path",))
    cfg = build(ImageFitConfig, p.parse_args(argv), path=...)

Fields become options as follows (``my_field`` -> ``--my-field``, dest ``my_field``):

=========================  ======================================================================
field type                 option
=========================  ======================================================================
``bool``                   ``--flag`` (default False) or ``--flag/--no-flag`` (default True)
``int``, ``float``,        one value, converted; ``Optional[...]`` also accepts ``none``
``str``
``Literal["a", "b"]``      ``choices`` (argparse rejects anything else)
``list[X]``,               comma-separated, ``--freqs 1,2,3`` (a fixed-length tuple checks the
``tuple[X, ...]``          count)
``dict[str, ...]``         repeatable ``--name KEY=VALUE``; values are read as int, float, bool
                           (``true``/``false``), ``none`` or else str; a key given twice is an error
a dataclass                flattened: its fields become options of their own
=========================  ======================================================================

``metadata`` keys read from each field (``overrides`` passed to :func:`add_options` are
overlaid on them, for configs whose metadata does not declare them):

``help``      the help text; ``(default: X)`` is appended once, unless the text already says
              ``default:`` itself or the default is unset (None or "")
``flag``      the option name instead of ``--field-name`` (e.g. ``--opt`` for ``options``)
``choices``   allowed values (also taken from a ``Literal`` type)
``min``       smallest allowed number (inclusive)
``check``     ``callable(value)`` raising ``ValueError`` for a bad value (its message is shown)
``metavar``   the placeholder shown in ``--help``

Bad values are rejected while parsing, so the message names the flag
(``argument --width: must be >= 1; got 0``).

**Name clashes.** Nested configs are flattened without prefixes, so the flags stay short
(``--width``, not ``--model-width``). If two fields anywhere in the tree would get the same
flag or dest (the dest is always the field name), :func:`add_options` raises ``ValueError``
naming both, when the parser is built; resolve it with ``skip`` (a dotted path such as
``"model.seed"`` skips one field, which then keeps its default; a bare name skips that name at
every depth). A clash is never resolved silently.

:func:`build` reads exactly the options :func:`add_options` registered (recorded in the
namespace); a field without an option keeps its default, and ``given`` keyword arguments
override top-level fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["add_options", "build", "parse_scalar"]

_RECORD = "_configcli_fields"
"""Namespace attribute (set through parser defaults): {dotted field path: dest}."""

_NONE = ("none", "None")
_NoneType = type(None)


def parse_scalar(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"``/``"false"`` -> bool, ``"none"`` -> None, else
    the text itself (how ``KEY=VALUE`` values are read)."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    return None if low == "none" else text


# --- types ------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Kind:
    """How one field maps to an option."""

    name: str  # "bool", "scalar", "list", "dict", "nested"
    convert: Callable[[str], Any] | None = None
    optional: bool = False
    choices: tuple[Any, ...] | None = None
    length: int | None = None  # fixed-length tuple
    cls: type | None = None  # nested dataclass
    as_tuple: bool = False


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable annotation: fall back to the default values' types
        return {}


def _scalar(tp: Any) -> Callable[[str], Any] | None:
    if tp is int:
        return int
    if tp is float:
        return float
    if tp is str:
        return str
    return None


def _kind(f: dataclasses.Field, tp: Any, default: Any) -> _Kind:
    if tp is None:  # annotation not resolvable: go by the default value
        tp = type(default) if default is not None else str
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    optional = False
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not _NoneType]
        optional = len(rest) < len(args)
        if len(rest) != 1:
            raise TypeError(f"field {f.name!r}: cannot make an option of type {tp}")
        tp = rest[0]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp) or dataclasses.is_dataclass(default):
        return _Kind("nested", cls=tp if isinstance(tp, type) else type(default))
    if tp is bool:
        return _Kind("bool", optional=optional)
    if origin is typing.Literal:
        conv = _scalar(type(args[0])) or str
        return _Kind("scalar", conv, optional, choices=tuple(args))
    if origin in (dict, Mapping) or tp is dict:
        return _Kind("dict", optional=optional)
    if origin in (list, tuple) or tp in (list, tuple):
        length = None
        if origin is tuple and args and args[-1] is not Ellipsis:
            length = len(args)
        elem = args[0] if args else str
        if typing.get_origin(elem) is typing.Literal:
            conv = _scalar(type(typing.get_args(elem)[0])) or str
            choices: tuple[Any, ...] | None = typing.get_args(elem)
        else:
            conv, choices = _scalar(elem) or parse_scalar, None
        return _Kind(
            "list",
            conv,
            optional,
            choices=choices,
            length=length,
            as_tuple=origin is tuple or tp is tuple,
        )
    conv = _scalar(tp)
    if conv is None:
        raise TypeError(f"field {f.name!r}: cannot make an option of type {tp}")
    return _Kind("scalar", conv, optional)


def _default(f: dataclasses.Field, obj: Any) -> Any:
    if obj is not None and not isinstance(obj, type):
        return getattr(obj, f.name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default  # may be MISSING: a required field


# --- converters (errors become one-line argparse messages naming the flag) ---------------------


def _checked(
    kind: _Kind, meta: Mapping[str, Any], convert: Callable[[str], Any]
) -> Callable[[str], Any]:
    low = meta.get("min")
    check = meta.get("check")

    def one(value: Any) -> Any:
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}; got {value}")
        if check is not None:
            try:
                check(value)
            except (ValueError, TypeError) as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        return value

    def conv(text: str) -> Any:
        if kind.optional and text in _NONE:
            return None
        try:
            value = convert(text)
        except argparse.ArgumentTypeError:
            raise
        except ValueError:
            what = "an integer" if convert is int else "a number" if convert is float else "a value"
            raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
        if kind.name == "list":
            for v in value:
                one(v)
            return value
        return one(value)

    return conv


def _list_converter(kind: _Kind) -> Callable[[str], Any]:
    assert kind.convert is not None
    elem = kind.convert

    def conv(text: str) -> Any:
        items = [s.strip() for s in text.split(",")] if text.strip() else []
        try:
            values = [elem(s) for s in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated values, e.g. 1,2,3; got {text!r}"
            ) from None
        if kind.choices is not None:
            bad = [v for v in values if v not in kind.choices]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"invalid choice {bad[0]!r} (choose from {', '.join(map(str, kind.choices))})"
                )
        if kind.length is not None and len(values) != kind.length:
            raise argparse.ArgumentTypeError(
                f"expected {kind.length} comma-separated values; got {len(values)} in {text!r}"
            )
        return tuple(values) if kind.as_tuple else values

    return conv


class _KeyValue(argparse.Action):
    """``--opt KEY=VALUE``, repeatable, into a dict (a fresh one: the default is not mutated)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None):
        key, sep, text = str(values).partition("=")
        key = key.strip()
        if not sep or not key:
            raise argparse.ArgumentError(self, f"expected KEY=VALUE; got {values!r}")
        items = dict(getattr(namespace, self.dest, None) or {})
        if key in items:
            raise argparse.ArgumentError(self, f"{key} is given twice")
        items[key] = parse_scalar(text)
        setattr(namespace, self.dest, items)


def _with_default(help_: str, default: Any) -> str:
    """``help_`` plus ``(default: X)``, unless the text already states its default.

    A help text with its own ``default: ...`` (e.g. ``--lr``, whose default depends on the
    method and arch) is left alone, and so is an unset default (None or ""), whose meaning the
    help text explains. ``%(default)s`` keeps ``ArgumentDefaultsHelpFormatter`` from adding it
    a second time, should a parser use that formatter.
    """
    text = help_.replace("%", "%%")  # argparse %-formats help texts
    if "default:" in help_.lower() or default is None or default == "":
        return text
    return f"{text} (default: %(default)s)".strip()


def _fmt_list(values: Iterable[Any]) -> str:
    return ",".join(str(v) for v in values)


# --- the two directions -----------------------------------------------------------------------


def _skipped(path: str, name: str, skip: Iterable[str]) -> bool:
    return any(s in (name, path) for s in skip)


def _leaves(
    config: Any, skip: tuple[str, ...], overrides: Mapping[str, Mapping[str, Any]], prefix: str = ""
) -> Iterable[tuple[str, dataclasses.Field, _Kind, Any, dict[str, Any]]]:
    cls = config if isinstance(config, type) else type(config)
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if _skipped(path, f.name, skip):
            continue
        default = _default(f, config)
        kind = _kind(f, hints.get(f.name), default)
        if kind.name == "nested":
            inner = kind.cls if default is dataclasses.MISSING else default
            yield from _leaves(inner, skip, overrides, path + ".")
            continue
        meta = {**f.metadata, **overrides.get(f.name, {}), **overrides.get(path, {})}
        yield path, f, kind, default, meta


def add_options(
    parser: argparse.ArgumentParser,
    config: Any,
    *,
    skip: Iterable[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """Add one option per leaf field of the dataclass ``config`` (a class, or an instance whose
    values are the defaults shown and used) to ``parser``; returns ``{dotted path: flag}``.

    ``skip``: field names (any depth) or dotted paths to leave out. ``overrides``: per field
    name or dotted path, metadata overlaid on the field's own (see the module docstring).

    Raises:
        ValueError: two fields would get the same flag or dest (see "Name clashes").
        TypeError: a field type that has no option form.
    """
    skip_t = tuple(skip)
    overrides = overrides or {}
    leaves = list(_leaves(config, skip_t, overrides))
    flags: dict[str, str] = {}
    dests: dict[str, str] = {}
    for path, f, _, _, meta in leaves:
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        for table, key in ((flags, flag), (dests, f.name)):
            if key in table:
                raise ValueError(
                    f"config fields {table[key]!r} and {path!r} would both become {flag}; "
                    "skip one of them (its dotted path in skip)"
                )
            table[key] = path
    record: dict[str, str] = dict(parser.get_default(_RECORD) or {})
    result: dict[str, str] = {}
    for path, f, kind, default, meta in leaves:
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        help_ = str(meta.get("help", ""))
        kw: dict[str, Any] = {"dest": f.name}
        if "metavar" in meta:
            kw["metavar"] = meta["metavar"]
        if default is dataclasses.MISSING:
            kw["required"] = True
            default = None
        if kind.name == "bool":
            text = help_.replace("%", "%%")
            parser.add_argument(
                flag, dest=f.name, action="store_true", default=bool(default), help=text
            )
            if default:  # on by default: --no-flag turns it off
                off = "--no-" + flag.removeprefix("--")
                parser.add_argument(off, dest=f.name, action="store_false", help=f"turn {flag} off")
        elif kind.name == "dict":
            shown = " ".join(f"{k}={v}" for k, v in (default or {}).items())
            suffix = f"repeatable; default: {shown}" if shown else "repeatable"
            parser.add_argument(
                flag,
                action=_KeyValue,
                default=dict(default or {}),
                metavar=meta.get("metavar", "KEY=VALUE"),
                help=f"{help_} ({suffix})".strip().replace("%", "%%"),
                dest=f.name,
            )
        else:
            choices = meta.get("choices", kind.choices)
            if kind.name == "list":
                conv = _checked(kind, meta, _list_converter(kind))
                # A string default goes through the converter too: help shows "1,2,3".
                arg_default = default if default is None else _fmt_list(default)
                if choices is not None:
                    help_ = f"{help_} (from: {', '.join(map(str, choices))})".strip()
            else:
                assert kind.convert is not None
                conv = _checked(kind, meta, kind.convert)
                arg_default = default
                if choices is not None:
                    kw["choices"] = (*choices, None) if kind.optional else tuple(choices)
            kw.update(type=conv, default=arg_default, help=_with_default(help_, arg_default))
            parser.add_argument(flag, **kw)
        record[path] = f.name
        result[path] = flag
    parser.set_defaults(**{_RECORD: record})
    return result


def build(config: Any, namespace: argparse.Namespace, **given: Any) -> Any:
    """The dataclass ``config`` (a class, or an instance giving the defaults) from the options
    :func:`add_options` added; ``given`` sets top-level fields directly. Validation runs in
    the configs' ``__post_init__``."""
    record = getattr(namespace, _RECORD, None)
    return _build(config, namespace, record, given, "")


def _build(
    config: Any,
    ns: argparse.Namespace,
    record: Mapping[str, str] | None,
    given: Mapping[str, Any],
    prefix: str,
) -> Any:
    cls = config if isinstance(config, type) else type(config)
    hints = _hints(cls)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        path = prefix + f.name
        if f.name in given:
            kw[f.name] = given[f.name]
            continue
        default = _default(f, config)
        hint = hints.get(f.name)
        if dataclasses.is_dataclass(default) or (
            isinstance(hint, type) and dataclasses.is_dataclass(hint)
        ):
            inner = hint if default is dataclasses.MISSING else default
            kw[f.name] = _build(inner, ns, record, {}, path + ".")
            continue
        dest = record.get(path) if record is not None else f.name
        if dest is not None and hasattr(ns, dest):
            kw[f.name] = getattr(ns, dest)
        elif default is not dataclasses.MISSING:
            kw[f.name] = default
    return cls(**kw)
