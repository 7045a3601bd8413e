"""Where the pretrained metric networks' weights are found — never downloaded.

Two files, named as the libraries name them in the torch.hub cache::

    inception  weights-inception-2015-12-05-6726825d.pth  torch-fidelity's Inception-v3 (FID, KID, FID/256, KID/256)
    alexnet    alexnet-owt-7be5be79.pth                    torchvision's AlexNet, LPIPS' backbone

Lookup order: the function argument (``weights=`` of the metric), then the environment variable
(``RDPFLEX_INCEPTION_WEIGHTS`` / ``RDPFLEX_ALEXNET_WEIGHTS``), then
``torch.hub.get_dir()/checkpoints/<file>`` (``$TORCH_HOME/hub/checkpoints``). A missing file raises
:class:`~rdpflex.errors.WeightsMissingError` with one line naming the expected path and the URL.

Official or stand-in? Both file names end in the first 8 hex digits of the official file's sha256 (the
torch.hub convention, ``-<hex>.pth``). A file whose sha256 does not start with them is treated as
*stand-in* weights (see :mod:`rdpflex.metrics.stand_in`); results computed with it are labelled so.
Hashes are cached by (path, mtime, size), so a 100 MB file is hashed once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rdpflex.errors import RdpflexError, WeightsMissingError

# torch.hub's rule for the hash prefix inside a checkpoint's file name
_HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")


@dataclass(frozen=True)
class WeightsSpec:
    key: str
    #: what the weights are, for messages
    title: str
    file_name: str
    url: str
    env_var: str
    #: weights shipped inside an installed distribution: its import package (``file_name`` is then the
    #: path inside it) and the pip requirement that provides it; empty: the torch.hub cache
    package: str = ""
    requirement: str = ""
    #: the official file's full sha256, where its name carries no torch.hub hash prefix
    sha256: str = ""

    @property
    def hash_prefix(self) -> str:
        if self.sha256:
            return self.sha256
        m = _HASH_REGEX.search(self.file_name)
        assert m, self.file_name
        return m.group(1)

    def default_path(self) -> Path:
        """``torch.hub.get_dir()/checkpoints/<file_name>`` (honours ``$TORCH_HOME`` at call time), or the
        file inside the installed ``package``."""
        if self.package:
            spec = importlib.util.find_spec(self.package)
            if spec is None or not spec.submodule_search_locations:
                raise WeightsMissingError(
                    f"{self.title} weights not found: the package {self.package} is not installed "
                    f"(pip install {self.requirement}), or set {self.env_var} to a copy of {self.file_name}"
                )
            return Path(next(iter(spec.submodule_search_locations))) / self.file_name
        return Path(torch.hub.get_dir()) / "checkpoints" / self.file_name

    def resolve(self, path: str | os.PathLike | None = None) -> Path:
        """The weight file to use; :class:`WeightsMissingError` when it does not exist."""
        if path is not None and str(path) != "":
            return self._existing(Path(path).expanduser(), "given as an argument")
        env = os.environ.get(self.env_var, "").strip()
        if env:
            return self._existing(Path(env).expanduser(), f"given by ${self.env_var}")
        expected = self.default_path()
        if not expected.is_file() and self.package:
            raise WeightsMissingError(
                f"{self.title} weights not found: expected {expected} inside the installed {self.package} "
                f"(reinstall {self.requirement}, or set {self.env_var} to a local copy)"
            )
        if not expected.is_file():
            raise WeightsMissingError(
                f"{self.title} weights not found: expected {expected} (download {self.url} to that path, "
                f"or set {self.env_var} to a local copy); rdpflex never downloads"
            )
        return expected

    def _existing(self, path: Path, source: str) -> Path:
        if not path.is_file():
            raise WeightsMissingError(
                f"{self.title} weights not found at {path} ({source}); the official file is "
                f"{self.file_name} from {self.url}"
            )
        return path

    def is_stand_in(self, path: str | os.PathLike) -> bool:
        """True unless the file's sha256 starts with the official hash prefix."""
        return not sha256_of(path).startswith(self.hash_prefix)

    def resolves_to_stand_in(self, path: str | os.PathLike | None = None) -> bool:
        """Whether the weights found for ``path`` (see :meth:`resolve`) are stand-ins; False when none are found."""
        try:
            return self.is_stand_in(self.resolve(path))
        except RdpflexError:
            return False


INCEPTION = WeightsSpec(
    key="inception",
    title="Inception-v3 (torch-fidelity inception-v3-compat, for FID/KID)",
    file_name="weights-inception-2015-12-05-6726825d.pth",
    # torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3 (0.4.0)
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    env_var="RDPFLEX_INCEPTION_WEIGHTS",
)

ALEXNET = WeightsSpec(
    key="alexnet",
    title="AlexNet (torchvision, the LPIPS backbone)",
    file_name="alexnet-owt-7be5be79.pth",
    # torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    env_var="RDPFLEX_ALEXNET_WEIGHTS",
)

#: Shift-tolerant LPIPS (Ghildyal & Liu, ECCV 2022): the whole trained network ships in the wheel of
#: ``stlpips-pytorch`` 0.0.2 (anti-aliased AlexNet / VGG trunk and linear heads, trained on BAPPS)
STLPIPS_ALEX = WeightsSpec(
    key="stlpips-alex",
    title="ST-LPIPS (alex, shift-tolerant)",
    file_name="weights/vST0.0/alex_shift_tolerant.pth",
    url="https://pypi.org/project/stlpips-pytorch/0.0.2/",
    env_var="RDPFLEX_STLPIPS_WEIGHTS",
    package="stlpips_pytorch",
    requirement="stlpips-pytorch==0.0.2",
    sha256="b356b382f96010f77d085ee8343ecd9fd322d0a56e8de2b2d0549fafcad8b9ee",
)
STLPIPS_VGG = WeightsSpec(
    key="stlpips-vgg",
    title="ST-LPIPS (vgg, shift-tolerant)",
    file_name="weights/vST0.0/vgg_shift_tolerant.pth",
    url="https://pypi.org/project/stlpips-pytorch/0.0.2/",
    env_var="RDPFLEX_STLPIPS_VGG_WEIGHTS",
    package="stlpips_pytorch",
    requirement="stlpips-pytorch==0.0.2",
    sha256="44597da68f49c1837c100ff52299050f274d102eb102e5837178c79be6f0e250",
)

SPECS: dict[str, WeightsSpec] = {s.key: s for s in (INCEPTION, ALEXNET, STLPIPS_ALEX, STLPIPS_VGG)}

_lock = threading.Lock()
_sha_cache: dict[tuple[str, int, int], str] = {}
_checked: set[tuple[str, int, int]] = set()


def file_key(path: str | os.PathLike) -> tuple[str, int, int]:
    """(resolved path, mtime in ns, size): what the caches are keyed by."""
    p = Path(path).resolve()
    st = p.stat()
    return (str(p), st.st_mtime_ns, st.st_size)


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, cached by (path, mtime, size)."""
    key = file_key(path)
    with _lock:
        if key in _sha_cache:
            return _sha_cache[key]
    h = hashlib.sha256()
    with open(key[0], "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _lock:
        _sha_cache[key] = digest
    return digest


def clear_caches() -> None:
    """Forget cached hashes and validations (tests)."""
    with _lock:
        _sha_cache.clear()
        _checked.clear()


def load_state_dict(path: str | os.PathLike, spec: WeightsSpec) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)``: tensors only, never arbitrary pickled objects."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets a one-line error
        if "Unsupported global" in str(exc):
            why = "it holds pickled Python objects besides tensors (refused: weights are loaded with weights_only=True)"
        else:
            why = f"not a PyTorch checkpoint ({exc.__class__.__name__})"
        raise RdpflexError(f"{path} is not a loadable {spec.title} state dict: {why}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RdpflexError(f"{path} is not a {spec.title} state dict (expected a dict of tensors)")
    return state


def check_loadable(path: str | os.PathLike, spec: WeightsSpec) -> None:
    """Validate once per (path, mtime, size) that the file is a plain state dict.

    torch-fidelity itself loads its weights with ``weights_only=False``; checking with
    ``weights_only=True`` first means no arbitrary pickle from a user-supplied file is ever executed.
    """
    key = file_key(path)
    with _lock:
        if key in _checked:
            return
    load_state_dict(path, spec)
    with _lock:
        _checked.add(key)


def describe_weights() -> list[dict[str, Any]]:
    """Status of every metric network's weights (for ``compare`` headers and diagnostics)."""
    out = []
    for spec in SPECS.values():
        row: dict[str, Any] = {"key": spec.key, "file": spec.file_name, "url": spec.url, "env_var": spec.env_var}
        try:
            path = spec.resolve()
        except WeightsMissingError as exc:
            row.update(path=None, present=False, stand_in=None, error=str(exc))
        else:
            row.update(path=str(path), present=True, stand_in=spec.is_stand_in(path))
        out.append(row)
    return out
