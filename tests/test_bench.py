from rdpflex.bench import bench_decoders, bench_exact_rate, bench_vs_compressai, to_markdown


def test_bench_vs_compressai_small():
    rows = bench_vs_compressai(size=(64, 64), N=8, M=12, repeats=1)
    assert len(rows) == 5
    assert all(r["compressai_ms"] > 0 and r["rdpflex_ms"] > 0 for r in rows)
    assert "byte-identical" in rows[0]["note"]
    md = to_markdown(rows, "t")
    assert md.count("\n|") >= 3


def test_bench_decoders_lists_mse(tiny_system_dir):
    rows = bench_decoders(tiny_system_dir, size=(64, 64), repeats=1)
    assert rows[0]["decoder"] == "mse" and rows[0]["ms_per_MP"] > 0


def test_bench_exact_rate_reports_the_cost(tiny_system_dir):
    rows = bench_exact_rate(tiny_system_dir, names=("astronaut", "coffee"), max_side=64)
    assert [r["image"].split()[0] for r in rows] == ["astronaut", "coffee", "mean"]
    assert all(r["float_bpp"] > 0 and r["exact_bpp"] > 0 for r in rows)
