"""iga.cli.configcli: dataclass configs <-> argparse options, and the real parsers built with it."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from iga.cli import configcli, main


@dataclass
class Inner:
    kind: Literal["a", "b"] = field(default="a", metadata={"help": "which kind"})
    sizes: list[int] = field(default_factory=lambda: [1, 2], metadata={"help": "sizes"})
    pair: tuple[float, float] = field(default=(0.5, 1.5), metadata={"help": "lo,hi"})
    scale: float | None = field(default=None, metadata={"help": "optional factor"})
    opts: dict[str, Any] = field(default_factory=dict, metadata={"help": "extra options"})
    mode: Literal["x", "y"] | None = field(default=None, metadata={"help": "optional choice"})


@dataclass
class Outer:
    name: str = field(default="x", metadata={"help": "a name"})
    steps: int = field(default=3, metadata={"help": "how many steps", "min": 1})
    verbose: bool = field(default=False, metadata={"help": "talk"})
    strict: bool = field(default=True, metadata={"help": "be strict"})
    inner: Inner = field(default_factory=Inner)
    tags: tuple[str, ...] = field(default=("p", "q"), metadata={"help": "tags"})

    def __post_init__(self) -> None:
        if self.name == "bad":
            raise ValueError("--name must not be 'bad'")


def _parser(config: Any = Outer, **kw: Any) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", exit_on_error=False)
    configcli.add_options(p, config, **kw)
    return p


def test_defaults_round_trip() -> None:
    assert configcli.build(Outer, _parser().parse_args([])) == Outer()


def test_round_trip_of_a_nested_config() -> None:
    argv = ["--name", "run", "--steps", "7", "--verbose", "--no-strict", "--kind", "b"]
    argv += ["--sizes", "4,5,6", "--pair", "0.1,2", "--scale", "3", "--tags", "u,v,w"]
    argv += ["--opts", "k=3", "--opts", "f=0.5", "--opts", "b=true", "--opts", "s=hi"]
    argv += ["--opts", "n=none", "--mode", "y"]
    cfg = configcli.build(Outer, _parser().parse_args(argv))
    want = Outer(
        name="run",
        steps=7,
        verbose=True,
        strict=False,
        inner=Inner(
            kind="b",
            sizes=[4, 5, 6],
            pair=(0.1, 2.0),
            scale=3.0,
            opts={"k": 3, "f": 0.5, "b": True, "s": "hi", "n": None},
            mode="y",
        ),
        tags=("u", "v", "w"),
    )
    assert cfg == want
    assert isinstance(cfg.inner.pair, tuple) and isinstance(cfg.inner.sizes, list)
    assert configcli.build(Outer, _parser().parse_args(["--scale", "none"])).inner.scale is None


def test_dict_default_is_not_shared_between_parses() -> None:
    p = _parser()
    first = configcli.build(Outer, p.parse_args(["--opts", "a=1"]))
    second = configcli.build(Outer, p.parse_args([]))
    assert first.inner.opts == {"a": 1} and second.inner.opts == {}


def test_given_values_and_instance_defaults() -> None:
    base = Outer(steps=9, inner=Inner(sizes=[7]))
    p = _parser(base)
    assert "(default: 9)" in p.format_help() and "(default: 7)" in p.format_help()
    cfg = configcli.build(base, p.parse_args([]), name="given")
    assert cfg == Outer(name="given", steps=9, inner=Inner(sizes=[7]))
    with pytest.raises(ValueError, match="--name must not be 'bad'"):  # __post_init__ runs
        configcli.build(Outer, _parser().parse_args(["--name", "bad"]))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--kind", "c"], "argument --kind: invalid choice: 'c'"),
        (["--mode", "z"], "argument --mode: invalid choice: 'z'"),
        (["--steps", "0"], "argument --steps: must be >= 1; got 0"),
        (["--steps", "x"], "argument --steps: expected an integer; got 'x'"),
        (["--pair", "1,2,3"], "argument --pair: expected 2 comma-separated values"),
        (["--sizes", "1,a"], "argument --sizes: expected comma-separated values"),
        (["--opts", "novalue"], "argument --opts: expected KEY=VALUE; got 'novalue'"),
        (["--opts", "a=1", "--opts", "a=2"], "argument --opts: a is given twice"),
    ],
)
def test_bad_values_are_rejected_naming_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(argparse.ArgumentError) as e:
        _parser().parse_args(argv)
    assert str(e.value).startswith(message)


def test_check_and_choices_overrides() -> None:
    def even(v: int) -> None:
        if v % 2:
            raise ValueError(f"must be even; got {v}")

    p = _parser(overrides={"steps": {"check": even}, "name": {"choices": ("x", "y")}})
    assert configcli.build(Outer, p.parse_args(["--steps", "4", "--name", "y"])).steps == 4
    with pytest.raises(argparse.ArgumentError, match="argument --steps: must be even; got 3"):
        p.parse_args(["--steps", "3"])
    with pytest.raises(argparse.ArgumentError, match="argument --name: invalid choice"):
        p.parse_args(["--name", "z"])


@dataclass
class A:
    seed: int = 0
    width: int = 4


@dataclass
class B:
    seed: int = 1


@dataclass
class Both:
    a: A = field(default_factory=A)
    b: B = field(default_factory=B)


def test_name_clash_is_an_error_at_parser_build_time() -> None:
    with pytest.raises(ValueError, match=r"'a\.seed' and 'b\.seed' would both become --seed"):
        _parser(Both)
    # Resolved by skipping one of them by its dotted path: it keeps its default.
    p = _parser(Both, skip=("b.seed",))
    cfg = configcli.build(Both, p.parse_args(["--seed", "5", "--width", "2"]))
    assert cfg == Both(a=A(seed=5, width=2), b=B(seed=1))
    # A flag of its own is not enough: the dest (the field name) would still clash.
    with pytest.raises(ValueError, match="would both become"):
        _parser(Both, overrides={"b.seed": {"flag": "--b-seed"}})


def _option_blocks(help_text: str) -> dict[str, str]:
    """``--flag`` -> its whole help entry (argparse wraps entries over several lines)."""
    blocks: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        m = re.match(r"^  (-[-\w]+)", line)
        if m:
            current = m.group(1)
            blocks[current] = line
        elif current and line.startswith("     "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


def test_defaults_shown_once_in_the_test_config() -> None:
    blocks = _option_blocks(_parser().format_help())
    assert all(b.count("default:") <= 1 for b in blocks.values()), blocks
    for flag in ("--name", "--steps", "--kind", "--sizes", "--pair", "--tags"):
        assert blocks[flag].count("(default:") == 1, blocks[flag]
    assert "(default: 1,2)" in blocks["--sizes"] and "(default: 0.5,1.5)" in blocks["--pair"]
    assert "default" not in blocks["--scale"] and "default" not in blocks["--verbose"]
    assert "repeatable" in blocks["--opts"] and "which kind" in blocks["--kind"]


@pytest.mark.parametrize(
    "command, shown",
    [
        (["fit", "image"], ["--patch", "--width", "--end", "--steps", "--decay", "--out"]),
        (["fit", "function"], ["--freqs", "--points", "--width", "--lr", "--steps", "--end"]),
        (["bench", "overhead"], ["--archs", "--size", "--width", "--repeats"]),
    ],
)
def test_real_parsers_show_each_default_once(command: list[str], shown: list[str], capsys) -> None:
    assert main([*command, "--help"]) == 0
    blocks = _option_blocks(capsys.readouterr().out)
    assert len(blocks) > len(shown)
    for text in blocks.values():
        assert text.lower().count("default:") <= 1, text
    for flag in shown:
        assert blocks[flag].count("(default:") == 1, blocks[flag]


def test_fit_function_keeps_the_task_defaults(capsys) -> None:
    assert main(["fit", "function", "--help"]) == 0
    blocks = _option_blocks(capsys.readouterr().out)
    assert "(default: 5e-05)" in blocks["--lr"] and "(default: 10000)" in blocks["--steps"]
    assert "(default: 1.0)" in blocks["--decay-at"]  # never decays, unlike the image task
