"""Int8 inference whose answer for a text never depends on the rest of the batch.

PyTorch's dynamic quantisation (``quantize_dynamic``) gives each ``Linear`` input one int8
scale for the whole tensor: the largest activation of *any* text in the batch (or of its padding)
sets the rounding step of every other text, so the same headline scored alone or beside others
came out up to 0.5 apart. Here each ``Linear`` becomes a :class:`RowInt8Linear`:

- weights: int8, one scale per output channel, fixed at load time;
- activations: int8, one scale per row (per token), from that row alone;
- products: ``torch._int_mm`` (int8 x int8 -> int32, exact), rescaled per row and channel.

Every step of a row depends on that row only, and max, rounding and integer sums are exact, so
a token's output is bit-for-bit the same in any batch. Per-token scales are also finer than one
scale per tensor, which is why this variant is at least as accurate as ``quantize_dynamic``.
The float parts between the linear layers (attention over padded keys) still round differently
with the padded width; ``classifier.py`` removes that by batching texts of equal token length.
"""

from __future__ import annotations

import copy

import torch

QMAX = 127


class RowInt8Linear(torch.nn.Module):
    """A ``Linear`` with int8 weights (per output channel) and per-row int8 activations."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float().cpu()
        scale = weight.abs().amax(1).clamp(min=1e-12) / QMAX
        quantized = (weight / scale[:, None]).round().clamp(-QMAX, QMAX).to(torch.int8)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        # (in, out) view of the (out, in) int8 matrix: the layout torch._int_mm reads fastest.
        self.register_buffer("weight_t", quantized.t())
        self.register_buffer("weight_scale", scale)
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float().cpu())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        scale = rows.abs().amax(1, keepdim=True).clamp(min=1e-12) / QMAX
        q = (rows / scale).round_().to(torch.int8)  # |rows / scale| <= 127 by construction
        out = torch._int_mm(q, self.weight_t).float().mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per row"


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` on the CPU with every ``Linear`` replaced by a :class:`RowInt8Linear`.

    Weights are quantised from the float checkpoint at load time (well under a second), so only
    the float weights are ever stored. ``model`` itself is left as it is (training saves it).
    """
    model = copy.deepcopy(model).to("cpu")
    _replace_linears(model)
    return model


def _replace_linears(module: torch.nn.Module) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, RowInt8Linear(child))
        else:
            _replace_linears(child)
