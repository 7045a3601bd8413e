"""Shared pieces of the benchmarks: interleaved timing, peak memory, machine description, output."""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """Where and with what a benchmark ran (recorded beside every figure)."""
    import compressai
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "host": platform.node() or "host",
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "compressai": getattr(compressai, "__version__", "?"),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def describe_machine(m: dict[str, Any]) -> str:
    gpu = f"GPU {m['gpu']}" if m["gpu"] else "no GPU"
    return (
        f"{m['date']}, {m['host']}: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, {gpu}; "
        f"Python {m['python']}, torch {m['torch']}, compressai {m['compressai']}; load average {m['load_average']}"
    )


def interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1, sync: Callable[[], None] | None = None
) -> dict[str, float]:
    """Median wall seconds of each function, run in turn (A, B, C, A, B, C...) so load drifts hit all alike."""
    return {k: statistics.median(v) for k, v in interleaved_times(fns, repeats, warmup, sync).items()}


def paired_ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    """Median over rounds of ``num``'s time over ``den``'s in the same round (robust to load drifts between rounds)."""
    return statistics.median(a / b for a, b in zip(times[num], times[den]))


def interleaved_times(
    fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1, sync: Callable[[], None] | None = None
) -> dict[str, list[float]]:
    """Wall seconds of every round of :func:`interleaved`."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            if sync:
                sync()
            t = time.perf_counter()
            fn()
            if sync:
                sync()
            times[key].append(time.perf_counter() - t)
    return times


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _release_free_memory() -> None:
    """Return freed heap memory to the OS (glibc ``malloc_trim``), so RSS growth shows live allocations."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_rss_increase(fn: Callable[[], Any], interval: float = 0.002) -> int:
    """Bytes the resident set grew at its peak while ``fn`` ran (sampled; Linux ``/proc``; 0 elsewhere).

    Freed memory is first handed back to the OS: after a warm-up run the allocator would otherwise
    serve ``fn`` from memory it already holds, and the resident set would not grow."""
    gc.collect()
    _release_free_memory()
    base = peak = _rss_bytes()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_bytes())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return max(0, max(peak, _rss_bytes()) - base)


def to_markdown(rows: list[dict], title: str) -> str:
    """A markdown table of ``rows`` (dicts with the same keys) under a ``###`` title."""
    if not rows:
        return ""
    keys = list(rows[0])
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [f"### {title}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
