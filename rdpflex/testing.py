"""The decoder-plugin conformance suite: one pytest class every decoder family's tests subclass.

::

    # tests/test_conformance.py of your plugin
    from rdpflex.testing import DecoderConformance

    class TestSharpen(DecoderConformance):
        decoder_name = "sharpen"                       # the registered family
        options = {"amount": 1.5}                      # a valid, non-default setting (decoded with)
        invalid_options = [{"amount": 9}, {"bogus": 1}]  # each must be refused with a one-line OptionsError

        def make_decoder(self, codec):                 # families that need weights: a fresh tiny instance
            return SharpenDecoder.tiny(codec)          # weight-free families may return None (the default)

Run it with ``pytest``: every ``test_*`` method below runs against your family (about a second for a
small decoder; everything is tiny: an untrained 8-channel codec whose analysis output is scaled so that
distinct images quantise to distinct latents, 64-pixel images). It checks the
contract of :mod:`rdpflex.decoders`:

==========================================  ===============================================================
check                                       what it means
==========================================  ===============================================================
``test_registered_card_matches_class``      the card (or class) registered through the hook agrees with the
                                            class: name, ``Options``, capability flags, sweep
``test_decodes_the_same_rdp_as_mse``        a ``.rdp`` written and read back decodes, image for image, to the
                                            same stems and sizes as ``mse`` gives
``test_output_shape_and_range``             ``decode_batch`` gives (B, 3, Hp, Wp) float32, finite, in [0, 1]
``test_options_validation``                 defaults validate, unknown keys and ``invalid_options`` are refused
                                            (OptionsError), the JSON schema serialises, ``sweep`` validates
``test_seed_determinism``                   the same seed gives the same pixels; a stochastic family gives
                                            other pixels with another seed
``test_batch_equals_one_at_a_time``         image i gets the same pixels alone or in a batch of distinct images
                                            (a decoder that reorders or mixes the images of a batch fails)
``test_save_load_round_trip``               save into a system, load it back: the same pixels
``test_refuses_another_codec``              a file of another codec is refused; weights trained on another
                                            codec are refused (FingerprintMismatchError)
==========================================  ===============================================================

Override :meth:`DecoderConformance.make_decoder` to build a tiny decoder when the family needs
weights, ``options`` for the settings decoded with (keep them cheap: few steps), and ``atol`` when
batching changes float rounding. This module imports pytest (a test dependency).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from rdpflex.bitstream import read_rdp, write_rdp
from rdpflex.cards import DecoderCard, capabilities, card_mismatches, parse_options
from rdpflex.decoders import Decoder, decode_batch
from rdpflex.errors import FingerprintMismatchError, ForeignFileError, OptionsError
from rdpflex.latent import Latent
from rdpflex.pipeline import compress_images, decode_images, decode_latents, latents
from rdpflex.plugins import get_decoder_card, get_decoder_class
from rdpflex.system import System

#: image sizes of the suite's ``.rdp`` (two share a padded size, one does not)
SIZES = ((64, 64), (48, 40), (40, 72))
#: gain on the tiny codec's last analysis layer: an untrained g_a's outputs are so small that every image
#: quantises to the same integers, so a batch would hold identical latents and hide batch mix-ups
LATENT_GAIN = 100.0
#: decoded images of the suite's batch differ from each other by at least this much (max abs, on [0, 1])
DISTINCT = 0.05


def smooth_image(h: int, w: int, seed: int) -> torch.Tensor:
    """A smooth random RGB image (1, 3, h, w) in [0, 1] with some texture."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    f = torch.rand(3, 2, generator=g) * 8 + 2
    x = torch.stack([torch.sin(f[c, 0] * xx + c) * torch.cos(f[c, 1] * yy) for c in range(3)]) * 0.4 + 0.5
    return (x + 0.05 * torch.randn(3, h, w, generator=g)).clamp(0, 1)[None]


def conformance_system(arch: str = "msh", seed: int = 0) -> System:
    """The suite's tiny untrained system, its last analysis layer scaled by :data:`LATENT_GAIN` at build time
    so that the suite's distinct images get distinct latents (and decode to distinct pixels)."""
    system = System.tiny(arch, seed=seed)
    last = [m for m in system.codec.g_a.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.mul_(LATENT_GAIN)
        if last.bias is not None:
            last.bias.mul_(LATENT_GAIN)
    system.codec.update(force=True)
    return System(system.codec, info=system.info)  # a new System: its fingerprint is of the scaled weights


def check_batch_equals_one_at_a_time(
    system: System, rdp_path: Path, name: str, options: dict[str, Any], atol: float
) -> None:
    """Image i of a batch of distinct latents decodes to the pixels it gets alone (``AssertionError`` if not)."""
    lats = file_latents(system, rdp_path)
    assert len(lats) >= 2
    alone = dict(decode_latents(lats, system, name, dict(options), seed=5, batch_size=1))
    stems = list(alone)
    h = min(x.shape[-2] for x in alone.values())
    w = min(x.shape[-1] for x in alone.values())
    gap = (alone[stems[0]][..., :h, :w] - alone[stems[1]][..., :h, :w]).abs().max().item()
    assert gap > max(DISTINCT, 10 * atol), (
        f"the batch's images decode alike (max difference {gap:.3g}): the check would not see a batch mix-up"
    )
    together = dict(decode_latents(lats, system, name, dict(options), seed=5, batch_size=len(lats)))
    for k in stems:
        assert torch.allclose(together[k], alone[k], atol=atol), f"{k}: batched pixels differ from one-at-a-time"


def file_latents(system: System, rdp_path: Path) -> list[Latent]:
    """The latents of the suite's ``.rdp`` (entropy-decoded, carrying their streams) of the most common padded size."""
    lats = list(latents(read_rdp(rdp_path), system))
    size = max({lat.padded_size for lat in lats}, key=lambda s: sum(lat.padded_size == s for lat in lats))
    return [lat for lat in lats if lat.padded_size == size]


class DecoderConformance:
    """Subclass in your plugin's tests; set :attr:`decoder_name` (and the other attributes as needed)."""

    #: the registered family name
    decoder_name: ClassVar[str] = ""
    #: options decoded with (a dict of valid values; cheap settings for iterative decoders)
    options: ClassVar[dict[str, Any]] = {}
    #: option dicts that must each be refused with OptionsError (``{"no_such_option": 1}`` is always checked)
    invalid_options: ClassVar[list[dict[str, Any]]] = []
    #: tolerance of "the same pixels" across batching (float rounding); determinism is checked exactly
    atol: ClassVar[float] = 1e-5
    #: the codec architecture of the suite's tiny system (``msh``: N=8, M=12)
    arch: ClassVar[str] = "msh"

    def make_decoder(self, codec: Any) -> Any:
        """A fresh, tiny decoder for ``codec`` to test (families that need weights must override this).

        ``None`` (the default for a weight-free family): the system builds it with ``from_pretrained(None, codec)``.
        """
        if capabilities(get_decoder_class(self.decoder_name)).needs_weights:
            raise NotImplementedError(
                f"{type(self).__name__}: decoder {self.decoder_name!r} needs weights; "
                "override make_decoder(codec) to build a tiny one"
            )
        return None

    # -- fixtures (class-scoped: built once per family) ----------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def system(cls) -> System:
        """A tiny randomly initialised system holding the decoder under test (whatever make_decoder returns)."""
        system = conformance_system(cls.arch, seed=0)
        decoder = cls().make_decoder(system.codec)
        if decoder is not None:
            system.add_decoder(decoder)
        return system

    @pytest.fixture(scope="class")
    @classmethod
    def rdp_path(cls, system: System, tmp_path_factory: pytest.TempPathFactory) -> Path:
        images = [(f"im{i}", smooth_image(h, w, i)) for i, (h, w) in enumerate(SIZES)]
        path = tmp_path_factory.mktemp("conformance") / "set.rdp"
        write_rdp(path, compress_images(images, system).rdp)
        return path

    def decode(self, system: System, rdp: Any, seed: int = 0, batch_size: int = 4) -> dict[str, torch.Tensor]:
        return dict(decode_images(rdp, system, self.decoder_name, dict(self.options), seed=seed, batch_size=batch_size))

    # -- the checks ----------------------------------------------------------------------------------
    def test_registered_card_matches_class(self) -> None:
        card = get_decoder_card(self.decoder_name)
        cls = card.load()
        assert isinstance(card, DecoderCard) and card.name == self.decoder_name
        assert not card_mismatches(card, cls), card_mismatches(card, cls)
        for member in ("name", "Options", "from_pretrained", "save_pretrained", "decode"):
            assert hasattr(cls, member), f"{cls.__name__} has no {member!r}"
        assert card.description, "give the family a one-line description (rdpflex decoders prints it)"

    def test_decodes_the_same_rdp_as_mse(self, system: System, rdp_path: Path) -> None:
        rdp = read_rdp(rdp_path)
        ours, ref = self.decode(system, rdp), dict(decode_images(rdp, system, "mse"))
        assert ours.keys() == ref.keys() == {im.stem for im in rdp.images}
        for stem, x in ours.items():
            assert x.shape == ref[stem].shape, f"{stem}: {tuple(x.shape)} != mse's {tuple(ref[stem].shape)}"

    def test_output_shape_and_range(self, system: System, rdp_path: Path) -> None:
        dec = system.decoder(self.decoder_name)
        lats = file_latents(system, rdp_path)
        opts = parse_options(dec, dict(self.options))
        gens = [torch.Generator().manual_seed(i) for i in range(len(lats))]
        x = decode_batch(dec, lats, system.codec, opts, gens)
        assert tuple(x.shape) == (len(lats), 3, *lats[0].padded_size) and x.dtype == torch.float32
        assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1

    def test_options_validation(self, system: System) -> None:
        cls: type[Decoder] = get_decoder_class(self.decoder_name)
        json.dumps(cls.Options.model_json_schema())
        parse_options(cls, {})  # every option has a default
        parse_options(system.decoder(self.decoder_name), dict(self.options))
        for bad in [{"no_such_option": 1}, *self.invalid_options]:
            with pytest.raises(OptionsError) as err:
                parse_options(system.decoder(self.decoder_name), dict(bad))
            assert "\n" not in str(err.value) and self.decoder_name in str(err.value)
        sweep = get_decoder_card(self.decoder_name).sweep
        for key, values in sweep.items():
            for v in values:
                parse_options(cls, {key: v})

    def test_seed_determinism(self, system: System, rdp_path: Path) -> None:
        lats = file_latents(system, rdp_path)
        a = dict(decode_latents(lats, system, self.decoder_name, dict(self.options), seed=3))
        b = dict(decode_latents(lats, system, self.decoder_name, dict(self.options), seed=3))
        assert all(torch.equal(a[k], b[k]) for k in a), "the same seed must give the same pixels"
        if capabilities(get_decoder_class(self.decoder_name)).stochastic and "seed" not in self.options:
            c = dict(decode_latents(lats, system, self.decoder_name, dict(self.options), seed=4))
            assert any(not torch.equal(a[k], c[k]) for k in a), "a stochastic decoder must depend on the seed"

    def test_batch_equals_one_at_a_time(self, system: System, rdp_path: Path) -> None:
        check_batch_equals_one_at_a_time(system, rdp_path, self.decoder_name, self.options, self.atol)

    def test_save_load_round_trip(self, system: System, rdp_path: Path, tmp_path: Path) -> None:
        rdp = read_rdp(rdp_path)
        before = self.decode(system, rdp)
        root = system.save(tmp_path / "system")
        after = self.decode(System.load(root), rdp)
        for k in before:
            assert torch.allclose(before[k], after[k], atol=self.atol), f"{k}: pixels changed across save/load"

    def test_refuses_another_codec(self, system: System, rdp_path: Path, tmp_path: Path) -> None:
        other = System.tiny(self.arch, seed=123)
        assert other.fingerprint != system.fingerprint
        with pytest.raises(ForeignFileError):
            list(decode_images(read_rdp(rdp_path), other, self.decoder_name, dict(self.options)))
        caps = capabilities(get_decoder_class(self.decoder_name))
        if caps.needs_weights and caps.trained_on_codec:
            root = system.save(tmp_path / "ours")
            other_root = other.save(tmp_path / "other")
            (other_root / "decoders").mkdir(exist_ok=True)
            import shutil

            shutil.copytree(root / "decoders" / self.decoder_name, other_root / "decoders" / self.decoder_name)
            with pytest.raises(FingerprintMismatchError):
                System.load(other_root).decoder(self.decoder_name)


__all__ = [
    "DecoderConformance",
    "check_batch_equals_one_at_a_time",
    "conformance_system",
    "file_latents",
    "smooth_image",
    "SIZES",
]
