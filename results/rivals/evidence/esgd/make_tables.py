# ruff: noqa: E501
"""Markdown tables for EVIDENCE.md from results/*.json (python make_tables.py > tables.md)."""

import json
from pathlib import Path

R = Path(__file__).resolve().parent / "results"
d = json.loads((R / "part1.json").read_text())
print(
    '### T1. Exactness: authors\' ESGD vs iga ESGD (bias_correction="steps"), max |Δθ| over all parameters after step t\n'
)
steps = ["1", "50", "51", "150", "400"]
print(
    "| case | params | Rademacher tensors drawn (authors / iga), all identical | curvature steps identical | t=1 | t=50 | t=51 | t=150 | t=400 | max over all 400 steps | max \\|Δgrad\\| over all steps |"
)
print("|---|---|---|---|---|---|---|---|---|---|---|")
for k, v in d.items():
    print(
        f"| {k} | {v['n_params']} | {v['vectors_drawn_theirs']} / {v['vectors_drawn_iga']}, {v['vectors_identical']} | {v['curvature_flags_identical']} | "
        + " | ".join(f"{v['dtheta_at'][s]:g}" for s in steps)
        + f" | {v['dtheta_max_all']:g} | {v['dgrad_max_all']:g} |"
    )
cs = d["siren_w32_float32"]["curvature_steps"]
print(
    f"\nCurvature (Hv) steps, the same in every case and for both codes: t = {cs[0]}..{cs[49]}, {', '.join(map(str, cs[50:]))} ({len(cs)} refreshes x 8 parameter tensors = {len(cs) * 8} Rademacher tensors).\n"
)
print('### T2. Full-batch MSE before step t: authors / iga "steps" / iga "updates"\n')
ls = ["1", "2", "50", "51", "52", "100", "150", "250", "400"]
print("| case | " + " | ".join("t=" + s for s in ls) + " |")
print("|---|" + "---|" * len(ls))
for k, v in d.items():
    for i, lab in enumerate(["authors", "iga steps", "iga updates"]):
        print(f"| {k} {lab} | " + " | ".join(f"{v['loss_at'][s][i]:.6g}" for s in ls) + " |")
print("\nMSE before step 400, all digits:\n")
print('| case | authors | iga "steps" | iga "updates" |\n|---|---|---|---|')
for k, v in d.items():
    f = v["final_loss"]
    print(f"| {k} | {f['theirs']!r} | {f['iga']!r} | {f['iga_updates']!r} |")
print('\n### T3. iga bias_correction="updates" vs the authors: max |Δθ| after step t\n')
ts = ["1", "50", "51", "52", "100", "150", "250", "400"]
print("| case | first step with Δθ≠0 | " + " | ".join("t=" + s for s in ts) + " |")
print("|---|---|" + "---|" * len(ts))
for k, v in d.items():
    print(
        f"| {k} | {v['first_step_updates_differs']} | "
        + " | ".join(f"{v['dtheta_updates_at'][s]:.3g}" for s in ts)
        + " |"
    )
print(
    '\n### T4. Same-state probe: ("steps" update) / ("updates" update) at step t, u = D updates so far\n'
)
print(
    "formula = sqrt((1-β2^t)/(1-β2^u)). max/median elem: element-wise |Δθ_steps|/|Δθ_updates| over elements whose update exceeds 1e3 ulp of the parameter; without eps every element would equal the formula, eps pulls elements with √D̂ ≲ eps towards 1. norm = ‖Δθ_steps‖/‖Δθ_updates‖.\n"
)
for k in ["siren_w64_float64", "siren_w64_float32", "pe_w32_float64"]:
    v = d[k]
    print(f"**{k}**\n")
    print("| t | u | formula | max elem | median elem | norm ratio |\n|---|---|---|---|---|---|")
    for p in v["probes"]:
        print(
            f"| {p['t']} | {p['u']} | {p['formula']:.5f} | {p['elem_ratio_max']:.5f} | {p['elem_ratio_median']:.5f} | {p['norm_ratio']:.5f} |"
        )
    print()
a = json.loads((R / "part2a.json").read_text())
r = a["runs"]
print(
    "### T5. Authors' train.py (img_siren_stochastic, their ESGD recipe, seed 0): evaluate PSNR (dB, whole 256×256 image) after each epoch (128 mini-batch steps)\n"
)
print("| run \\ epoch | " + " | ".join(r["theirs_esgd"]["psnr"].keys()) + " |")
print("|---|" + "---|" * len(r["theirs_esgd"]["psnr"]))
for tag in r:
    print(f"| {tag} | " + " | ".join(f"{x:.4f}" for x in r[tag]["psnr"].values()) + " |")
print()
for k, v in a.items():
    if k.startswith("final_weights"):
        print(
            f"- {k.replace('final_weights_max_abs_diff_', 'max |Δθ| of the final weights, authors vs ')}: {v}"
        )
c = json.loads((R / "part2c.json").read_text())
print(
    f"\n### T5b. Other seeds, {c['epochs']} epochs: authors' ESGD vs iga ESGD with its own generator (evaluate PSNR, dB)\n"
)
print("| run \\ epoch | " + " | ".join(str(i) for i in range(1, c["epochs"] + 1)) + " |")
print("|---|" + "---|" * c["epochs"])
for tag, v in c["runs"].items():
    print(f"| {tag} | " + " | ".join(f"{x:.2f}" for x in v["psnr"].values()) + " |")
b = json.loads((R / "part2b.json").read_text())
print(
    "\n### T6. iga fit image (full batch: all 65,536 pixels every step): PSNR (dB, iga's, clipped prediction) before step t\n"
)
print("| step | " + " | ".join(b["psnr_at_step"].keys()) + " | final |")
print("|---|" + "---|" * (len(b["psnr_at_step"]) + 1))
print(
    "| iga esgd | "
    + " | ".join(f"{x:.2f}" for x in b["psnr_at_step"].values())
    + f" | {b['psnr_final']:.2f} |"
)
