"""Tests of dca.report.plots: every figure renders to a PNG; bars follow the ECE bins."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dca.evaluate.metrics import MetricInputError, ece  # noqa: E402
from dca.report.plots import (  # noqa: E402
    plot_confidence_histograms,
    plot_confidence_scatter,
    plot_eps_distribution,
    plot_reliability,
    plot_seed_dots,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def run():
    rng = np.random.default_rng(0)
    c_i = rng.uniform(0, 100, 200)
    c_v = np.clip(np.round(c_i + rng.normal(10, 15, 200)), 0, 100)
    return c_v, c_i, rng.random(200) < c_i / 100


def save_png(ax, path):
    ax.figure.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    return data


def test_scatter(run, tmp_path):
    c_v, c_i, y = run
    ax = plot_confidence_scatter(None, c_v, c_i, correct=y)
    save_png(ax, tmp_path / "scatter.png")
    assert ax.get_xlabel() == "internal confidence $C_i$ (%)"
    assert ax.get_ylabel() == "verbalized confidence $C_v$ (%)"
    assert [len(c.get_offsets()) for c in ax.collections] == [int(y.sum()), int((~y).sum())]
    diagonal = [line for line in ax.get_lines() if line.get_gid() == "diagonal"]
    assert len(diagonal) == 1 and list(diagonal[0].get_xdata()) == [0, 100]


def test_scatter_draws_on_given_axes(run):
    fig, axes = plt.subplots(1, 2)
    assert plot_confidence_scatter(axes[1], run[0], run[1]) is axes[1]
    assert len(axes[1].collections) == 1 and len(axes[0].collections) == 0


def test_histograms_before_after(run, tmp_path):
    c_v, c_i, _ = run
    ax = plot_confidence_histograms(None, before=c_v, after=c_i, quantity="c_v")
    save_png(ax, tmp_path / "hist.png")
    before, after = ax.containers
    assert len(before) == len(after) == 10
    heights = [bar.get_height() for bar in before]
    assert sum(heights) == pytest.approx(100)  # shares in percent
    assert heights[-1] == pytest.approx(100 * np.mean(c_v >= 90))  # 100 % falls in the last bin
    assert ax.get_xlabel() == "verbalized confidence $C_v$ (%)"
    assert ax.get_ylabel() == "share of questions (%)"


def test_histogram_single_run_and_bad_quantity():
    ax = plot_confidence_histograms(None, [0, 100, 100, 50], quantity="c_i")
    assert [b.get_height() for b in ax.containers[0]][::9] == [25.0, 50.0]
    with pytest.raises(ValueError, match="quantity"):
        plot_confidence_histograms(None, [50], quantity="cv")
    with pytest.raises(MetricInputError, match="outside"):
        plot_confidence_histograms(None, [150])


def test_reliability_empty_bins_draw_no_bar(tmp_path):
    conf = np.array([5, 8, 55, 95, 100, 100])  # bins 0, 5 and 9 only
    y = np.array([False, True, True, True, True, False])
    ax = plot_reliability(None, conf, y, label="$C_v$")
    save_png(ax, tmp_path / "reliability.png")
    bars = ax.containers[0]
    assert [b.get_x() for b in bars] == [0.0, 50.0, 90.0]
    assert [b.get_height() for b in bars] == pytest.approx([50.0, 100.0, 200 / 3])
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "3"]  # bin counts
    assert f"ECE = {ece(conf, y):.3f}" in bars.get_label()
    assert ax.get_xlabel() == "confidence (%)" and ax.get_ylabel() == "accuracy in bin (%)"


def test_reliability_two_series_share_axes(run, tmp_path):
    c_v, c_i, y = run
    fig, ax = plt.subplots()
    plot_reliability(ax, c_v, y, "$C_v$", slot=0, n_slots=2)
    plot_reliability(ax, c_i, y, "$C_i$", slot=1, n_slots=2)
    save_png(ax, tmp_path / "reliability2.png")
    first, second = ax.containers
    assert first[0].get_width() == pytest.approx(4.6) and second[0].get_x() == pytest.approx(5.0)
    assert sum(line.get_gid() == "diagonal" for line in ax.get_lines()) == 1
    with pytest.raises(ValueError, match="slot"):
        plot_reliability(ax, c_v, y, slot=2, n_slots=2)


def test_eps_distribution(run, tmp_path):
    c_v, c_i, _ = run
    eps_before, eps_after = c_v - c_i, (c_v - c_i) / 2
    ax = plot_eps_distribution(None, eps_before, eps_after)
    save_png(ax, tmp_path / "eps.png")
    assert len(ax.patches) == 2  # one step outline per run
    assert "percentage points" in ax.get_xlabel() and ax.get_ylabel() == "share of questions (%)"
    means = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--")
    assert means == pytest.approx(sorted([eps_before.mean(), eps_after.mean()]))
    with pytest.raises(MetricInputError, match="eps_after has 1 values"):
        plot_eps_distribution(None, [1.0], [np.nan])


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_plots_accept_empty_runs(tmp_path):
    """An empty run draws labelled axes with no data: no bars, N = 0 in the legend, the full range."""
    eps = plot_eps_distribution(None, [])
    assert not eps.patches and legend_texts(eps) == ["before DCA (N = 0)"]
    assert eps.get_xlim() == (-100.0, 100.0) and "percentage points" in eps.get_xlabel()
    save_png(eps, tmp_path / "empty_eps.png")

    hist = plot_confidence_histograms(None, [])
    assert all(bar.get_height() == 0 for bar in hist.patches)  # the bins are drawn, all empty
    assert legend_texts(hist) == ["before DCA (N = 0)"] and hist.get_ylabel() == "share of questions (%)"
    save_png(hist, tmp_path / "empty_hist.png")

    rel = plot_reliability(None, [], [])
    assert not rel.patches  # no bin holds a question: no bar
    assert legend_texts(rel) == ["perfect calibration", "confidence (ECE = nan)"]
    assert rel.get_xlim() == (-2.0, 102.0) and rel.get_ylabel() == "accuracy in bin (%)"
    save_png(rel, tmp_path / "empty_rel.png")
    assert all((tmp_path / f"empty_{n}.png").stat().st_size > 0 for n in ("eps", "hist", "rel"))


def test_seed_dots_one_dot_per_seed_and_method_with_axis_titles(tmp_path):
    per_dataset = {"MMLU": {"vanilla": [(20.0, 18.0, 22.0), (21.0, 19.0, 23.0)], "dca": [(19.0, 17.0, 21.0)]},
                   "ARC": {"vanilla": [(18.0, float("nan"), float("nan"))], "dca": []}}
    ax = plot_seed_dots(None, per_dataset, "mean |eps| (points)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["MMLU", "ARC"]
    assert ax.get_xlabel().startswith("dataset") and ax.get_ylabel() == "mean |eps| (points)"
    assert len(ax.containers) == 4  # one errorbar per seed and method: 2 + 1 + 1 + 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["vanilla", "dca"]
    save_png(ax, tmp_path / "dots.png")


# --------------------------------------------------------------------------------------------------
# Figure text on screen: figure size x font size


def _figure_sizes():
    """Every figure size the book draws: ``figsize=(w, h)`` and ``panels(n, (w, h))`` in the chapter
    notebooks and the results card, and the default panel size."""
    import re
    from pathlib import Path

    from dca.paths import ROOT

    sizes = [(4.6, 3.6)]  # dca.report.plots.panels' default
    for path in [*sorted((ROOT / "notebooks").glob("0*.py")), *sorted((ROOT / "dca" / "report").glob("*.py"))]:
        text = Path(path).read_text()
        sizes += [(float(w), float(h)) for w, h in re.findall(r"figsize=\(([\d.]+),\s*([\d.]+)\)", text)]
        sizes += [(float(w), float(h)) for w, h in re.findall(r"panels\(\d+,\s*\(([\d.]+),\s*([\d.]+)\)\)", text)]
    return sizes


def test_every_figure_of_the_book_is_narrow_enough_for_its_text_to_stay_9_px():
    from dca.report.plots import COLUMN_PX_MIN, MAX_FIGURE_IN, MIN_FONT_PT, MIN_TEXT_PX

    sizes = _figure_sizes()
    assert len(sizes) > 10
    too_wide = [s for s in sizes if s[0] > MAX_FIGURE_IN]
    assert not too_wide, f"figures wider than {MAX_FIGURE_IN} in: their text would shrink below {MIN_TEXT_PX} px"
    assert MIN_FONT_PT * COLUMN_PX_MIN / (72 * MAX_FIGURE_IN) >= MIN_TEXT_PX


def test_no_figure_text_is_set_smaller_than_the_book_allows():
    import re
    from pathlib import Path

    from dca.paths import ROOT

    for path in [*sorted((ROOT / "notebooks").glob("0*.py")), *sorted((ROOT / "dca" / "report").glob("*.py"))]:
        text = Path(path).read_text()
        assert not re.search(r"fontsize=['\"](x{0,2}-?small)['\"]", text), path.name
        assert not [v for v in re.findall(r"fontsize=([\d.]+)", text) if float(v) < 10], path.name


@pytest.mark.parametrize("size", [(4.6, 3.6), (4.8, 3.6), (4.6, 3.2), (4.2, 3.4)])
def test_drawn_figures_have_no_text_under_9_px_at_the_narrowest_column(run, size):
    """What the figures draw (ticks, legends, counts, titles), in the book's style, measured."""
    from dca.report.plots import COLUMN_PX_MIN, MIN_TEXT_PX, text_px, use_book_style

    use_book_style()
    c_v, c_i, correct = run
    draw = [lambda ax: plot_confidence_histograms(ax, c_v, c_v[::-1], quantity="c_v"),
            lambda ax: plot_confidence_scatter(ax, c_v, c_i, correct=correct),
            lambda ax: plot_reliability(ax, c_v, correct, "$C_v$"),
            lambda ax: plot_eps_distribution(ax, c_v - c_i, c_i - c_v)]
    for fn in draw:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        fn(ax)
        ax.set_title("a title")
        assert text_px(fig, COLUMN_PX_MIN) >= MIN_TEXT_PX, fn
        plt.close(fig)


def test_no_legend_over_data_in_the_histograms():
    """The legend of the confidence histograms and of the gap distribution sits in a band no bar or
    line reaches (the 48 % bar of a collapsed run included)."""
    import numpy as np

    from dca.report.plots import plot_confidence_histograms, plot_eps_distribution, use_book_style

    use_book_style()
    collapsed = [48.0] * 8 + [70.0, 30.0]
    hist = plot_confidence_histograms(None, [90.0, 80.0, 100.0, 70.0] * 3, collapsed)
    eps = plot_eps_distribution(None, np.linspace(-40, 40, 30), np.full(30, -2.0))
    for ax in (hist, eps):
        ax.figure.canvas.draw()
        legend = ax.get_legend().get_window_extent()
        drawn = [p.get_window_extent() for p in ax.patches] + [
            line.get_window_extent() for line in ax.get_lines() if line.get_visible() and len(line.get_xdata()) > 2]
        assert not [b for b in drawn if b.height > 0 and legend.overlaps(b)], ax.get_legend_handles_labels()[1]
    plt.close("all")
