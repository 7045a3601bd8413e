"""The options of one ``compare`` run (:class:`CompareConfig`), declared and checked once.

:func:`~rdpflex.evaluation.compare.compare` takes them as keyword arguments (or a ready config);
``rdpflex compare`` passes its command-line options through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rdpflex.errors import RdpflexError
from rdpflex.evaluation.result import VIEWER_IMAGES
from rdpflex.evaluation.selection import AUTO
from rdpflex.evaluation.specs import DecoderSpec
from rdpflex.metrics.reference_codecs import DEFAULT_QUALITIES

#: per-image metrics computed for the JPEG/WebP baselines (when selected): the cheap ones
BASELINE_METRICS = ("psnr", "ms_ssim", "detail")
DEFAULT_CROP = 256


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    """What to decode, measure and write; every field is also a keyword argument of ``compare``.

    Sequences are stored as tuples, ``qualities`` sorted without repeats, ``out_dir`` as a :class:`Path`.
    Invalid values raise :class:`~rdpflex.errors.RdpflexError` when the config is made, before any work.
    """

    #: specs ``"NAME"`` / ``"NAME:KEY=V1,V2:KEY2=..."`` (cartesian product of the values); None: ``mse`` +
    #: every decoder trained in the system, each at its ``sweep`` or default options
    decoders: Sequence[str | DecoderSpec] | None = None
    #: ``"auto"`` (every metric whose weights are present; the others are skipped with a note) or names
    #: (``"psnr,lpips,fid256"`` or a list); missing weights then raise :class:`~rdpflex.errors.WeightsMissingError`
    metrics: str | Sequence[str] | None = AUTO
    #: where to write ``bitstream.rdp``, ``metrics.csv``, ``metrics.json``, the plots, ``crops/`` and
    #: ``report.html`` (main process only); None writes nothing
    out_dir: str | Path | None = None
    #: image ``i`` is decoded with seed ``seed + i`` (stochastic decoders)
    seed: int = 0
    #: also run JPEG and WebP (Pillow) at ``qualities``, with ``baseline_metrics``
    baselines: bool = True
    qualities: Sequence[int] = DEFAULT_QUALITIES
    baseline_metrics: Sequence[str] = BASELINE_METRICS
    #: ``"no"``, ``"bf16"`` (or ``"fp16"`` on GPU): autocast around decoding
    mixed_precision: str = "no"
    #: force the CPU even when a GPU is present
    cpu: bool = False
    #: side of the center crops shown side by side in the report
    crop_size: int = DEFAULT_CROP
    #: progress bars on stderr (main process)
    progress: bool = True
    #: before timing, decode one 64x64-pixel corner of a latent once per decoder family (one-time
    #: initialisation then does not count in ``decode_ms_per_mp``)
    warmup: bool = True
    #: same-size images decoded together (at most this many; see :func:`rdpflex.pipeline.batches`).
    #: Default 1: ``decode_ms_per_mp`` is then per image
    batch_size: int = 1
    #: re-encode every decoded output with the same codec and report the re-encoding consistency
    #: (:mod:`rdpflex.evaluation.reencode`): ``reencode_agreement``, ``reencode_identical``, ``reencode_mse_psnr``
    reencode: bool = True
    #: what the report's interactive viewer shows: ``"full"`` (every decoded image at full resolution,
    #: written under ``viewer/``), ``"crops"`` (the center crops only: a small report), ``"none"`` (no
    #: viewer; the static crop grid)
    viewer_images: str = "full"

    def __post_init__(self) -> None:
        if self.crop_size < 8:
            raise RdpflexError(f"crop size must be at least 8 px, got {self.crop_size}")
        if self.viewer_images not in VIEWER_IMAGES:
            raise RdpflexError(f"viewer images must be one of {', '.join(VIEWER_IMAGES)}, got {self.viewer_images!r}")
        if self.batch_size < 1:
            raise RdpflexError(f"batch size must be at least 1, got {self.batch_size}")
        if self.baselines and any(not 1 <= int(q) <= 100 for q in self.qualities):
            raise RdpflexError(f"baseline qualities must lie in 1..100, got {list(self.qualities)}")
        out = Path(self.out_dir) if self.out_dir is not None else None
        if out is not None and out.exists() and not out.is_dir():
            raise RdpflexError(f"report directory {out} exists and is not a directory")
        normalised = {
            "decoders": tuple(self.decoders) if self.decoders is not None else None,
            "metrics": self.metrics if self.metrics is None or isinstance(self.metrics, str) else tuple(self.metrics),
            "out_dir": out,
            "qualities": tuple(sorted({int(q) for q in self.qualities})),
            "baseline_metrics": tuple(self.baseline_metrics),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)  # frozen: the one place the fields are normalised

    @property
    def out(self) -> Path | None:
        """``out_dir`` as a :class:`Path` (None: write nothing)."""
        return None if self.out_dir is None else Path(self.out_dir)

    @classmethod
    def from_options(cls, config: CompareConfig | None, options: dict[str, Any]) -> CompareConfig:
        """``config`` (or the defaults) with ``options`` (keyword arguments of ``compare``) replaced."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"compare() got an unexpected keyword argument {unknown[0]!r}")
        if config is None:
            return cls(**options)
        return cls(**{**{f.name: getattr(config, f.name) for f in fields(cls)}, **options})
