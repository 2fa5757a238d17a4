# ruff: noqa: E501
"""Offline stand-in for `wandb` (CPU/offline patch for the Muon-INRs reference code).

Records what the reference script logs, nothing else: scalar values go to
$WANDB_STUB_DIR/log.jsonl (one line per wandb.log call); the numpy arrays logged as
'images/reconstruction' / 'images/final_reconstruction' (the clipped prediction, np.clip(pred, 0, 1))
are saved as .npy so the clamped PSNR can be recomputed. Figures and plots are dropped.
"""

import json
import os

import numpy as np

_DIR = os.environ.get("WANDB_STUB_DIR", ".")
_n = 0


class _Config(dict):
    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(key) from exc

    def update(self, d, allow_val_change=False):  # noqa: ARG002 - same signature as wandb
        dict.update(self, d)


config = _Config()


class Image:
    def __init__(self, data, caption=None, **kw):
        self.data = data if isinstance(data, np.ndarray) else None
        self.caption = caption


def init(project=None, config=None, **kw):
    os.makedirs(_DIR, exist_ok=True)
    globals()["config"].update(dict(config or {}))
    with open(os.path.join(_DIR, "config.json"), "w") as f:
        json.dump(dict(globals()["config"]), f, default=str, indent=1)


def log(d, **kw):
    global _n
    _n += 1
    row = {"_call": _n}
    for k, v in d.items():
        if isinstance(v, Image):
            if v.data is not None and k in ("images/reconstruction", "images/final_reconstruction"):
                tag = "final" if k.endswith("final_reconstruction") else f"epoch{d.get('epoch')}"
                np.save(os.path.join(_DIR, f"recon_{tag}.npy"), v.data)
            continue
        if isinstance(v, (int, float, str, bool)) or v is None:
            row[k] = v
        elif isinstance(v, np.generic):
            row[k] = v.item()
    with open(os.path.join(_DIR, "log.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")


def finish(**kw):
    pass
