"""The metric registry: built-ins, plugin metrics through the register_metrics hook, errors."""

from __future__ import annotations

import textwrap

import pytest

from rdpflex.errors import RdpflexError, UnknownPluginError
from rdpflex.metrics import (
    DEFAULT_IMAGE_METRICS,
    DEFAULT_SET_METRICS,
    ImageMetric,
    Metric,
    SetMetric,
    all_metrics,
    available,
    builtin_metrics,
    check_metric,
    compute_image_metrics,
    get_metric,
    split_by_kind,
)
from rdpflex.plugins import reset_plugins

from .helpers import to_tensor, u8_image

BUILTINS = ["psnr", "ms_ssim", "st-lpips", "st-lpips-vgg", "lpips", "detail", "fid", "kid", "fid256", "kid256", "swd"]


def test_builtins_follow_the_protocol():
    metrics = builtin_metrics()
    assert list(metrics) == BUILTINS
    # every metric by default but ST-LPIPS with the VGG trunk (59 MB, slower; on request)
    assert list(DEFAULT_IMAGE_METRICS) + list(DEFAULT_SET_METRICS) == [n for n in BUILTINS if n != "st-lpips-vgg"]
    for name, m in metrics.items():
        check_metric(m)
        assert isinstance(m, Metric) and m.name == name and m.description
        assert isinstance(m, ImageMetric if m.kind == "image" else SetMetric)
    assert [n for n, m in metrics.items() if m.higher_is_better] == ["psnr", "ms_ssim", "detail"]
    assert split_by_kind(BUILTINS) == (BUILTINS[:6], BUILTINS[6:])


def test_unknown_metric_lists_the_available_ones():
    with pytest.raises(UnknownPluginError) as info:
        get_metric("fdi")
    msg = str(info.value)
    assert "'fdi'" in msg and all(n in msg for n in BUILTINS) and "\n" not in msg
    assert available("psnr") is get_metric("psnr")


def _plugin(tmp_path, monkeypatch, modname, body):
    (tmp_path / f"{modname}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("RDPFLEX_PLUGIN_MODULES", modname)
    reset_plugins()


def test_plugin_metric_is_listed_and_computed(tmp_path, monkeypatch):
    _plugin(
        tmp_path,
        monkeypatch,
        "rdpflex_test_metric_plugin",
        """
        from rdpflex.hookspecs import hookimpl

        class MeanAbs:
            name = "mean_abs"
            kind = "image"
            higher_is_better = False
            description = "mean absolute difference"
            stand_in = False

            def compute(self, x, x_hat):
                return float((x - x_hat).abs().mean())

        @hookimpl
        def register_metrics(register):
            register(MeanAbs())
        """,
    )
    assert list(all_metrics()) == BUILTINS + ["mean_abs"]
    x = to_tensor(u8_image(32, 32, 0))
    res = compute_image_metrics(x, x, ["psnr", "mean_abs"])
    assert list(res) == ["psnr", "mean_abs"] and res["mean_abs"].value == 0.0
    assert res["mean_abs"].label == "mean_abs" and not res["mean_abs"].stand_in


def test_plugin_may_not_shadow_a_builtin(tmp_path, monkeypatch):
    _plugin(
        tmp_path,
        monkeypatch,
        "rdpflex_test_shadow_plugin",
        """
        from rdpflex.hookspecs import hookimpl

        class Fake:
            name = "psnr"; kind = "image"; higher_is_better = True; description = "fake"; stand_in = False
            def compute(self, x, x_hat):
                return 0.0

        @hookimpl
        def register_metrics(register):
            register(Fake())
        """,
    )
    with pytest.raises(RdpflexError, match="'psnr'.*built-in"):
        all_metrics()


def test_malformed_plugin_metric_is_reported(tmp_path, monkeypatch):
    _plugin(
        tmp_path,
        monkeypatch,
        "rdpflex_test_bad_plugin",
        """
        from rdpflex.hookspecs import hookimpl

        class Bad:
            name = "bad"; kind = "pixel"; higher_is_better = True; description = "?"; stand_in = False

        @hookimpl
        def register_metrics(register):
            register(Bad())
        """,
    )
    with pytest.raises(RdpflexError, match="'bad' has kind 'pixel'; allowed: image, set"):
        all_metrics()
