"""Fuzzing the ``.rdp`` reader end to end: every mutant decodes to exactly the original output or raises BitstreamError.

Valid files are real encodes with the bundled demo system (exact and float entropy paths) and one from
a tiny random system (a foreign codec, for splices). Mutants (``tests/rdp_mutations.py``) go through
``loads`` -> ``pipeline.latents`` (pixel cap, codec checks, symbol checksum) -> the ``mse`` decoder.

``make test`` runs a bounded sample (``FUZZ_EXAMPLES``, seconds) drawn with a seed that rotates daily
(``RDPFLEX_FUZZ_SEED`` pins it; the seed is printed and named in every failure), so CI does not replay
the same mutants forever; ``make fuzz`` runs many more (``RDPFLEX_FUZZ_EXAMPLES``) and writes the
outcome counts to ``RDPFLEX_FUZZ_REPORT``.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, seed, settings

from rdpflex import pipeline
from rdpflex.bitstream import dumps, loads
from rdpflex.errors import BitstreamError
from rdpflex.latent import Latent
from rdpflex.system import System

from .conftest import smooth_image
from .rdp_mutations import mutants

FUZZ_EXAMPLES = int(os.environ.get("RDPFLEX_FUZZ_EXAMPLES", "40"))
#: the sample's seed: RDPFLEX_FUZZ_SEED, else today's date (UTC) as YYYYMMDD, a new sample each day
FUZZ_SEED = int(os.environ.get("RDPFLEX_FUZZ_SEED") or datetime.datetime.now(datetime.UTC).strftime("%Y%m%d"))
#: pixel cap of the fuzz run, fixed before any mutant is read: 4x the largest original image
CAP = 4 * 64 * 64

OUTCOMES: Counter[tuple[str, str]] = Counter()
MAX_REQUESTED = [0]  # largest padded image the entropy decoder was asked for (per image, one or a batch)
PROC_STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux: ``echo 5 > /proc/self/clear_refs``); False where that is not possible.

    ``ru_maxrss`` cannot be reset, so in a pytest-xdist worker that already ran larger tests it reads no growth."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak RSS since the last :func:`reset_peak_rss` (VmHWM), MiB."""
    return int(re.search(r"VmHWM:\s+(\d+)", PROC_STATUS.read_text()).group(1)) / 1024


def _tensor(h: int, w: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(smooth_image(h, w, seed)).permute(2, 0, 1).unsqueeze(0).float() / 255


@pytest.fixture(scope="module")
def corpus():
    demo = System.load(None)
    images = [("a", _tensor(17, 23, 0)), ("b", _tensor(40, 64, 1))]
    exact = dumps(pipeline.compress_images(images, demo, estimate=False).rdp)
    floaty = dumps(pipeline.compress_images(images[1:], demo, estimate=False, exact=False).rdp)
    foreign = dumps(pipeline.compress_images(images[:1], System.tiny("msh", seed=3), estimate=False).rdp)
    older = dumps(replace(loads(exact), version=2))  # the fixed-width layout, still read
    refs: dict = {}  # (padded size, exact flag) -> [(y_hat, uncropped mse output)] of every original image
    for data in (exact, floaty):
        rdp = loads(data)
        for flag in (True, False):  # the flag bit may be flipped behind a valid CRC: decode both ways
            for im in rdp.images:
                try:
                    y = demo.codec.decompress_latent(list(im.streams), im.padded_size, flag, im.symbols_crc)
                except BitstreamError:
                    continue
                x = pipeline.decode_latent(Latent(y, im.padded_size, im.padded_size), demo, "mse")
                refs.setdefault((tuple(im.padded_size), flag), []).append((y, x))

    # record the size of every entropy decode, image by image or a batch of same-size neighbours (the path
    # pipeline.latents takes), on this test's own System instance
    def counting(decode):
        def counted(streams, padded_hw, *args, **kwargs):
            MAX_REQUESTED[0] = max(MAX_REQUESTED[0], padded_hw[0] * padded_hw[1])
            return decode(streams, padded_hw, *args, **kwargs)

        return counted

    demo.codec.decompress_latent = counting(demo.codec.decompress_latent)
    demo.codec.decompress_latents = counting(demo.codec.decompress_latents)
    yield demo, [exact, floaty, foreign, older], refs
    del demo.codec.decompress_latent, demo.codec.decompress_latents
    report = os.environ.get("RDPFLEX_FUZZ_REPORT")
    if report:
        rows = [{"mutation": k, "outcome": o, "count": n} for (k, o), n in sorted(OUTCOMES.items())]
        with open(report, "w") as f:
            json.dump(
                {
                    "examples": sum(OUTCOMES.values()),
                    "seed": FUZZ_SEED,
                    "max_pixels_requested": MAX_REQUESTED[0],
                    "cap": CAP,
                    "rows": rows,
                },
                f,
                indent=2,
            )


#: message fragment -> kind of rejection, for the outcome counts (first match wins)
REASONS = [
    ("decoded symbols differ", "symbol CRC mismatch"),
    ("was written by codec", "foreign codec (fingerprint)"),
    ("above the limit of", "above the pixel cap"),
    ("CRC mismatch in header", "header CRC mismatch"),
    ("varint", "malformed varint"),
    ("CRC mismatch in image", "record CRC mismatch"),
    ("not an rdpflex file", "not an rdpflex file (magic)"),
    ("unsupported format version", "unsupported version or flags"),
    ("unsupported flags", "unsupported version or flags"),
    ("truncated file", "truncated"),
    ("empty file", "truncated"),
    ("trailing bytes", "trailing bytes"),
    ("entropy decoding failed", "entropy decoder error"),
    ("latent shape", "geometry inconsistent with the codec"),
    ("inconsistent with", "geometry inconsistent with the codec"),
    ("streams; codec", "geometry inconsistent with the codec"),
    ("out of range", "field out of bounds"),
    ("exceeds", "field out of bounds"),
    ("smaller than image size", "field out of bounds"),
    ("stem", "field out of bounds"),
]


def _reason(exc: BitstreamError) -> str:
    """The kind of rejection (``REASONS``), with the exception class."""
    msg = str(exc)
    kind = next((label for frag, label in REASONS if frag in msg), msg[:60])
    return f"{type(exc).__name__}: {kind}"


def _check(kind: str, data: bytes, demo: System, refs: dict) -> None:
    try:
        rdp = loads(data)
        lats = list(pipeline.latents(rdp, demo, max_pixels=CAP))
        outs = [pipeline.decode_latent(lat, demo, "mse") for lat in lats]
    except BitstreamError as exc:
        assert "\n" not in str(exc)
        OUTCOMES[(kind, _reason(exc))] += 1
        return
    for im, lat, x in zip(rdp.images, lats, outs):  # each must be one of the originals, bit for bit
        H, W = im.image_size
        same = [
            torch.equal(lat.y_hat, y) and torch.equal(x, x_ref[..., :H, :W])
            for y, x_ref in refs.get((tuple(im.padded_size), rdp.exact), [])
        ]
        assert any(same), f"{kind}: decoded without error to a latent or pixels that no original has"
    OUTCOMES[(kind, "decoded: identical to the original's output")] += 1


def test_every_mutant_decodes_exactly_or_raises_bitstream_error(corpus):
    demo, files, refs = corpus
    print(f"fuzz seed {FUZZ_SEED} (rerun this sample with RDPFLEX_FUZZ_SEED={FUZZ_SEED})")
    measured = reset_peak_rss()
    rss0 = peak_rss_mib() if measured else 0.0

    @seed(FUZZ_SEED)
    @settings(max_examples=FUZZ_EXAMPLES, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(mutants(files, demo.codec.padded_size, demo.codec.latent_shape))
    def run(mutant):
        _check(*mutant, demo, refs)

    try:
        run()
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n(fuzz seed {FUZZ_SEED}: RDPFLEX_FUZZ_SEED={FUZZ_SEED} replays this sample)"
        ) from exc
    assert MAX_REQUESTED[0] > 0, "the entropy-decode counter saw no call: it watches the wrong method"
    assert MAX_REQUESTED[0] <= CAP, (MAX_REQUESTED[0], FUZZ_SEED)  # nothing decoded beyond the cap fixed before
    if measured:  # the peak since the reset: what decoding the mutants needed, in any xdist worker
        growth_mb = peak_rss_mib() - rss0
        assert growth_mb < 300, (growth_mb, FUZZ_SEED)
    kinds = {k for k, _ in OUTCOMES}
    assert len(kinds) >= 6 and sum(OUTCOMES.values()) >= FUZZ_EXAMPLES, (sorted(OUTCOMES), FUZZ_SEED)


def test_huge_claimed_image_is_refused_before_allocation(monkeypatch):
    """A header claiming 65536x65536 with valid CRCs: refused by the pixel cap, the entropy decoder never runs."""
    from dataclasses import replace

    demo = System.load(None)
    rdp = pipeline.compress_images([("a", _tensor(17, 23, 0))], demo, estimate=False).rdp
    big = (65536, 65536)
    im = replace(rdp.images[0], image_size=big, padded_size=big, latent_shape=demo.codec.latent_shape(big))
    bad = loads(dumps(replace(rdp, images=[im])))
    for method in ("decompress_latent", "decompress_latents"):  # one image or a batch of same-size neighbours
        monkeypatch.setattr(demo.codec, method, lambda *a, **k: pytest.fail("entropy decoder ran"))
    with pytest.raises(
        BitstreamError, match=r"65536x65536 = 4294967296 pixels, above the limit of 67108864 .*RDPFLEX_MAX_PIXELS"
    ):
        list(pipeline.latents(bad, demo))
    monkeypatch.setenv("RDPFLEX_MAX_PIXELS", "100")
    with pytest.raises(BitstreamError, match="limit of 100 pixels"):
        list(pipeline.latents(rdp, demo))
    monkeypatch.setenv("RDPFLEX_MAX_PIXELS", "lots")
    with pytest.raises(Exception, match="RDPFLEX_MAX_PIXELS='lots' is not an integer"):
        list(pipeline.latents(rdp, demo))
