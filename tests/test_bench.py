"""Smoke tests of `rdpflex bench`: tiny sizes, one repeat, no timing asserts."""

import json
import math
import time

import pytest
from click.testing import CliRunner

from rdpflex.bench.codec import bench_codec, bench_exact_rate, sample_image
from rdpflex.bench.common import interleaved, peak_rss_increase, to_markdown
from rdpflex.bench.decoders import bench_decoders
from rdpflex.bench.train import bench_train


def test_bench_codec_small_rows_and_byte_parity(tiny_system_dir):
    result = bench_codec(("mbt2018-mean", "msh"), ((64, 64),), repeats=1, system_dir=tiny_system_dir)
    assert [r["model"] for r in result["time"]] == ["mbt2018-mean", "msh"]
    assert all(r["strings_identical"] for r in result["time"])
    assert all(r["float_enc_ratio"] > 0 and r["exact_dec_ratio"] > 0 for r in result["time"])
    sizes = result["size"]
    assert len(sizes) == 3 and sizes[-1]["weights"] == "trained"
    terms = ("estimate_y_B", "estimate_z_B", "scale_table_y_B", "cdf_quant_y_B", "cdf_quant_z_B", "rans_framing_B")
    for r in sizes:  # the decomposition adds up to the file, byte for byte
        assert abs(sum(r[t] for t in terms) - r["strings_B"]) < 1e-6 * r["strings_B"] + 1e-6
        assert (
            r["file_v2_B"] == r["strings_B"] + r["container_v2_B"]
            and r["file_v3_B"] == r["strings_B"] + r["container_v3_B"]
        )
        assert r["per_image_v3_B"] < r["per_image_v2_B"] == 51 and r["container_v3_B"] < r["container_v2_B"]
    assert to_markdown(result["time"], "t").count("\n|") >= 3


def test_coded_bits_and_finer_table_match_the_real_coder():
    """The ideal code length under the quantised CDFs is within rANS framing of the real string, and a
    finer scale table's strings decode to the same symbols."""
    import torch
    from compressai.entropy_models import GaussianConditional
    from compressai.models.base import get_scale_table

    from rdpflex.bench.overhead import coded_bits, finer_table

    g = torch.Generator().manual_seed(0)
    scales = torch.rand(1, 8, 16, 16, generator=g) * 3 + 0.05
    y = torch.randn(1, 8, 16, 16, generator=g) * scales * 1.5
    y[0, 0, 0, :4] = torch.tensor([40.0, -60.0, 300.0, -5000.0])  # escape-coded outliers
    for gc in (GaussianConditional(get_scale_table().tolist()), None):
        if gc is None:
            gc = finer_table(GaussianConditional(get_scale_table().tolist()), 256)
        else:
            gc.update()
        idx = gc.build_indexes(scales)
        (s,) = gc.compress(y, idx)
        bits, escapes = coded_bits(gc, gc.quantize(y, "symbols"), idx)
        assert escapes >= 4 and 0 <= 8 * len(s) - bits < 8 * 12
        assert torch.equal(gc.decompress([s], idx), gc.quantize(y, "dequantize"))


def test_sample_image_has_the_requested_size():
    assert sample_image("coffee", (512, 768)).shape == (1, 3, 512, 768)
    assert sample_image("astronaut", (64, 64)).shape == (1, 3, 64, 64)


def test_bench_decoders_ratio_to_mse_and_batches(tiny_system_dir):
    rows = bench_decoders(tiny_system_dir, size=(64, 64), batches=(1, 2), repeats=1)
    assert [(r["decoder"], r["batch"]) for r in rows] == [("mse", 1), ("mse", 2)]
    assert all(r["ms_per_MP"] > 0 and r["ratio_to_mse"] > 0 and r["peak_MiB"] >= 0 for r in rows)


def test_bench_decoders_gpu_variants_run_on_cpu(tiny_system_dir):
    """The GPU code paths (bf16 autocast, channels_last, torch.compile) smoke-tested on CPU
    (torch.compile through its 'eager' backend: dynamo without a C++ build)."""
    rows = bench_decoders(
        tiny_system_dir,
        size=(64, 64),
        batches=(1,),
        repeats=1,
        variants=("bf16", "channels_last", "compile"),
        compile_backend="eager",
    )
    assert [r["variant"] for r in rows] == ["bf16", "channels_last", "compile"]
    assert all(r["ms_per_MP"] > 0 for r in rows)


@pytest.mark.slow
def test_bench_decoders_all_families_of_the_demo_system():
    """Every trained family of the bundled system at its main settings (cdiff: 4, 16, 50 steps); 40 s."""
    rows = bench_decoders(None, size=(64, 64), batches=(1,), repeats=1)
    assert [r["decoder"] for r in rows] == ["mse", "cdiff", "cdiff", "cdiff", "idempotence", "multirealism"]
    assert [r["options"].split(", ")[1] for r in rows if r["decoder"] == "cdiff"] == ["steps=4", "steps=16", "steps=50"]
    assert all(r["ratio_to_mse"] > 0 for r in rows)


def test_bench_decoders_multirealism_of_the_demo_system():
    rows = bench_decoders(None, size=(64, 64), batches=(1,), repeats=1, decoders=("multirealism",))
    assert [(r["decoder"], r["options"]) for r in rows] == [("mse", ""), ("multirealism", "beta=2.56")]


def test_bench_exact_rate_reports_the_cost(tiny_system_dir):
    rows = bench_exact_rate(tiny_system_dir, names=("astronaut", "coffee"), max_side=64)
    assert [r["image"].split()[0] for r in rows] == ["astronaut", "coffee", "mean"]
    assert all(r["float_bpp"] > 0 and r["exact_bpp"] > 0 for r in rows)


def test_bench_train_runs_a_tiny_recipe():
    rows = bench_train(("tiny",), scaling=False, table=(("tiny", "codec", "tiny/codec", ()),))
    assert len(rows) == 1 and rows[0]["stage"] == "codec" and rows[0]["processes"] == 1
    # one or two tiny steps are within start-up noise: a rate, or NaN when the longer run was not slower
    assert rows[0]["steps_per_s"] > 0 or math.isnan(rows[0]["steps_per_s"])


def test_steps_per_second_is_the_rate_of_the_extra_steps(monkeypatch):
    import rdpflex.bench.train as train

    times = {2: 5.0, 6: 7.0}
    monkeypatch.setattr(train, "run_steps", lambda recipe, overrides, steps, *a: times[steps])
    assert train.steps_per_second("r", (), 2, 6) == 2.0  # 4 steps in 2 s; start-up cancels
    times[6] = 4.0  # start-up noise larger than the extra steps: no rate, not a huge one
    assert math.isnan(train.steps_per_second("r", (), 2, 6))


def test_interleaved_and_peak_memory():
    calls = []
    t = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=2, warmup=0)
    assert calls == ["a", "b", "a", "b"] and set(t) == {"a", "b"}

    def hold_64_mib() -> None:
        buf = bytearray(64 << 20)  # zero-filled: every page touched
        time.sleep(0.05)  # long enough for the sampler to see it
        del buf

    assert (48 << 20) <= peak_rss_increase(hold_64_mib) <= (128 << 20)


def test_bench_codec_command_prints_and_writes_json(tiny_system_dir, tmp_path):
    from rdpflex.cli import cli

    out = tmp_path / "codec.json"
    r = CliRunner().invoke(
        cli,
        [
            "bench",
            "codec",
            "--system",
            str(tiny_system_dir),
            "--models",
            "msh",
            "--sizes",
            "64x64",
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "rdpflex bench codec" in r.output and "| msh |" in r.output
    payload = json.loads(out.read_text())
    assert payload["bench"] == "codec" and payload["machine"]["torch"] and payload["tables"]


def test_bench_without_subcommand_runs_all_three(monkeypatch, tmp_path):
    import rdpflex.bench.codec as codec
    import rdpflex.bench.decoders as decoders
    import rdpflex.bench.train as train
    from rdpflex.cli import cli

    monkeypatch.setattr(codec, "bench_codec", lambda *a, **k: {"time": [{"model": "x"}], "size": [{"model": "x"}]})
    monkeypatch.setattr(codec, "bench_exact_rate", lambda *a, **k: [{"image": "y"}])
    monkeypatch.setattr(decoders, "bench_decoders", lambda *a, **k: [{"decoder": "mse"}])
    monkeypatch.setattr(train, "bench_train", lambda *a, **k: [{"stage": "codec"}])
    r = CliRunner().invoke(cli, ["bench", "--json", str(tmp_path / "all.json"), "-o", str(tmp_path / "b.md")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "all-codec.json",
        "all-decoders.json",
        "all-train.json",
        "b.md",
    ]
    assert (tmp_path / "b.md").read_text().count("## rdpflex bench ") == 3


def test_bench_fastpaths_rows(tiny_system_dir):
    from rdpflex.bench.fastpaths import bench_fastpaths

    rows = bench_fastpaths(tiny_system_dir, size=(64, 64), batch=2, repeats=1)
    assert [r["fast path"] for r in rows] == ["inference_mode", "batched entropy decode", "no repeated model loading"]
    assert all(r["on/off"] > 0 for r in rows)


def test_bench_train_stage_table_validates():
    """Every stage of the bench table (quick and paper widths, CPU overrides) is a valid recipe."""
    from rdpflex.bench.train import COMMON, STAGES
    from rdpflex.train.recipe import load_recipe

    for width, _, recipe, overrides in STAGES:
        r = load_recipe(recipe, [*COMMON, *overrides]).recipe
        assert width == "quick" or (r.train.batch_size == 1 and r.data.crop == 64)
    assert {s for _, s, _, _ in STAGES} >= {
        "codec",
        "joint",
        "decoder (multirealism)",
        "decoder (cdiff)",
        "prior (idempotence)",
    }


def test_parse_importtime_reads_the_top_level_heavy_imports():
    from rdpflex.bench.startup import parse_importtime

    log = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       120 |        120 |     torch._C",
            "import time:      2000 |    2100000 |   torch",
            "import time:       300 |     900000 | compressai",
            "import time:        50 |         50 | click",
            "some other stderr line",
        ]
    )
    assert parse_importtime(log) == {"torch": 2.1, "compressai": 0.9}
    assert parse_importtime("import time:  10 | 10 | click") == {}


def test_bench_startup_measures_fresh_processes():
    from rdpflex.bench.startup import bench_startup

    rows = bench_startup(
        1, (("rdpflex --help", ("--help",)), ("compress", ("compress", "{image}", "-o", "{out}/a.rdp")))
    )
    help_row, compress_row = rows
    assert help_row["median_s"] > 0 and not help_row["imports_torch"] and not help_row["imports_compressai"]
    assert compress_row["imports_torch"] and compress_row["torch_import_s"] > 0
