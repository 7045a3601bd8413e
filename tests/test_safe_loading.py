"""No file a user was handed can run code: a scan of the package's loaders, and system folders
checked with one-line errors."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from rdpflex.errors import RdpflexError
from rdpflex.system import BUNDLED_DEMO_SYSTEM, System

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "rdpflex").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")])
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_loads(path: Path, root: Path = ROOT) -> list[str]:
    """Every pickle import, torch.load without weights_only=True, unsafe yaml/numpy load, hub load without
    use_safetensors=True."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            )
            if any(n.split(".")[0] in UNSAFE_MODULES for n in names):
                found.append(f"{where}: imports {', '.join(names)}")
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = ast.unparse(node.func.value)
        attr = node.func.attr
        if attr == "load" and owner == "torch" and not _is_true(_kw(node, "weights_only")):
            found.append(f"{where}: torch.load without weights_only=True")
        if attr == "load" and owner in ("np", "numpy") and _is_true(_kw(node, "allow_pickle")):
            found.append(f"{where}: numpy.load(allow_pickle=True)")
        if attr in ("load", "load_all", "unsafe_load") and owner == "yaml":
            found.append(f"{where}: yaml.{attr} (use yaml.safe_load)")
        if attr == "load" and owner == "torch.hub":
            found.append(f"{where}: torch.hub.load")
        # diffusers / transformers / any hub model: rdpflex's own decoder classes are called through `cls`
        if attr == "from_pretrained" and owner != "cls" and not _is_true(_kw(node, "use_safetensors")):
            found.append(f"{where}: {owner}.from_pretrained without use_safetensors=True")
    return found


def test_the_scanner_finds_each_unsafe_pattern(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text(
        "import pickle\nimport torch, yaml\ntorch.load('f')\ntorch.load('f', weights_only=False)\n"
        "yaml.load(s)\nUNet2DModel.from_pretrained('x')\nUNet2DModel.from_pretrained('x', "
        "use_safetensors=True)\n"
    )
    assert len(unsafe_loads(bad, tmp_path)) == 5


def test_the_package_has_no_unsafe_loads():
    found = [f for path in SOURCES for f in unsafe_loads(path)]
    assert not found, "\n".join(found)
    assert len(SOURCES) > 50  # the scan saw the package


@pytest.fixture
def system_dir(tmp_path) -> Path:
    dest = tmp_path / "sys"
    shutil.copytree(BUNDLED_DEMO_SYSTEM, dest)
    return dest


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("damage, load, expected", [
    (lambda d: (d / "codec" / "model.safetensors").unlink(), "system", r"codec is incomplete: model\.safetensors is missing"),
    (lambda d: (d / "codec" / "config.json").unlink(), "system", r"codec is incomplete: config\.json is missing"),
    (lambda d: (d / "system.json").unlink(), "system", r"is not an rdpflex system: system\.json not found"),
    (lambda d: (d / "system.json").write_text("{"), "system", r"cannot read .*system\.json"),
    (lambda d: (d / "codec" / "model.safetensors").write_bytes(b"\0" * 64), "system", r"is not a valid safetensors file"),
    (lambda d: _reshape(d / "codec" / "model.safetensors"), "system", r"codec does not match its config: .*size mismatch"),
    (lambda d: _perturb(d / "codec" / "model.safetensors"), "system", r"is corrupted: codec weights do not match the fingerprint"),
    (lambda d: torch.save({}, d / "codec" / "optimizer.bin"), "system", r"codec holds pickle file\(s\) optimizer\.bin: rdpflex loads safetensors only"),
    (lambda d: torch.save({}, d / "decoders" / "multirealism" / "pytorch_model.bin"), "multirealism",
     r"multirealism holds pickle file\(s\) pytorch_model\.bin: rdpflex loads safetensors only"),
    # one rule for pickles: component folders (cdiff, the idempotence prior) refuse them too, naming the file
    (lambda d: torch.save({}, d / "decoders" / "cdiff" / "unet" / "diffusion_pytorch_model.bin"), "cdiff",
     r"cdiff holds pickle file\(s\) unet/diffusion_pytorch_model\.bin: rdpflex loads safetensors only"),
    (lambda d: torch.save({}, d / "decoders" / "cdiff" / "model.pt"), "cdiff", r"cdiff holds pickle file\(s\) model\.pt: "),
    (lambda d: torch.save({}, d / "decoders" / "idempotence" / "prior" / "prior.ckpt"), "idempotence",
     r"idempotence holds pickle file\(s\) prior/prior\.ckpt: rdpflex loads safetensors only"),
    (lambda d: (d / "decoders" / "multirealism" / "model.safetensors").unlink(), "multirealism", r"multirealism is incomplete: model\.safetensors is missing"),
    (lambda d: _reshape(d / "decoders" / "multirealism" / "model.safetensors"), "multirealism", r"model\.safetensors does not match its config: size mismatch for "),
    (lambda d: _set_fingerprint(d / "decoders" / "multirealism" / "config.json"), "multirealism", r"was trained on codec 0000000000000000, not on this system's codec"),
])  # fmt: skip
def test_damaged_system_folders_give_one_line_errors(system_dir, damage, load, expected):
    damage(system_dir)
    with pytest.raises(RdpflexError) as exc_info:
        s = System.load(system_dir)
        if load != "system":
            s.decoder(load)
    assert __import__("re").search(expected, _one_line(exc_info)), _one_line(exc_info)


def _reshape(f: Path) -> None:
    state = load_file(str(f))
    k = next(k for k, v in state.items() if k.endswith("weight") and v.dim() == 4)
    state[k] = torch.zeros(state[k].shape[0] + 1, *state[k].shape[1:])
    save_file(state, str(f))


def _perturb(f: Path) -> None:
    state = load_file(str(f))
    k = next(k for k in state if k.endswith("weight"))
    state[k] = state[k] + 1e-3
    save_file(state, str(f))


def _set_fingerprint(f: Path) -> None:
    import json

    cfg = json.loads(f.read_text())
    cfg["codec_fingerprint"] = "0" * 64
    f.write_text(json.dumps(cfg))
