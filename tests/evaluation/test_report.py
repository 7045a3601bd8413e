"""Helpers of the HTML report's plots."""

from rdpflex.evaluation.report import _close, _span


def test_close_is_relative_to_the_plotted_range():
    span = _span([(50.0, 29.0), (60.0, 30.0), (100.0, 24.0)])
    assert span == (50.0, 6.0)
    assert _close((54.0, 29.24), (54.5, 29.25), span)  # 1 % of the x range, 0.2 % of the y range
    assert not _close((54.0, 29.24), (58.0, 29.25), span)  # 8 % apart along x
    assert _close((1.0, 2.0), (1.0, 2.0), _span([(1.0, 2.0)]))  # a single point: no range, still close to itself
