"""Parameter-free building blocks of the INR zoo: activations and the positional encoding.

Every module here is deliberately free of ``nn.Parameter``: constants are plain Python floats
or registered buffers. The fast eNTK path treats the parameters of an :class:`~iga.models.INR`
as "the weights of its ``nn.Linear`` layers" and nothing else, so a trainable constant hidden in
an activation would silently fall outside the kernel.

All modules act elementwise (or per row, for the encoding) on the last dimension, so they accept
any leading batch shape, including none at all -- which is what ``torch.func.vmap`` hands a
module when it maps over samples one row at a time.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "Finer",
    "Gaussian",
    "Hadamard",
    "PositionalEncoding",
    "RealGabor",
    "Sine",
    "SphericalNorm",
]


class Sine(nn.Module):
    """SIREN activation ``sin(omega0 * z)`` (Sitzmann et al., 2020).

    ``omega0`` stays in the activation rather than being folded into the preceding weights:
    folding changes the parameterisation, hence the gradient geometry and the eNTK.
    """

    def __init__(self, omega0: float = 30.0) -> None:
        super().__init__()
        self.omega0 = float(omega0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Apply ``sin(omega0 * z)`` elementwise."""
        return torch.sin(self.omega0 * z)

    def extra_repr(self) -> str:
        return f"omega0={self.omega0:g}"


class Finer(nn.Module):
    """FINER variable-periodic activation ``sin(omega0 * (|z| + 1) * z)`` (Liu et al., CVPR 2024).

    The ``|z| + 1`` factor makes the local frequency grow with ``|z|``, so the pre-activation
    magnitude (set largely by the first-layer bias) selects which frequencies a neuron can
    express. Gradients flow through ``|z|`` as well; no stop-gradient is applied.
    """

    def __init__(self, omega0: float = 30.0) -> None:
        super().__init__()
        self.omega0 = float(omega0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Apply ``sin(omega0 * (|z| + 1) * z)`` elementwise."""
        return torch.sin(self.omega0 * (torch.abs(z) + 1.0) * z)

    def extra_repr(self) -> str:
        return f"omega0={self.omega0:g}"


class RealGabor(nn.Module):
    """Real Gabor wavelet activation ``cos(omega0 * z) * exp(-(scale0 * z)**2)``.

    The original WIRE (Saragadam et al., CVPR 2023) uses the *complex* Gabor wavelet
    ``exp(1j * omega0 * z) * exp(-|scale0 * z|**2)`` together with complex-valued weights.
    This is the real-valued variant used in the FINER and IGA comparisons: it keeps every
    layer a real ``nn.Linear``, which the eNTK machinery (and real-valued outputs) rely on.
    """

    def __init__(self, omega0: float = 20.0, scale0: float = 10.0) -> None:
        super().__init__()
        self.omega0 = float(omega0)
        self.scale0 = float(scale0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Apply ``cos(omega0 * z) * exp(-(scale0 * z)**2)`` elementwise."""
        return torch.cos(self.omega0 * z) * torch.exp(-((self.scale0 * z) ** 2))

    def extra_repr(self) -> str:
        return f"omega0={self.omega0:g}, scale0={self.scale0:g}"


class Gaussian(nn.Module):
    """Gaussian activation ``exp(-(scale * z)**2)`` (Ramasinghe & Lucey, ECCV 2022)."""

    def __init__(self, scale: float = 10.0) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Apply ``exp(-(scale * z)**2)`` elementwise."""
        return torch.exp(-((self.scale * z) ** 2))

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


class PositionalEncoding(nn.Module):
    """NeRF positional encoding ``[x, sin(2^0 pi x), cos(2^0 pi x), ..., cos(2^(L-1) pi x)]``.

    For an input of width ``d`` the output has width ``d * (1 + 2 L)``. The layout is the
    NeRF one: the raw input first, then for each level ``i`` a block ``sin(2^i pi x)`` (``d``
    values) followed by ``cos(2^i pi x)`` (``d`` values).

    The frequencies ``2^i * pi`` are a buffer (not a parameter) so they follow ``.to(...)``
    and dtype changes without ever becoming trainable.
    """

    freqs: torch.Tensor

    def __init__(self, in_features: int, levels: int = 6) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.levels = int(levels)
        self.out_features = self.in_features * (1 + 2 * self.levels)
        freqs = (2.0 ** torch.arange(self.levels, dtype=torch.float64)) * math.pi
        self.register_buffer("freqs", freqs.to(torch.get_default_dtype()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``x`` of shape ``[..., in_features]`` to ``[..., out_features]``."""
        if self.levels == 0:
            return x
        # [..., L, d]: one row of scaled coordinates per frequency level.
        scaled = x.unsqueeze(-2) * self.freqs.to(x.dtype).unsqueeze(-1)
        # [..., L, 2, d] -> [..., 2 L d], giving sin/cos blocks interleaved per level.
        trig = torch.stack((torch.sin(scaled), torch.cos(scaled)), dim=-2).flatten(-3)
        return torch.cat((x, trig), dim=-1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, levels={self.levels}, "
            f"out_features={self.out_features}"
        )


class SphericalNorm(nn.Module):
    """Project each row of hidden features onto the sphere of radius ``sqrt(m)``:
    ``h ← sqrt(m) h / max(‖h‖₂, eps)`` over the last dimension (``m`` features).

    The radius ``sqrt(m)`` keeps the root-mean-square feature at 1, the scale the next layer's
    default initialisation expects, so only the direction of ``h`` changes, not the overall
    scale of the network. Row-wise, so ``f(x)[i] == f(x[i])`` still holds.
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(h, dim=-1, keepdim=True).clamp_min(self.eps)
        return h * (math.sqrt(h.shape[-1]) / norm)

    def extra_repr(self) -> str:
        return f"radius=sqrt(features), eps={self.eps:g}"


class Hadamard(nn.Module):
    """Hadamard (multiplicative) modulation: ``act(z[..., :m]) * act(z[..., m:])``.

    The preceding linear layer outputs ``2 m`` features; the activation of one half modulates
    the other elementwise, so the layer computes the product of two feature maps of the same
    input (as in multiplicative filter networks, Fathony et al., ICLR 2021) and outputs ``m``.
    """

    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.activation = activation

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a, b = z.chunk(2, dim=-1)
        return self.activation(a) * self.activation(b)
