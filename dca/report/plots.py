"""Figures of the confidences and the metrics.

Every function draws on a matplotlib ``Axes`` and returns it, so the book can arrange panels freely
(scikit-learn style: computation lives in :mod:`dca.evaluate.metrics`, plotting here). Pass ``ax=None`` to get
a new seaborn-styled (``whitegrid``) figure. All confidence axes are in percent; ε is in percentage
points. Histograms and the reliability diagram use the calibration bins of
:func:`dca.evaluate.metrics.bin_index` (ten 10-point bins, 0 % in the first and 100 % in the last).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from numpy.typing import ArrayLike, NDArray

from dca.evaluate.metrics import N_BINS, MetricInputError, bin_index, ece, reliability_table, validate

BEFORE_AFTER = ("before DCA", "after DCA")
CONFIDENCE_LABELS = {"c_v": "verbalized confidence $C_v$ (%)", "c_i": "internal confidence $C_i$ (%)"}
DIAGONAL_GID = "diagonal"


#: Resolution of the book's figures (PNG): sharp on high-density screens.
BOOK_DPI = 150


#: The narrowest a figure is shown on the book's pages (px): a phone 414 px wide, inside the landing
#: page's results card (the browser test measures it: 315 px).
COLUMN_PX_MIN = 315
#: The widest figure the book draws (inches): with :data:`MIN_FONT_PT`, its text is at least
#: :data:`MIN_TEXT_PX` on screen at :data:`COLUMN_PX_MIN` (a figure shrinks to its column).
MAX_FIGURE_IN = 4.8
#: The smallest font of any text in a figure (pt): ticks, legends, counts.
MIN_FONT_PT = 10.0
#: The smallest text on screen the book allows (px).
MIN_TEXT_PX = 9.0


def use_book_style() -> None:
    """Figures at :data:`BOOK_DPI` (on screen and saved), and fonts large enough that a figure of at
    most :data:`MAX_FIGURE_IN` inches shown :data:`COLUMN_PX_MIN` px wide has no text under
    :data:`MIN_TEXT_PX` px; the notebooks call this once.

    >>> use_book_style(); plt.rcParams["figure.dpi"] == plt.rcParams["savefig.dpi"] == BOOK_DPI
    True
    >>> MIN_FONT_PT * COLUMN_PX_MIN / (72 * MAX_FIGURE_IN) >= MIN_TEXT_PX
    True
    """
    plt.rcParams.update({"figure.dpi": BOOK_DPI, "savefig.dpi": BOOK_DPI, "font.size": 11,
                         "axes.titlesize": 11, "axes.labelsize": 11, "xtick.labelsize": MIN_FONT_PT,
                         "ytick.labelsize": MIN_FONT_PT, "legend.fontsize": MIN_FONT_PT,
                         "legend.title_fontsize": MIN_FONT_PT, "figure.titlesize": 11})


def text_px(fig: plt.Figure, display_px: float) -> float:
    """The height (px) on screen of the smallest visible text of ``fig`` when the figure is shown
    ``display_px`` wide: font size (pt) × display width / (72 × figure width in inches).

    >>> use_book_style(); fig, ax = plt.subplots(figsize=(4.0, 3.0)); _ = ax.set_title("t")
    >>> round(text_px(fig, 360), 2)
    12.5
    >>> plt.close(fig)
    """
    from matplotlib.text import Text

    fig.canvas.draw()  # tick labels exist only once drawn
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return float(min(sizes) * display_px / (72 * fig.get_figwidth())) if sizes else float("inf")


def panels(n: int, size: tuple[float, float] = (4.6, 3.6)) -> list[Axes]:
    """``n`` seaborn-styled axes, each in a figure of its own.

    One figure a panel lets the book lay the panels of a cell side by side where the screen is wide
    and stack them on a phone (tag the cell ``dca-panels``; ``book/_static/dca.css`` does the
    layout), where a single multi-panel image would shrink to unreadable ticks.

    >>> axes = panels(3); len(axes), len({id(ax.figure) for ax in axes})
    (3, 3)
    >>> plt.close("all")
    """
    if n < 1:
        raise ValueError(f"n={n!r}: at least one panel")
    with sns.axes_style("whitegrid"):
        return [plt.subplots(figsize=size, layout="constrained")[1] for _ in range(n)]


def _palette(k: int = 4) -> list:
    return sns.color_palette("colorblind", k)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    """``ax`` itself, or the axes of a new seaborn ``whitegrid`` figure when it is ``None``."""
    if ax is not None:
        return ax
    with sns.axes_style("whitegrid"):
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _confidences(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """One confidence array (percent), validated with the rules of :func:`dca.evaluate.metrics.validate`."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    validate(arr, arr, np.zeros(arr.size, dtype=bool))
    return arr


def _diagonal(ax: Axes, label: str) -> None:
    """Draw the line y = x over [0, 100] once per axes."""
    if not any(line.get_gid() == DIAGONAL_GID for line in ax.get_lines()):
        ax.plot([0, 100], [0, 100], ls="--", lw=1, color="0.35", label=label, gid=DIAGONAL_GID,
                zorder=3)


def _percent_axes(ax: Axes, xlabel: str, ylabel: str, square: bool = False) -> None:
    ax.set_xlim(-2, 102)
    ax.set_xticks(np.arange(0, 101, 20))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if square:
        ax.set_ylim(-2, 102)
        ax.set_yticks(np.arange(0, 101, 20))
        ax.set_aspect("equal")


def plot_confidence_scatter(ax: Axes | None, c_v: ArrayLike, c_i: ArrayLike, *,
                            correct: ArrayLike | None = None, alpha: float = 0.5,
                            size: float = 14.0) -> Axes:
    """Verbalized confidence against internal confidence, one point per question, with C_v = C_i.

    Parameters
    ----------
    ax : Axes or None
        Where to draw; ``None`` creates a figure.
    c_v, c_i : array_like of shape (N,)
        Confidences in percent.
    correct : array_like of shape (N,), optional
        Colour points by correct / wrong answer.
    alpha, size : float
        Marker transparency and area.

    Returns
    -------
    Axes
    """
    y = np.zeros(np.size(c_v), dtype=bool) if correct is None else correct
    c_v, c_i, y = validate(c_v, c_i, y)
    ax = _axes(ax)
    colors = _palette()
    groups = [(np.ones_like(y), "questions", colors[0])] if correct is None else \
        [(y, "correct", colors[2]), (~y, "wrong", colors[3])]
    for mask, name, color in groups:
        ax.scatter(c_i[mask], c_v[mask], s=size, alpha=alpha, color=color, edgecolor="none",
                   label=f"{name} (N = {int(mask.sum())})")
    _diagonal(ax, "$C_v = C_i$")
    _percent_axes(ax, CONFIDENCE_LABELS["c_i"], CONFIDENCE_LABELS["c_v"], square=True)
    ax.legend(loc="lower right", fontsize=MIN_FONT_PT)
    return ax


def _bin_shares(values: NDArray[np.float64], n_bins: int) -> NDArray[np.float64]:
    """Share of the values (percent) in each calibration bin; zeros when there are none."""
    counts = np.bincount(bin_index(values, n_bins), minlength=n_bins).astype(np.float64)
    return 100.0 * counts / max(1, values.size)


def plot_confidence_histograms(ax: Axes | None, before: ArrayLike, after: ArrayLike | None = None,
                               *, quantity: str = "c_v", names: Sequence[str] = BEFORE_AFTER,
                               n_bins: int = N_BINS) -> Axes:
    """Histogram of one confidence (C_v or C_i) before and, optionally, after DCA, side by side.

    Bins are 10 points wide (0–10, …, 90–100, with 100 % in the last bin); bar heights are the share
    of questions (%) so runs of different size compare directly. Call it once per quantity, e.g. on
    two panels: ``plot_confidence_histograms(axes[0], cv_before, cv_after, quantity="c_v")``.

    Parameters
    ----------
    ax : Axes or None
        Where to draw; ``None`` creates a figure.
    before, after : array_like of shape (N,)
        The confidences in percent (``after`` may be omitted).
    quantity : {"c_v", "c_i"}
        Which confidence this is, for the axis label.
    names : pair of str
        Legend names of the two runs.
    n_bins : int
        Number of equal-width bins.

    Returns
    -------
    Axes
    """
    if quantity not in CONFIDENCE_LABELS:
        raise ValueError(f"quantity={quantity!r}; choose one of {list(CONFIDENCE_LABELS)}")
    runs = [(names[0], _confidences("before", before))]
    if after is not None:
        runs.append((names[1], _confidences("after", after)))
    ax = _axes(ax)
    width = 100.0 / n_bins
    lows = np.arange(n_bins) * width
    for slot, ((name, values), color) in enumerate(zip(runs, _palette())):
        bar = width / len(runs)
        ax.bar(lows + bar * slot, _bin_shares(values, n_bins), width=bar * 0.92, align="edge",
               color=color, label=f"{name} (N = {values.size})")
    _percent_axes(ax, CONFIDENCE_LABELS[quantity], "share of questions (%)")
    ax.set_xticks(np.linspace(0, 100, n_bins + 1))
    _legend_above_data(ax, max((_bin_shares(v, n_bins).max() for _, v in runs if v.size), default=0.0))
    return ax


#: The share of an axes' height kept free above the tallest bar or line, for the legend (no legend over data).
LEGEND_HEADROOM = 0.42


def _legend_above_data(ax: Axes, top: float) -> None:
    """The legend in the upper right, in a band kept free of data: the y-axis reaches ``top`` (the
    highest value drawn) / (1 - :data:`LEGEND_HEADROOM`), so no bar or line runs under the legend.

    >>> ax = _axes(None); _ = ax.bar([0], [60.0], label="x"); _legend_above_data(ax, 60.0)
    >>> round(float(ax.get_ylim()[1]), 1), ax.get_legend() is not None
    (103.4, True)
    >>> plt.close("all")
    """
    if top > 0:
        ax.set_ylim(0, top / (1 - LEGEND_HEADROOM))
    ax.legend(loc="upper right", fontsize=MIN_FONT_PT)


def plot_reliability(ax: Axes | None, confidence: ArrayLike, correct: ArrayLike,
                     label: str = "confidence", *, n_bins: int = N_BINS, slot: int = 0,
                     n_slots: int = 1, show_counts: bool = True, color=None) -> Axes:
    """Reliability diagram: accuracy (%) in each confidence bin, with the bin counts.

    Bins are those of the ECE (:func:`dca.evaluate.metrics.bin_index`); an empty bin draws no bar. To show
    C_v and C_i on one axes, call twice with ``n_slots=2`` and ``slot=0`` then ``slot=1``: each
    bar takes its slot within the bin. The legend gives the ECE.

    Parameters
    ----------
    ax : Axes or None
        Where to draw; ``None`` creates a figure.
    confidence : array_like of shape (N,)
        Confidence in percent (C_v or C_i).
    correct : array_like of shape (N,)
        Whether each answer is correct.
    label : str
        Legend name of this confidence, e.g. ``"$C_v$"``.
    n_bins, slot, n_slots : int
        Number of bins; position of these bars among ``n_slots`` series sharing the axes.
    show_counts : bool
        Write the number of questions above each bar.
    color : matplotlib colour, optional
        Defaults to the ``slot``-th colour of the palette.

    Returns
    -------
    Axes
    """
    conf, _, y = validate(confidence, confidence, correct)
    if not 0 <= slot < n_slots:
        raise ValueError(f"slot={slot} must lie in [0, n_slots={n_slots})")
    ax = _axes(ax)
    table = reliability_table(conf, y, n_bins)
    filled = table[table["count"] > 0]  # no bar for an empty bin
    width = 100.0 / n_bins / n_slots
    left = filled["low"].to_numpy() + width * slot
    color = _palette()[slot % 4] if color is None else color
    score = ece(conf, y) if conf.size else float("nan")
    ax.bar(left, filled["accuracy"], width=width * 0.92, align="edge", color=color, alpha=0.85,
           label=f"{label} (ECE = {score:.3f})")
    if show_counts:
        for x, acc, count in zip(left, filled["accuracy"], filled["count"]):
            ax.text(x + width * 0.46, acc + 1.0, str(count), ha="center", va="bottom", fontsize=MIN_FONT_PT)
    _diagonal(ax, "perfect calibration")
    _percent_axes(ax, "confidence (%)", "accuracy in bin (%)", square=True)
    ax.set_ylim(-2, 110)
    ax.legend(loc="upper left", fontsize=MIN_FONT_PT)
    return ax


def _eps_values(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """ε in percentage points: finite and within [−100, 100], else :class:`MetricInputError`."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(arr) | (np.abs(arr) > 100)
    if bad.any():
        raise MetricInputError(f"{name} has {int(bad.sum())} values that are NaN or outside "
                               f"[-100, 100] at positions {np.flatnonzero(bad)[:10].tolist()}")
    return arr


def plot_eps_distribution(ax: Axes | None, eps_before: ArrayLike, eps_after: ArrayLike | None = None,
                          *, bin_width: float = 5.0, names: Sequence[str] = BEFORE_AFTER) -> Axes:
    """Distribution of ε = C_v − C_i (percentage points) before and, optionally, after DCA.

    Step histograms (share of questions, %) on a common grid from −100 to 100, with a solid line at
    ε = 0 (C_v equals C_i) and a dashed line at each run's mean ε.

    Parameters
    ----------
    ax : Axes or None
        Where to draw; ``None`` creates a figure.
    eps_before, eps_after : array_like of shape (N,)
        ε per question, e.g. from :func:`dca.evaluate.metrics.epsilon`.
    bin_width : float
        Histogram bin width in percentage points.
    names : pair of str
        Legend names of the two runs.

    Returns
    -------
    Axes
    """
    runs = [(names[0], _eps_values("eps_before", eps_before))]
    if eps_after is not None:
        runs.append((names[1], _eps_values("eps_after", eps_after)))
    ax = _axes(ax)
    edges = np.arange(-100.0, 100.0 + bin_width / 2, bin_width)
    ax.axvline(0.0, color="0.3", lw=1)
    for (name, eps), color in zip(runs, _palette()):
        if eps.size == 0:
            ax.plot([], [], color=color, label=f"{name} (N = 0)")
            continue
        ax.hist(eps, bins=edges, weights=np.full(eps.size, 100.0 / eps.size), histtype="step",
                lw=1.8, color=color, label=f"{name} (N = {eps.size}, mean {eps.mean():+.1f})")
        ax.axvline(eps.mean(), color=color, ls="--", lw=1)
    ax.set_xlim(-100, 100)
    ax.set_xlabel(r"$\varepsilon = C_v - C_i$ (percentage points)")
    ax.set_ylabel("share of questions (%)")
    heights = [np.histogram(eps, bins=edges)[0].max() * 100.0 / eps.size for _, eps in runs if eps.size]
    _legend_above_data(ax, max(heights, default=0.0))
    return ax


def plot_seed_dots(ax: Axes | None, per_dataset: dict[str, dict[str, list[tuple[float, float, float]]]],
                   ylabel: str, *, methods: Sequence[str] = ("vanilla", "dca")) -> Axes:
    """Per dataset, one dot per seed and method with its 95 % interval (vertical bar).

    ``per_dataset[dataset][method]`` is a list of ``(value, low, high)``, one per seed. Methods sit
    side by side within each dataset's slot, seeds spread slightly so that they do not overlap.
    """
    ax = _axes(ax, (6.0, 3.6))
    colors = _palette(max(2, len(methods)))
    names = list(per_dataset)
    width = 0.7 / max(1, len(methods))
    for k, method in enumerate(methods):
        first = True
        for x, name in enumerate(names):
            points = per_dataset[name].get(method, [])
            for s, (v, lo, hi) in enumerate(points):
                pos = x - 0.35 + width * (k + 0.5) + (s - (len(points) - 1) / 2) * width / (len(points) + 1)
                ax.errorbar([pos], [v], yerr=[[max(0.0, v - lo)], [max(0.0, hi - v)]] if np.isfinite(lo) else None,
                            fmt="o", ms=5, color=colors[k], capsize=2, lw=1,
                            label=method if first else None)
                first = False
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel("dataset (a dot per seed, in seed order)")
    ax.set_ylabel(ylabel)
    if names:
        ax.legend(frameon=False, fontsize=MIN_FONT_PT)
    return ax


def plot_logp_curves(ax: Axes | None, steps: ArrayLike, chosen: ArrayLike, rejected: ArrayLike, *,
                     label: str = "", color_index: int = 0) -> Axes:
    """The policy's summed log-probability of the chosen (solid) and of the rejected reply (dashed)
    against the optimiser step: likelihood displacement is both lines falling, the rejected faster.

    >>> ax = plot_logp_curves(None, [0, 10], [-9.5, -5.8], [-2.2, -8.6], label="DCA")
    >>> [line.get_label() for line in ax.get_lines()]
    ['DCA: chosen', 'DCA: rejected']
    >>> plt.close("all")
    """
    ax = _axes(ax, (4.6, 3.6))
    color = _palette(max(4, color_index + 1))[color_index]
    steps = np.asarray(steps, float)
    for values, style, what in ((chosen, "-", "chosen"), (rejected, "--", "rejected")):
        values = np.asarray(values, float)
        keep = np.isfinite(values)
        ax.plot(steps[keep], values[keep], style, marker="o", ms=3, color=color,
                label=f"{label}: {what}" if label else what)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("log p(reply), summed over its tokens")
    ax.legend(frameon=False, fontsize=MIN_FONT_PT)
    return ax


def legend_below(ax: Axes, ncol: int = 2) -> None:
    """The axes' legend under the plot, in ``ncol`` columns: with many lines, a legend inside the axes
    hides the curves it names.

    >>> ax = plot_logp_curves(None, [0, 10], [-9.5, -5.8], [-2.2, -8.6], label="DCA")
    >>> legend_below(ax); [t.get_text() for t in ax.get_legend().get_texts()]
    ['DCA: chosen', 'DCA: rejected']
    >>> plt.close("all")
    """
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, frameon=False, fontsize=MIN_FONT_PT)


def plot_dose_response(ax: Axes | None, share: ArrayLike, values: ArrayLike, *, label: str = "",
                       color_index: int = 0, ylabel: str = "", reference: dict[str, float] | None = None) -> Axes:
    """One metric against the share of the training questions an objective trained on (a
    dose-response), one line per call; ``reference`` draws horizontal dotted lines (a baseline, the
    model before training) named in the legend.

    >>> ax = plot_dose_response(None, [25, 50, 100], [0.1, 0.2, 0.3], label="dca", ylabel="ρ",
    ...                         reference={"vanilla": 0.24})
    >>> [line.get_label() for line in ax.get_lines()]
    ['dca', 'vanilla']
    >>> plt.close("all")
    """
    ax = _axes(ax, (4.6, 3.6))
    ax.plot(np.asarray(share, float), np.asarray(values, float), "-", marker="o", ms=5,
            color=_palette(max(4, color_index + 1))[color_index], label=label)
    for k, (name, value) in enumerate((reference or {}).items()):
        ax.axhline(value, ls=":", lw=1.5, color=("0.35", "0.6", "0.8")[k % 3], label=name)
    ax.set_xlabel("training questions used (%)")
    ax.set_xticks([25, 50, 100])
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=MIN_FONT_PT)
    return ax


def figure_html(fig: plt.Figure, alt: str) -> str:
    """``fig`` as an ``<img>`` element (PNG at :data:`BOOK_DPI`, inline) with the alt text ``alt``: the
    notebooks display it where a figure's alt text must say what it shows (an image output of a
    notebook gets its file name as alt text).

    >>> fig, ax = plt.subplots(figsize=(1, 1)); html = figure_html(fig, 'a "line" & <dots>')
    >>> html.startswith('<img src="data:image/png;base64,'), 'alt="a &quot;line&quot; &amp; &lt;dots&gt;"' in html
    (True, True)
    >>> plt.close(fig)
    """
    import base64
    import html
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=BOOK_DPI)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}" class="dca-figure">'
