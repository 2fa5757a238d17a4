"""Numbers published in the IGA paper (Shi et al., ICML 2025), for the reports to compare with."""

from __future__ import annotations

TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "psnr": {
        "relu": {"vanilla": 21.78, "fr": 22.14, "bn": 22.55, "iga": 23.00},
        "pe": {"vanilla": 28.64, "fr": 29.74, "bn": 31.65, "iga": 32.46},
        "siren": {"vanilla": 32.65, "fr": 32.61, "bn": 32.35, "iga": 33.48},
    },
    "ssim": {
        "relu": {"vanilla": 0.483, "fr": 0.492, "bn": 0.505, "iga": 0.513},
        "pe": {"vanilla": 0.783, "fr": 0.817, "bn": 0.870, "iga": 0.882},
        "siren": {"vanilla": 0.898, "fr": 0.899, "bn": 0.894, "iga": 0.912},
    },
    "lpips": {
        "relu": {"vanilla": 0.630, "fr": 0.631, "bn": 0.595, "iga": 0.555},
        "pe": {"vanilla": 0.222, "fr": 0.187, "bn": 0.114, "iga": 0.090},
        "siren": {"vanilla": 0.081, "fr": 0.081, "bn": 0.102, "iga": 0.067},
    },
}
"""Table 1: averages over Kodak 1-8 at 768×512, width 256, 10000 steps."""

TABLE6_PSNR: dict[str, dict[str, list[float]]] = {
    "relu": {
        "vanilla": [19.78, 26.62, 25.88, 24.70, 17.70, 21.98, 21.52, 16.07],
        "fr": [19.96, 26.63, 26.53, 25.31, 18.05, 22.03, 22.13, 16.52],
        "bn": [20.21, 27.24, 27.24, 25.52, 18.55, 22.26, 22.66, 16.75],
        "iga": [20.42, 27.71, 28.20, 26.17, 18.81, 22.69, 22.96, 16.99],
    },
    "pe": {
        "vanilla": [26.07, 32.51, 32.80, 31.37, 24.60, 27.28, 31.74, 22.79],
        "fr": [26.95, 32.23, 33.92, 32.14, 26.63, 28.49, 32.71, 24.85],
        "bn": [29.22, 35.03, 35.67, 33.96, 27.42, 30.03, 35.54, 26.36],
        "iga": [29.17, 35.18, 37.91, 35.07, 28.06, 31.27, 36.60, 26.41],
    },
    "siren": {
        "vanilla": [29.61, 35.19, 36.31, 35.10, 29.74, 31.01, 36.73, 27.50],
        "fr": [30.00, 34.73, 36.95, 34.87, 29.72, 30.79, 36.31, 27.52],
        "bn": [29.11, 34.75, 36.86, 34.74, 29.33, 30.41, 36.53, 27.08],
        "iga": [30.10, 35.85, 38.60, 35.80, 30.13, 31.94, 37.68, 27.73],
    },
}
"""Appendix D, Table 6: per-image best PSNR, Kodak 1-8 (index 0 = kodim01)."""


def table6_by_image() -> dict[tuple[str, str, str], float]:
    """Table 6 keyed ``(arch, method, "kodimNN")``, as :class:`iga.harness.Reference` takes."""
    return {
        (arch, method, f"kodim{i + 1:02d}"): value
        for arch, methods in TABLE6_PSNR.items()
        for method, values in methods.items()
        for i, value in enumerate(values)
    }


TABLE9_IOU: dict[str, dict[str, dict[str, float]]] = {
    # shape -> arch -> method; "bunny" is the paper's "Bun", "armadillo" its "Armadillo".
    "thai": {
        "relu": {"vanilla": 0.9379, "fr": 0.9428, "bn": 0.9260, "iga": 0.9563},
        "pe": {"vanilla": 0.9897, "fr": 0.9929, "bn": 0.9912, "iga": 0.9943},
        "siren": {"vanilla": 0.9786, "fr": 0.9731, "bn": 0.9788, "iga": 0.9802},
    },
    "armadillo": {
        "relu": {"vanilla": 0.9756, "fr": 0.9756, "bn": 0.9677, "iga": 0.9805},
        "pe": {"vanilla": 0.9956, "fr": 0.9979, "bn": 0.9960, "iga": 0.9979},
        "siren": {"vanilla": 0.9908, "fr": 0.9935, "bn": 0.9931, "iga": 0.9920},
    },
    "dragon": {
        "relu": {"vanilla": 0.9708, "fr": 0.9707, "bn": 0.9612, "iga": 0.9793},
        "pe": {"vanilla": 0.9953, "fr": 0.9964, "bn": 0.9941, "iga": 0.9975},
        "siren": {"vanilla": 0.9937, "fr": 0.9905, "bn": 0.9612, "iga": 0.9938},
    },
    "bunny": {
        "relu": {"vanilla": 0.9924, "fr": 0.9914, "bn": 0.9873, "iga": 0.9931},
        "pe": {"vanilla": 0.9985, "fr": 0.9990, "bn": 0.9987, "iga": 0.9990},
        "siren": {"vanilla": 0.9953, "fr": 0.9972, "bn": 0.9970, "iga": 0.9958},
    },
    "lucy": {
        "relu": {"vanilla": 0.9467, "fr": 0.9465, "bn": 0.9286, "iga": 0.9571},
        "pe": {"vanilla": 0.9920, "fr": 0.9945, "bn": 0.9892, "iga": 0.9961},
        "siren": {"vanilla": 0.9862, "fr": 0.9785, "bn": 0.9823, "iga": 0.9868},
    },
}
"""Table 9 (Appendix E): IoU per shape at 512³, width 256, 200 epochs. Table 2 is its average
over the five shapes (its PE+FR entry is printed as 9.961e-2, a typo for 9.961e-1)."""


TABLE4_PSNR: dict[str, dict[str, float]] = {
    "relu": {"vanilla": 24.09, "iga": 25.44, "iga-rsi": 25.52, "iga-ri": 25.19},
    "pe": {"vanilla": 30.46, "iga": 34.09, "iga-rsi": 33.77, "iga-ri": 34.05},
    "siren": {"vanilla": 33.70, "iga": 34.85, "iga-rsi": 33.76, "iga-ri": 33.69},
}
"""Appendix B.1, Table 4: best PSNR averaged over kodim01-03 by IGA's representative per
patch: largest residual each step (SLR, our ``iga``), random once at the start (RSI,
``iga-rsi``), random each step (RI, ``iga-ri``); 768×512, width 256, 32×32 patches."""

TABLE5: dict[str, dict[str, float]] = {
    "16": {"relu": 25.49, "pe": 34.25, "siren": 34.87, "delta_avg": 2.12, "ms": 256.51},
    "32": {"relu": 25.44, "pe": 34.09, "siren": 34.85, "delta_avg": 2.04, "ms": 56.33},
    "64": {"relu": 25.19, "pe": 32.54, "siren": 34.10, "delta_avg": 1.19, "ms": 39.76},
    "128": {"relu": 25.06, "pe": 32.08, "siren": 33.75, "delta_avg": 0.88, "ms": 39.61},
    "vanilla": {"relu": 24.09, "pe": 30.46, "siren": 33.70, "ms": 30.00},
}
"""Appendix B.2, Table 5: IGA's patch side p (p×p pixels per group at 768×512) against the
best PSNR averaged over kodim01-03 per arch, Δavg (the mean gain over the three archs) and
the time per step (ms, their GPU)."""

TABLE3: dict[str, dict[str, float]] = {
    "psnr": {"vanilla": 31.23, "fr": 31.35, "bn": 31.37, "iga": 31.47},
    "ssim": {"vanilla": 0.953, "fr": 0.954, "bn": 0.956, "iga": 0.955},
    "lpips": {"vanilla": 0.029, "fr": 0.028, "bn": 0.050, "iga": 0.027},
}
"""Table 3: NeRF (nerf-pytorch defaults) on the eight Blender scenes at 400×400, averages;
BN's values are quoted from Cai et al. 2024; LPIPS (AlexNet) except BN's."""

TABLE10_LEGO: dict[str, dict[str, float]] = {
    "psnr": {"vanilla": 31.53, "fr": 31.55, "iga": 31.83},
    "lpips": {"vanilla": 0.019, "fr": 0.019, "iga": 0.017},
}
"""Table 10 (per scene), the lego column (the only Blender scene bundled here). Its SSIM row is
garbled in the text we have (a value is missing), so it is left out."""
