"""Imports run one way (docs/architecture.md, "Layers"): a test over the import graph, read with ``ast``.

Every ``import`` counts, at module level or inside a function (a function-level import is still a
dependency: it must not hide a cycle or a layering violation); imports under ``if TYPE_CHECKING:``
count too. The lazy commands of :data:`rdpflex.cli.LAZY_COMMANDS` count as imports of the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT, ROOT / "plugins")  # rdpflex/ and plugins/rdpflex_plugins/

#: layers, lowest first: a module may import modules of its own layer or of a layer listed before it
#: (never one listed after it). First matching prefix wins; every module must match one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "rdpflex.errors",
            "rdpflex.limits",
            "rdpflex.latent",
            "rdpflex.hookspecs",
            "rdpflex.weights",
            "rdpflex.images",
            "rdpflex.samples",
            "rdpflex.components",
            "rdpflex.cards",
        ),
    ),
    ("codecs", ("rdpflex.codecs",)),
    ("decoding", ("rdpflex.tiling", "rdpflex.differentiable", "rdpflex.bitstream", "rdpflex.decoders")),
    ("registry", ("rdpflex.plugins", "rdpflex.registry")),
    ("system", ("rdpflex.hub", "rdpflex.model_card", "rdpflex.system")),
    ("pipeline", ("rdpflex.pipeline", "rdpflex.runtime")),
    ("metrics", ("rdpflex.metrics",)),
    ("train", ("rdpflex.train",)),
    ("plugins", ("rdpflex_plugins",)),
    ("tools", ("rdpflex.evaluation", "rdpflex.determinism", "rdpflex.testing", "rdpflex.plugin_template")),
    ("bench", ("rdpflex.bench",)),
    (
        "commands",
        (
            "rdpflex.cli_options",
            "rdpflex.evaluation.commands",
            "rdpflex.train.commands",
            "rdpflex.train.launch",
            "rdpflex.bench.commands",
        ),
    ),
    ("cli", ("rdpflex.cli",)),
]
#: the package itself (``rdpflex/__init__.py``: the version and the error classes) sits with the foundation
PACKAGE = "rdpflex"
#: layers that may not import each other although one is listed before the other: the built-in decoder
#: plugins are loaded through entry points, never imported by rdpflex itself, and tools do not train
#: (only the benchmarks time training)
FORBIDDEN: dict[str, set[str]] = {
    "tools": {"plugins", "train"},
    "bench": {"plugins"},
    "commands": {"plugins"},
    "cli": {"plugins"},
}
#: cycles another change removes (trainers registered through hooks); an entry that is no longer a cycle fails
KNOWN_CYCLES: list[set[str]] = []
#: the core of the issue's rule, spelled out: these never import evaluation, train, cli, bench or plugins
CORE_LAYERS = ("foundation", "codecs", "decoding", "registry", "system", "pipeline")


def _modules() -> dict[str, Path]:
    mods = {}
    for base in SOURCES:
        for path in sorted(base.glob("rdpflex*/**/*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ``MODULES`` that ``import name`` loads (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            target = _resolve(name)
            if target is not None and target != module and not module.startswith(f"{target}."):
                found.add(target)  # a package's own __init__ is not a dependency of its submodules
    return found


def _lazy_commands() -> set[str]:
    """Modules named in ``LAZY_COMMANDS`` of rdpflex/cli.py (read from the source, not imported)."""
    tree = ast.parse(MODULES["rdpflex.cli"].read_text())
    for node in tree.body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "LAZY_COMMANDS":
            table = ast.literal_eval(node.value)
            return {_resolve(spec.partition(":")[0]) for spec, _ in table.values()} - {None}
    raise AssertionError("rdpflex/cli.py defines no LAZY_COMMANDS")


def graph() -> dict[str, set[str]]:
    edges = {m: _imports(m, p) for m, p in MODULES.items()}
    edges["rdpflex.cli"] |= _lazy_commands()
    return edges


def layer(module: str) -> str:
    if module == PACKAGE:
        return "foundation"
    best = None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(f"{prefix}.")) and (best is None or len(prefix) > len(best[1])):
                best = (name, prefix)
    if best is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")
    return best[0]


RANK = {name: k for k, (name, _) in enumerate(LAYERS)}


def violations(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(edges.items()):
        lm = layer(module)
        for target in sorted(targets):
            lt = layer(target)
            if RANK[lt] > RANK[lm] or lt in FORBIDDEN.get(lm, set()):
                out.append(f"{module} ({lm}) imports {target} ({lt})")
    return out


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(module)


def test_imports_follow_the_layers():
    assert violations(graph()) == []


def test_core_imports_no_evaluation_train_cli_bench_or_plugins():
    edges = graph()
    outside = ("rdpflex.evaluation", "rdpflex.train", "rdpflex.cli", "rdpflex.bench", "rdpflex_plugins")
    bad = [
        f"{m} -> {t}"
        for m, ts in edges.items()
        if layer(m) in CORE_LAYERS
        for t in ts
        if any(t == p or t.startswith(f"{p}.") for p in outside)
    ]
    assert bad == []


def test_no_import_cycle():
    found = cycles(graph())
    unknown = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    assert unknown == [], "import cycles"
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert stale == [], "no longer cycles: remove them from KNOWN_CYCLES"


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"rdpflex.codecs": {"rdpflex.plugins"}}, ["rdpflex.codecs (codecs) imports rdpflex.plugins (registry)"]),
        (
            {"rdpflex.evaluation.compare": {"rdpflex.train.recipe"}},
            ["rdpflex.evaluation.compare (tools) imports rdpflex.train.recipe (train)"],
        ),
        ({"rdpflex.pipeline": {"rdpflex.system"}}, []),
    ],
)
def test_the_checks_catch_a_violation(edges, expected):
    assert violations(edges) == expected


def test_the_checks_catch_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
