"""A *system*: one codec and the decoders trained for it, stored as a directory (diffusers-style).

::

    SYSTEM/
      system.json              rdpflex version, codec arch + config, codec fingerprint
      codec/config.json        arch + constructor config
      codec/model.safetensors  all weights and buffers, entropy tables included (no update() on load)
      decoders/<name>/         config.json (with the codec fingerprint it was trained on) + model.safetensors,
                               or component folders (unet/, scheduler/ ...) in diffusers' layout, safetensors only

      README.md                the model card (:mod:`rdpflex.model_card`), written by ``save_pretrained``

The fingerprint is sha256 over the canonical codec config and all codec tensors; ``.rdp`` files
carry it, so a file or decoder made with another codec is refused with both fingerprints named.

A system is loaded from a local directory, a bundled one (``rdpflex:demo-system``) or a Hugging Face Hub
repo id (:mod:`rdpflex.hub`), always through the same safetensors-only loading.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from rdpflex import __version__
from rdpflex.codecs import TINY, Codec
from rdpflex.decoders import Decoder, capabilities
from rdpflex.errors import FingerprintMismatchError, RdpflexError
from rdpflex.hub import ASSETS, push_folder, resolve_system_dir
from rdpflex.plugins import get_decoder_class
from rdpflex.registry import build_codec
from rdpflex.weights import fingerprint, load_error, load_weights, read_json, save_weights, write_json

SYSTEM_JSON = "system.json"
BUNDLED_DEMO_SYSTEM = ASSETS / "demo-system"


def default_system_path() -> Path | str:
    """``$RDPFLEX_SYSTEM`` (a directory or any reference :meth:`System.load` takes) or the bundled demo system."""
    return os.environ.get("RDPFLEX_SYSTEM") or BUNDLED_DEMO_SYSTEM


def check_device(device: torch.device | str) -> torch.device:
    """``device`` as a torch.device, or a one-line :class:`RdpflexError` when it is malformed or not on this machine."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise RdpflexError(f"unknown device {str(device)!r}; use cpu, cuda, cuda:N or mps") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if not available.get(dev.type, True):
        raise RdpflexError(
            f"device {str(device)!r} is not available on this machine "
            f"(no {dev.type} GPU found by torch); use --device cpu"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RdpflexError(
            f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s) (cuda:0..)"
        )
    return dev


def codec_state(codec: Codec) -> dict[str, torch.Tensor]:
    """The codec's state with entropy tables built (``update()`` when they are still empty)."""
    codec.update(force=False)
    return codec.state_dict()


def codec_fingerprint(codec: Codec) -> str:
    return fingerprint({"arch": codec.arch, "config": codec.config}, codec_state(codec))


class System:
    """A loaded codec plus lazy access to its decoders."""

    def __init__(self, codec: Codec, root: Path | None = None, info: dict[str, Any] | None = None) -> None:
        self.codec = codec.eval()
        self.root = Path(root) if root else None
        self.info = info or {}
        self.fingerprint = codec_fingerprint(codec)
        self._decoders: dict[str, Decoder] = {}

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def tiny(cls, arch: str = "msh", seed: int = 0) -> "System":
        """A randomly initialised test-sized system (entropy tables built), one call away."""
        torch.manual_seed(seed)
        codec = build_codec(arch, **TINY[arch])
        codec.update(force=True)
        return cls(codec, info={"note": "randomly initialised test system"})

    @classmethod
    def load(cls, root: Path | str | None = None, cache_dir: str | Path | None = None) -> "System":
        """Load a system: a local directory, ``rdpflex:NAME`` (bundled) or a Hugging Face Hub repo id (a local
        directory wins); None: :func:`default_system_path`. ``cache_dir``: the Hugging Face cache to use."""
        root = resolve_system_dir(root or default_system_path(), cache_dir)
        if not (root / SYSTEM_JSON).is_file():
            hint = " (the bundled demo system is missing: pass --system DIR)" if root == BUNDLED_DEMO_SYSTEM else ""
            hint = hint or (" (the directory does not exist)" if not root.exists() else "")
            raise RdpflexError(f"{root} is not an rdpflex system: {SYSTEM_JSON} not found{hint}")
        info = read_json(root / SYSTEM_JSON)
        state, cfg = load_weights(root / "codec")
        try:
            codec = build_codec(cfg["arch"], **cfg["config"])
            codec.load_state_dict(state)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise RdpflexError(f"{root}/codec does not match its config: {load_error(exc)}") from exc
        system = cls(codec, root, info)
        if info.get("fingerprint") != system.fingerprint:
            raise RdpflexError(f"{root} is corrupted: codec weights do not match the fingerprint in {SYSTEM_JSON}")
        return system

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: Path | str, cache_dir: str | Path | None = None, revision: str | None = None
    ) -> "System":
        """diffusers' name for :meth:`load`: a local directory or a Hub repo id (``OWNER/NAME``) at ``revision``."""
        return cls.load(resolve_system_dir(path_or_repo_id, cache_dir, revision))

    def save_pretrained(
        self, directory: Path | str, evaluation: dict[str, Any] | None = None, repo_id: str | None = None
    ) -> Path:
        """:meth:`save` plus the model card ``README.md`` (with ``evaluation``, figures from
        :func:`rdpflex.model_card.measure`, when given; ``repo_id`` in its usage lines)."""
        from rdpflex.model_card import write_card

        root = self.save(directory)
        write_card(root, evaluation, repo_id)
        self.info = read_json(root / SYSTEM_JSON)
        return root

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        commit_message: str | None = None,
        api: Any = None,
    ) -> Any:
        """Save this system with its model card and upload it to the Hub repo ``repo_id`` (created if needed).
        ``api``: the :class:`huggingface_hub.HfApi` to use (default: the logged-in user's)."""
        import tempfile

        root, info = self.root, self.info
        try:
            with tempfile.TemporaryDirectory(prefix="rdpflex-push-") as tmp:
                folder = self.save_pretrained(Path(tmp) / "system", repo_id=repo_id)
                return push_folder(folder, repo_id, api=api, private=private, commit_message=commit_message)
        finally:
            self.root, self.info = root, info

    def save(self, root: Path | str) -> Path:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        save_weights(root / "codec", codec_state(self.codec), {"arch": self.codec.arch, "config": self.codec.config})
        self.fingerprint = codec_fingerprint(self.codec)
        info = {k: v for k, v in self.info.items() if k not in ("fingerprint", "codec", "rdpflex_version")}
        info |= {
            "rdpflex_version": __version__,
            "codec": {"arch": self.codec.arch, "config": self.codec.config},
            "fingerprint": self.fingerprint,
        }
        write_json(root / SYSTEM_JSON, info)
        if self.root and self.root.resolve() != root.resolve() and (self.root / "decoders").is_dir():
            shutil.copytree(self.root / "decoders", root / "decoders", dirs_exist_ok=True)
        for name, dec in self._decoders.items():
            if capabilities(dec).needs_weights:
                self._save_decoder(root, name, dec)
        self.root, self.info = root, info
        return root

    # -- decoders --------------------------------------------------------------------------------
    def trained_decoders(self) -> list[str]:
        names = set(self._decoders)
        if self.root and (self.root / "decoders").is_dir():
            names |= {p.name for p in (self.root / "decoders").iterdir() if p.is_dir()}
        return sorted(names)

    def add_decoder(self, decoder: Decoder) -> None:
        """Attach a decoder (trained on this codec); written on :meth:`save` or now if the system has a root."""
        self._decoders[decoder.name] = decoder
        if self.root:
            self._save_decoder(self.root, decoder.name, decoder)

    def _save_decoder(self, root: Path, name: str, decoder: Decoder) -> None:
        path = root / "decoders" / name
        decoder.save_pretrained(path)
        if capabilities(decoder).trained_on_codec:
            cfg = read_json(path / "config.json")
            cfg["codec_fingerprint"] = self.fingerprint
            write_json(path / "config.json", cfg)

    def decoder(self, name: str) -> Decoder:
        """The decoder ``name`` ready for this codec; refuses weights trained on another codec."""
        if name in self._decoders:
            return self._decoders[name]
        cls: type[Decoder] = get_decoder_class(name)
        caps = capabilities(cls)
        path = None
        if caps.needs_weights:
            path = self.root / "decoders" / name if self.root else None
            if path is None or not (path / "config.json").is_file():
                trained = ", ".join(self.trained_decoders()) or "none"
                raise RdpflexError(
                    f"system {self.root or '(in memory)'} has no trained {name!r} decoder (trained: {trained}); "
                    f"train one with a recipe whose stage trains {name!r}"
                )
            got = read_json(path / "config.json").get("codec_fingerprint")
            if caps.trained_on_codec and got != self.fingerprint:
                raise FingerprintMismatchError(
                    f"decoder {name!r} in {path} was trained on codec {str(got)[:16]}, not on this system's "
                    f"codec {self.fingerprint[:16]}"
                )
        decoder = cls.from_pretrained(path, self.codec)
        self._decoders[name] = decoder
        return decoder

    def to(self, device: torch.device | str) -> "System":
        """Move the codec and loaded decoders; a device this machine lacks is a one-line :class:`RdpflexError`."""
        device = check_device(device)
        self.codec.to(device)
        for dec in self._decoders.values():
            if hasattr(dec, "to"):
                dec.to(device)
        return self
