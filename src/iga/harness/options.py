"""Parsing of the list options every benchmark declaration shares (``--archs``, ``--seeds``),
with one-line errors naming the flag."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "AT_LR_HELP",
    "METHOD_LABELS",
    "METHOD_RECIPES",
    "Recipe",
    "choices",
    "fresh_archs",
    "no_fresh",
    "recipe",
    "recipe_model",
    "recipe_train",
    "recipes",
    "seeds",
    "split",
    "tier_file",
    "tier_with_steps",
]


class Recipe(NamedTuple):
    """A benchmark's ``--methods`` value: the ``--method``, ``--optimizer`` and ``--schedule``
    it trains with, its own ``--decay`` where it sets one (None: the tier's), and whether
    FreSh chooses the embedding frequency first (``--fresh auto``)."""

    method: str
    optimizer: str
    schedule: str
    decay: float | None = None
    fresh: bool = False


METHOD_RECIPES: dict[str, Recipe] = {
    "vanilla": Recipe("vanilla", "adam", "step"),
    "fr": Recipe("fr", "adam", "step"),
    "bn": Recipe("bn", "adam", "step"),
    "iga": Recipe("iga", "adam", "step"),
    "muon": Recipe("vanilla", "muon", "cosine"),
    "muon+iga": Recipe("iga", "muon", "cosine"),
    "esgd": Recipe("vanilla", "esgd", "step", decay=1.0),
    "esgd+iga": Recipe("iga", "esgd", "step", decay=1.0),
    "fresh": Recipe("vanilla", "adam", "step", fresh=True),
    "fresh+iga": Recipe("iga", "adam", "step", fresh=True),
}
"""A benchmark's ``--methods`` value -> its :class:`Recipe`: the paper's methods with Adam and
its step decay; Muon on the hidden matrices with a cosine schedule, and ESGD at a constant lr
(the authors' image runs), FreSh's choice of the embedding frequency with Adam, each alone
and with IGA (the recipes of ``iga bench rivals``), shared by the audio, SDF, CT, inpainting
and super-resolution benchmarks (FreSh where the task can see its signal: audio, SDF,
super-resolution). A value may add
``@LR`` (:func:`recipe`). ESGD + IGA wants a higher lr than ESGD (``iga bench rivals`` chose
0.3–1 on images): give it one, e.g. ``esgd+iga@1``."""


AT_LR_HELP = "; each may take its own lr, e.g. muon@0.01 (else the task's lr for the recipe)"
"""The ``--methods`` help's note on ``@LR``."""


class _RecipeLabels(dict):  # type: ignore[type-arg]
    """Labels that also name a recipe run at its own lr: ``muon@0.01`` -> ``Muon (lr 0.01)``."""

    def get(self, key: Any, default: Any = None) -> Any:
        if isinstance(key, str) and "@" in key:
            base, lr = key.split("@", 1)
            return f"{super().get(base, base)} (lr {lr})"
        return super().get(key, default)


METHOD_LABELS = _RecipeLabels(
    {
        "vanilla": "Vanilla",
        "fr": "+FR",
        "bn": "+BN",
        "iga": "+IGA",
        "muon": "Muon",
        "muon+iga": "Muon + IGA",
        "esgd": "ESGD",
        "esgd+iga": "ESGD + IGA",
        "fresh": "FreSh",
        "fresh+iga": "FreSh + IGA",
    }
)
"""The table labels of :data:`METHOD_RECIPES` (``muon@0.01``: ``Muon (lr 0.01)``)."""


def split(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [t.strip() for t in text.split(",") if t.strip()]


def _once(flag: str, values: Sequence[object]) -> None:
    twice = sorted({str(v) for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"{flag} lists {', '.join(twice)} more than once; give each value once")


def choices(flag: str, text: str, known: Sequence[str]) -> list[str]:
    """The comma-separated values of ``flag``, each one of ``known`` (at least one, each once)."""
    values = split(text)
    if not values or any(v not in known for v in values):
        raise ValueError(f"{flag} must list some of {', '.join(known)}; got {text!r}")
    _once(flag, values)
    return values


def recipe(name: str) -> tuple[str, str, str, float | None]:
    """``(--method, --optimizer, --schedule, --lr)`` of a ``--methods`` value: a key of
    :data:`METHOD_RECIPES`, optionally with ``@LR`` to run it at that lr instead of the task's
    default for the recipe and arch (``muon@0.01``); the lr is None without it."""
    r, lr = _parse(name)
    return r.method, r.optimizer, r.schedule, lr


def _parse(name: str) -> tuple[Recipe, float | None]:
    """A ``--methods`` value -> its :class:`Recipe` and its ``@LR`` (None without one)."""
    base, _, lr = name.partition("@")
    return METHOD_RECIPES[base], float(lr) if lr else None


def recipe_train(name: str, train: Any, seed: int) -> tuple[str, Any]:
    """``(--method, training config)`` of a ``--methods`` value: the tier's ``train`` at
    ``seed`` with the recipe's optimiser, schedule, decay and lr (the tier's lr and decay where
    the recipe names none, so the plain recipes keep the keys of their committed runs)."""
    from dataclasses import replace

    r, lr = _parse(name)
    return r.method, replace(
        train,
        seed=seed,
        optimizer=r.optimizer,
        schedule=r.schedule,
        lr=lr or train.lr,
        decay=train.decay if r.decay is None else r.decay,
    )


def recipe_model(name: str, model: Any) -> Any:
    """The model config ``model`` for a ``--methods`` value: ``--fresh auto`` for the FreSh
    recipes, ``model`` itself for the others (so their runs keep their keys)."""
    from dataclasses import replace

    return replace(model, fresh="auto") if _parse(name)[0].fresh else model


def no_fresh(methods: Sequence[str], why: str) -> None:
    """One line before any run when ``methods`` lists a FreSh recipe where it cannot work."""
    listed = [m for m in methods if _parse(m)[0].fresh]
    if listed:
        raise ValueError(f"--methods {', '.join(listed)}: FreSh {why}; leave them out")


def fresh_archs(methods: Sequence[str], archs: Sequence[str]) -> None:
    """One line before any run when ``methods`` lists a FreSh recipe and ``archs`` an arch
    without an embedding frequency for FreSh to choose."""
    from iga.models.fresh import FRESH_PARAMS

    listed = [m for m in methods if _parse(m)[0].fresh]
    lacking = [a for a in archs if a not in FRESH_PARAMS]
    if listed and lacking:
        raise ValueError(
            f"--methods {', '.join(listed)}: FreSh chooses an embedding frequency, which "
            f"--archs {', '.join(lacking)} lacks; pass --archs among {', '.join(FRESH_PARAMS)}"
        )


def recipes(text: str, flag: str = "--methods") -> list[str]:
    """The comma-separated ``--methods`` of a benchmark declared on :data:`METHOD_RECIPES`:
    each a recipe, optionally ``@LR`` (a positive number, written back as ``{:g}`` so that
    ``muon@1e-2`` and ``muon@0.010`` name the same run, ``muon@0.01``), at least one, each
    once."""
    import math

    values = []
    for v in split(text) or [""]:
        base, at, lr = v.partition("@")
        if base not in METHOD_RECIPES:
            raise ValueError(
                f"{flag} must list some of {', '.join(METHOD_RECIPES)} (each may take its own "
                f"lr, e.g. muon@0.01); got {text!r}"
            )
        try:
            rate = float(lr) if at else 1.0
        except ValueError:
            rate = math.nan
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"{flag}: {v!r} needs a positive lr after '@', e.g. {base}@0.01")
        values.append(f"{base}@{rate:g}" if at else base)
    _once(flag, values)
    return values


def tier_with_steps(tiers: Mapping[str, Any], name: str, steps: int) -> tuple[str, Any]:
    """``(tier name, tier config)`` of ``--tier name``, with ``--steps`` (when not 0) replacing
    the tier's steps and tagged into the name (``cpu_steps4``) so a shortened run never mixes
    with the tier's own results."""
    from dataclasses import replace

    if name not in tiers:
        raise ValueError(f"unknown --tier {name!r}; choose one of {', '.join(tiers)}")
    cfg = tiers[name]
    cfg = replace(cfg, train=replace(cfg.train, steps=steps or cfg.train.steps))
    return name + (f"_steps{steps}" if steps else ""), cfg


def seeds(text: str, flag: str = "--seeds") -> list[int]:
    """Comma-separated integers >= 0 (at least one, each once)."""
    try:
        values = [int(s) for s in split(text)]
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated integers; got {text!r}") from None
    if not values or min(values) < 0:
        raise ValueError(f"{flag} needs integers >= 0; got {text!r}")
    _once(flag, values)
    return values


def tier_file(path: str | Path, fields: Mapping[str, type]) -> dict[str, Any]:
    """The settings of a ``--tier FILE``: a JSON object whose keys are among ``fields`` (name
    -> int, float or str), each value of its type (an int is a float too; a bool is neither);
    one line naming the file and the key for anything else."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--tier {p}: cannot read it ({e}); pass a JSON tier file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--tier {p} is not valid JSON ({e}); fix the file") from None
    if not isinstance(data, dict):
        raise ValueError(f'--tier {p} must hold a JSON object such as {{"steps": 500}}')
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"--tier {p}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(fields)}"
        )
    for key, value in data.items():
        kind = fields[key]
        ok = not isinstance(value, bool) and (
            isinstance(value, kind) or (kind is float and isinstance(value, int))
        )
        if not ok or (kind is str and not value.strip()):
            what = {int: "a whole number", float: "a number", str: "a non-empty string"}[kind]
            raise ValueError(f"--tier {p}: {key} must be {what}; got {value!r}")
        if kind in (int, float) and value <= 0:
            raise ValueError(f"--tier {p}: {key} must be > 0; got {value!r}")
    return data
