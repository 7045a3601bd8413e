"""Where a system comes from: a local directory, a system bundled with the package, or the Hugging Face Hub.

A system reference (``--system``, ``decoder.system`` in a recipe, :meth:`rdpflex.system.System.load`) is,
in this order (a local directory wins, as in diffusers):

1. an existing local directory;
2. ``rdpflex:NAME``: a system shipped inside the package (``rdpflex:demo-system``), wherever it is installed;
3. a Hub repo id ``OWNER/NAME``: downloaded with :func:`huggingface_hub.snapshot_download` into the Hugging
   Face cache (``HF_HUB_CACHE`` / ``HF_HOME``), weights and text only (:data:`ALLOW_PATTERNS`: never a
   pickle), then loaded from there like any local system. With ``HF_HUB_OFFLINE=1`` only the cache is read.

Anything else is returned as a path, so the caller reports it as a missing directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from rdpflex.errors import RdpflexError

ASSETS = Path(__file__).parent / "assets"
BUNDLED_PREFIX = "rdpflex:"
#: what a system repo holds, and all that is downloaded or uploaded: safetensors weights, JSON configs, the card
ALLOW_PATTERNS = ["*.safetensors", "*.json", "*.md", "*.yaml"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9_.\-]+$")


class HubApi(Protocol):
    """The two calls of :class:`huggingface_hub.HfApi` that :func:`push_folder` makes (a fake in tests)."""

    def create_repo(self, repo_id: str, *, private: bool | None = ..., exist_ok: bool = ...) -> Any: ...

    def upload_folder(
        self, *, repo_id: str, folder_path: str | Path, commit_message: str | None = ..., allow_patterns: Any = ...
    ) -> Any: ...


def is_repo_id(ref: str) -> bool:
    """``OWNER/NAME`` as the Hub spells repo ids (one slash, no ``--`` or ``..``)."""
    return bool(_REPO_ID.match(ref)) and "--" not in ref and ".." not in ref and len(ref) <= 96


def bundled_systems() -> list[str]:
    """References of the systems shipped inside the package (``rdpflex:demo-system``)."""
    if not ASSETS.is_dir():
        return []
    return [BUNDLED_PREFIX + p.name for p in sorted(ASSETS.iterdir()) if (p / "system.json").is_file()]


def hub_cache(cache_dir: str | Path | None = None) -> Path:
    """The Hugging Face cache a download reads and fills."""
    if cache_dir is not None:
        return Path(cache_dir)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def resolve_system_dir(ref: str | Path, cache_dir: str | Path | None = None, revision: str | None = None) -> Path:
    """The local directory of the system ``ref`` (see the module docstring); downloads a Hub repo when needed."""
    path = Path(ref)
    if path.is_dir():
        return path
    text = str(ref)
    if text.startswith(BUNDLED_PREFIX):
        bundled = ASSETS / text.removeprefix(BUNDLED_PREFIX)
        if text in bundled_systems():
            return bundled
        raise RdpflexError(f"no bundled system {text!r}; bundled: {', '.join(bundled_systems()) or 'none'}")
    if is_repo_id(text):
        return download_system(text, cache_dir, revision)
    return path


def download_system(repo_id: str, cache_dir: str | Path | None = None, revision: str | None = None) -> Path:
    """Snapshot of the Hub repo ``repo_id`` (weights, configs, card) in the Hugging Face cache."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from rdpflex import __version__

    cache = hub_cache(cache_dir)
    where = f"{repo_id!r} is not a local directory"
    try:
        return Path(
            snapshot_download(
                repo_id,
                revision=revision,
                cache_dir=cache,
                allow_patterns=ALLOW_PATTERNS,
                library_name="rdpflex",
                library_version=__version__,
            )
        )
    except LocalEntryNotFoundError:
        offline = (
            " (HF_HUB_OFFLINE=1: nothing is downloaded)" if constants.HF_HUB_OFFLINE else " (the Hub is unreachable)"
        )
        raise RdpflexError(
            f"{where}, and the Hugging Face repo {repo_id} is not in the cache {cache}{offline}; "
            "download it once online, or pass a local system directory"
        ) from None
    except GatedRepoError:
        raise RdpflexError(
            f"{where}, and the Hugging Face repo {repo_id} is gated: accept its terms on the Hub"
        ) from None
    except RepositoryNotFoundError:
        raise RdpflexError(
            f"{where}, and there is no Hugging Face repo {repo_id} (or it is private: `hf auth login`)"
        ) from None
    except RevisionNotFoundError:
        raise RdpflexError(f"the Hugging Face repo {repo_id} has no revision {revision!r}") from None
    except (HfHubHTTPError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RdpflexError(f"{where}, and downloading the Hugging Face repo {repo_id} failed: {first}") from None


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    api: HubApi | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
) -> Any:
    """Upload a saved system folder (weights, configs, ``README.md``) to the Hub repo ``repo_id``, creating it
    if needed; returns the commit info. ``api``: an :class:`huggingface_hub.HfApi` (default: logged-in user)."""
    if not is_repo_id(repo_id):
        raise RdpflexError(f"{repo_id!r} is not a Hugging Face repo id; expected OWNER/NAME")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(library_name="rdpflex")
    api.create_repo(repo_id, private=private, exist_ok=True)
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        commit_message=commit_message or "Upload rdpflex system",
        allow_patterns=ALLOW_PATTERNS,
    )
