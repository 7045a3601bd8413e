"""Where a file's bytes go beyond the model's estimated bits: one image, every term measured.

For one padded image and a codec whose entropy model is compressai's hyperprior latent codec
(rdpflex's ``msh``/``elic``-style codecs, imported zoo models such as ``mbt2018-mean``), the float
entropy path is run once with its entropy models observed, and the file size is decomposed as::

    file bytes = estimate of y + estimate of z                      (model: sum of -log2 likelihoods)
               + scale-table rounding of y   (Gaussian at the table scale compressai rounds up to,
                                              not the predicted scale)
               + CDF quantisation of y and z (16-bit integer CDFs, tail bins, escape-coded outliers)
               + rANS framing of each string (final state flush, 32-bit word alignment)
               + container                   (header, per-image record fields, length fields, CRCs)

Each term is a difference of exactly computed quantities (ideal code lengths under the
continuous and the quantised CDFs, the actual string lengths, the serialised file), so the terms
add up to the file size. The same symbols coded with a finer scale table (more levels between the
same bounds, real rANS strings) show what that lever would save.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from compressai.entropy_models import GaussianConditional
from torch import Tensor

from rdpflex.codecs.entropy_coder import FLOAT_NETWORKS, EntropyCoder, gaussian_bits

#: bits of the entropy coder's integer CDFs (compressai's ``entropy_coder_precision``)
PRECISION = 16
#: compressai's rANS escape coding: raw values in 4-bit chunks, a count in 4-bit symbols
BYPASS_BITS = 4


def coded_bits(model: Any, symbols: Tensor, indexes: Tensor) -> tuple[float, int]:
    """Ideal code length in bits of ``symbols`` under ``model``'s quantised CDFs, escapes included
    (compressai's ``encode_with_indexes``, symbol for symbol), and the number of escaped symbols."""
    cdf = model._quantized_cdf.long()
    length = model._cdf_length.long().reshape(-1)
    offset = model._offset.long().reshape(-1)
    idx = indexes.reshape(-1).long()
    v = symbols.reshape(-1).long() - offset[idx]
    max_value = length[idx] - 2
    escaped = (v < 0) | (v >= max_value)
    raw = torch.where(v < 0, -2 * v - 1, 2 * (v - max_value)).clamp_min(0)
    v = torch.where(escaped, max_value, v)
    freq = cdf[idx, v + 1] - cdf[idx, v]
    bits = float((PRECISION - torch.log2(freq.double())).sum())
    raw = raw[escaped].double()
    nbits = torch.where(raw > 0, torch.floor(torch.log2(raw.clamp_min(1))) + 1, torch.zeros_like(raw))
    chunks = torch.ceil(nbits / BYPASS_BITS)
    bits += float((BYPASS_BITS * (torch.floor(chunks / 15) + 1 + chunks)).sum())
    return bits, int(escaped.sum())


def observed(codec: Any, y: Tensor) -> list[dict[str, Any]]:
    """Every stream the float entropy path codes for ``y``: its model, inputs, CDF indexes, means,
    scales (Gaussian streams, kind ``"y"``) and strings, hyper-latent (kind ``"z"``) first."""
    seen: list[dict[str, Any]] = []

    def record(model: Any, inputs: Tensor, indexes: Tensor, means: Any, scales: Any, strings: list[bytes]) -> None:
        kind = "y" if isinstance(model, GaussianConditional) else "z"
        seen.append(
            {
                "kind": kind,
                "model": model,
                "inputs": inputs,
                "indexes": indexes,
                "means": means,
                "scales": scales,
                "strings": strings,
            }
        )

    EntropyCoder(codec.latent_codec, FLOAT_NETWORKS, record).compress(y)
    return seen


def finer_table(model: GaussianConditional, levels: int) -> GaussianConditional:
    """A Gaussian conditional like ``model`` with ``levels`` log-spaced scales between the same bounds."""
    table = model.scale_table.double()
    lo, hi = math.log(float(table[0])), math.log(float(table[-1]))
    fine = GaussianConditional(
        [math.exp(lo + (hi - lo) * i / (levels - 1)) for i in range(levels)],
        tail_mass=model.tail_mass,
        scale_bound=float(table[0]),
    )
    fine.update()
    return fine


def _varint_len(n: int) -> int:
    return max(1, -(-n.bit_length() // 7))


@torch.no_grad()
def breakdown(system: Any, x: Tensor, levels: tuple[int, ...] = (128, 256)) -> dict[str, Any]:
    """The decomposition of one padded image's ``.rdp`` size (float entropy path), in bytes."""
    from rdpflex.bitstream import RdpFile, dumps
    from rdpflex.pipeline import encode_image

    codec = system.codec
    y = codec.g_a(x)
    seen = observed(codec, y)
    row: dict[str, Any] = {}
    est = {"y": 0.0, "z": 0.0}
    ideal_table = {"y": 0.0, "z": 0.0}  # continuous model at the scales actually coded (y: table scales)
    quant = {"y": 0.0, "z": 0.0}
    strings = {"y": 0, "z": 0}
    escapes = 0
    finer = {L: 0 for L in levels}
    for s in seen:
        m, kind = s["model"], s["kind"]
        strings[kind] += sum(len(b) for b in s["strings"])
        if kind == "y":
            sym = m.quantize(s["inputs"], "symbols", s["means"])
            y_hat = sym.to(s["inputs"].dtype) + (s["means"] if s["means"] is not None else 0)
            est["y"] += gaussian_bits(m, y_hat, s["scales"], s["means"])
            table_scales = m.scale_table[s["indexes"].long()]
            ideal_table["y"] += gaussian_bits(m, y_hat, table_scales, s["means"])
            bits, n_esc = coded_bits(m, sym, s["indexes"])
            for L in levels:
                fine = finer_table(m, L)
                finer[L] += sum(len(b) for b in fine.compress(s["inputs"], fine.build_indexes(s["scales"]), s["means"]))
        else:
            xz = s["inputs"]
            medians = m._extend_ndims(m._get_medians().detach(), xz.dim() - 2).expand(
                xz.size(0), *([-1] * (xz.dim() - 1))
            )
            sym = m.quantize(xz, "symbols", medians)
            _, lik = m(xz, training=False)
            est["z"] += float((-torch.log2(lik.double())).sum())
            ideal_table["z"] += est["z"]
            bits, n_esc = coded_bits(m, sym, m._build_indexes(xz.size()))
        quant[kind] += bits
        escapes += n_esc
    n_streams = sum(len(s["strings"]) for s in seen)
    # the container, versions 2 and 3: one image, and what each further image of the same size adds
    rec, _, _ = encode_image(x, system, "img", estimate=False, exact=False)
    one = {v: len(dumps(RdpFile(system.fingerprint, [rec], codec.arch, exact=False, version=v))) for v in (2, 3)}
    two = {
        v: len(dumps(RdpFile(system.fingerprint, [rec, replace(rec, stem="im2")], codec.arch, exact=False, version=v)))
        for v in (2, 3)
    }
    payload = sum(len(b) for b in rec.streams)
    estimate_bytes = (est["y"] + est["z"]) / 8
    row.update(
        {
            "estimate_y_B": est["y"] / 8,
            "estimate_z_B": est["z"] / 8,
            "scale_table_y_B": (ideal_table["y"] - est["y"]) / 8,
            "cdf_quant_y_B": (quant["y"] - ideal_table["y"]) / 8,
            "cdf_quant_z_B": (quant["z"] - ideal_table["z"]) / 8,
            "escapes": escapes,
            "rans_framing_B": (8 * (strings["y"] + strings["z"]) - quant["y"] - quant["z"]) / 8,
            "streams": n_streams,
            "strings_B": strings["y"] + strings["z"],
            "container_v2_B": one[2] - payload,
            "container_v3_B": one[3] - payload,
            "per_image_v2_B": two[2] - one[2] - payload,
            "per_image_v3_B": two[3] - one[3] - payload,
            "length_fields_v2_B": 4 * len(rec.streams),
            "length_fields_v3_B": sum(_varint_len(len(b)) for b in rec.streams),
            "file_v2_B": one[2],
            "file_v3_B": one[3],
            "total_v2_pct": 100 * (one[2] / estimate_bytes - 1),
            "total_v3_pct": 100 * (one[3] / estimate_bytes - 1),
            "strings_pct": 100 * ((strings["y"] + strings["z"]) / estimate_bytes - 1),
        }
    )
    for L in levels:
        row[f"table{L}_saves_B"] = strings["y"] - finer[L]
    if levels:
        best = max(levels)
        row[f"total_v3_table{best}_pct"] = 100 * ((one[3] - row[f"table{best}_saves_B"]) / estimate_bytes - 1)
    return row
