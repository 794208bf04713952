"""Figures checked by their content (issue 18), read back from the matplotlib Figures the plot functions
build: axis limits hold every plotted value (and 1x on speedup axes, with a 1x tick), bars of a speedup
rise from 1x, no text outside the canvas, legends outside the data, the same series in the same colour
in every figure, printed labels instead of internal names, captions naming model, workload, system and
mapping, one normalisation point for relative lines with the ideal-scaling line, a zoomed row-hit axis,
each published band with its own legend entry, and byte-identical files when `pimsim plot` reruns.

The results come from the shipped experiment files (their `plots:` entries as shipped), cut to small
models and short workloads so the module runs in seconds."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from pimsim.experiments import LocalExecutor, run_experiment  # noqa: E402
from pimsim.experiments import plots as plots_mod  # noqa: E402
from pimsim.experiments import style  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = {"label": "prompt 16 + 32 new", "kind": "generate", "prompt": 16, "generate": 32}
CUTS = {  # shipped experiment -> the models it keeps
    "pimgpt_speedup": ["gpt2-small", "gpt3-small", "gpt2-medium"],
    "mapping_compare": ["gpt2-small", "gpt2-medium"],
    "sweep_channels": ["gpt2-small", "gpt2-xl"],  # gpt2-xl does not fit 4 channels: a failed point
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Results folders of the cut shipped experiments (plots not drawn yet)."""
    out = {}
    for name, models in CUTS.items():
        data = yaml.safe_load((REPO / "experiments" / f"{name}.yaml").read_text())
        data.update(models=models, workloads=[WORKLOAD])
        d = tmp_path_factory.mktemp(name)
        spec = d / f"{name}.yaml"
        spec.write_text(yaml.safe_dump(data, sort_keys=False))
        run_experiment(spec, d / "out", executor=LocalExecutor(1), progress=False, plots=False, log=lambda m: None)
        out[name] = d / "out"
    return out


@pytest.fixture(scope="module")
def figures(folders) -> dict[str, object]:
    """name -> the Figure each plot function saved (drawn through the real save path)."""
    from pimsim.experiments import redraw

    figs: dict[str, object] = {}
    real = plots_mod._save

    def keep(fig, out, name):
        figs[name] = fig
        return real(fig, out, name)

    mp = pytest.MonkeyPatch()
    mp.setattr(plots_mod, "_save", keep)
    try:
        for d in folders.values():
            redraw(d)
    finally:
        mp.undo()
    assert set(figs) == {"speedup", "per_token", "mappings", "channels", "channels_relative"}
    return figs


# ---------------------------------------------------------------- what each axes draws

def _bars(ax) -> list:
    return [p for c in ax.containers if isinstance(c, BarContainer) for p in c.patches]


def _plotted_y(ax) -> list[float]:
    """Every y value the axes draws: bar bottoms and tops, error-bar ends, line points, shaded bands,
    published bands (axhspan)."""
    ys: list[float] = []
    for p in _bars(ax):
        ys += [p.get_y(), p.get_y() + p.get_height()]
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer) or getattr(c, "errorbar", None) is not None:
            eb = c if isinstance(c, ErrorbarContainer) else c.errorbar
            for coll in eb.lines[2]:
                ys += [y for seg in coll.get_segments() for y in seg[:, 1]]
            if eb.lines[0] is not None:
                ys += list(np.asarray(eb.lines[0].get_ydata(), dtype=float))
    for ln in ax.lines:
        if ln.get_gid() in ("parity",) or (ln.get_gid() or "").startswith("band:"):
            continue
        if ln.get_transform().contains_branch(ax.transData):
            ys += list(np.asarray(ln.get_ydata(), dtype=float))
    for coll in ax.collections:
        if isinstance(coll, PolyCollection) and not isinstance(coll, LineCollection):
            for path in coll.get_paths():
                ys += list(path.vertices[:, 1])
    for p in ax.patches:
        if (p.get_gid() or "").startswith("published:"):
            ys += [p.get_y(), p.get_y() + p.get_height()]
    ys = [y for y in ys if np.isfinite(y)]
    if ax.get_yscale() == "log":  # a bar from 0 on a log axis rises from the axis floor by design
        ys = [y for y in ys if y > 0]
    return ys


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # plt.close detached the canvas the figure was saved with
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends + [sf for s in fig.subfigs for sf in s.legends]
            for t in leg.get_texts()]


def _legends(fig) -> list:
    return list(fig.legends) + [leg for s in fig.subfigs for leg in s.legends]


def _titles(fig) -> str:
    parts = [fig.get_suptitle()] + [s.get_suptitle() for s in fig.subfigs]
    return "\n".join(p for p in parts if p)


# ---------------------------------------------------------------- axis limits

@pytest.mark.parametrize("name", ["speedup", "per_token", "mappings", "channels", "channels_relative"])
def test_axis_limits_hold_every_plotted_value(figures, name):
    fig = figures[name]
    for ax in fig.axes:
        ys = _plotted_y(ax)
        assert ys, f"{name}: {ax.get_title()} draws nothing"
        lo, hi = ax.get_ylim()
        assert lo <= min(ys) * (1 + 1e-9) and max(ys) <= hi * (1 + 1e-9), (name, ax.get_title(), lo, hi, min(ys), max(ys))


def test_speedup_axes_include_1x_with_a_tick_and_bars_rise_from_1x(figures):
    for ax in figures["speedup"].axes:
        lo, hi = ax.get_ylim()
        assert lo < 1.0 < hi
        assert 1.0 in [t for t in ax.get_yticks() if lo <= t <= hi], ax.get_title()
        labels = {t.get_text() for t in ax.get_yticklabels() if t.get_text()}
        assert "1x" in labels and not any("10^" in s or "times" in s for s in labels), labels
        bars = _bars(ax)
        assert bars and all(p.get_y() == 1.0 for p in bars)  # from parity, never from the axis floor


def test_log_only_where_values_span_a_decade():
    assert style.choose_scale([1.0, 2.0, 5.0]) == "linear"
    assert style.choose_scale([1.0, 12.0]) == "log"
    assert style.choose_scale([0.961, 0.985]) == "zoom"
    assert style.choose_scale([1.0, 2.0], force_log=True) == "log"


def test_row_hit_rate_panel_is_zoomed_points_not_bars(figures):
    ax = next(a for a in figures["mappings"].axes if a.get_title() == "row-hit rate")
    ys = _plotted_y(ax)
    lo, hi = ax.get_ylim()
    assert 0.9 < min(ys) and lo > 0.5 and hi - lo < 0.2  # zoomed where values cluster (was 0-1)
    assert not _bars(ax)  # a bar on a cut axis would misstate its length
    assert "does not start at 0" in ax.get_ylabel()


def test_relative_lines_share_one_reference_and_show_ideal_scaling(figures):
    ax = figures["channels_relative"].axes[0]
    data = {ln.get_label(): dict(zip(ln.get_xdata(), ln.get_ydata())) for ln in ax.lines}
    ideal = data.pop("ideal linear scaling")
    assert ideal == pytest.approx({4.0: 2.0, 8.0: 1.0, 16.0: 0.5, 32.0: 0.25})
    assert set(data) == {"GPT-2 small", "GPT-2 XL"}
    # GPT-2 XL has no 4-channel point (does not fit): every line is normalised at 8 channels, not its first
    for label, pts in data.items():
        assert pts[8.0] == pytest.approx(1.0), label
    assert 4.0 not in data["GPT-2 XL"] and data["GPT-2 small"][4.0] > 1.5
    assert "relative to 8 PIM channels" in ax.get_ylabel() and "(s)" not in ax.get_ylabel()


# ---------------------------------------------------------------- nothing outside the canvas or on the data

@pytest.mark.parametrize("name", ["speedup", "per_token", "mappings", "channels", "channels_relative"])
def test_no_text_outside_the_canvas(figures, name):
    fig = figures[name]
    r = _renderer(fig)
    canvas = fig.bbox
    tight = fig.get_tightbbox(r)  # inches
    assert tight.x0 >= -0.01 and tight.y0 >= -0.01, (name, tight)
    assert tight.x1 <= fig.get_figwidth() + 0.01 and tight.y1 <= fig.get_figheight() + 0.01, (name, tight)
    undrawn = set()  # labels of ticks outside the view limits: matplotlib does not draw them
    for ax in fig.axes:
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not (min(lo, hi) <= tick.get_loc() <= max(lo, hi)):
                    undrawn |= {id(tick.label1), id(tick.label2)}
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip() or id(t) in undrawn:
            continue
        bb = t.get_window_extent(r)
        assert (bb.x0 >= canvas.x0 - 1 and bb.y0 >= canvas.y0 - 1 and bb.x1 <= canvas.x1 + 1
                and bb.y1 <= canvas.y1 + 1), (name, t.get_text()[:60], bb, canvas)


@pytest.mark.parametrize("name", ["speedup", "per_token", "mappings", "channels", "channels_relative"])
def test_legends_lie_outside_every_axes(figures, name):
    fig = figures[name]
    r = _renderer(fig)
    legends = _legends(fig)
    assert legends and not any(ax.get_legend() for ax in fig.axes)
    for leg in legends:
        lb = leg.get_window_extent(r)
        for ax in fig.axes:
            assert not lb.overlaps(ax.get_window_extent(r)), (name, ax.get_title())


def test_notes_are_not_covered(figures):
    """The footnote (validated bands, failed points, identical models) overlaps no legend or axes."""
    fig = figures["channels"]
    r = _renderer(fig)
    notes = [t for t in fig.findobj(Text) if t.get_gid() == "footnote"]
    assert len(notes) == 1 and "failed and are not drawn" in notes[0].get_text()
    nb = notes[0].get_window_extent(r)
    for other in [*fig.axes, *_legends(fig)]:
        assert not nb.overlaps(other.get_window_extent(r))


# ---------------------------------------------------------------- colours and labels

def _bar_colours(fig) -> dict[str, str]:
    out = {}
    for ax in fig.axes:
        for c in ax.containers:
            if isinstance(c, BarContainer) and c.patches:
                out[c.get_label()] = to_hex(c.patches[0].get_facecolor(), keep_alpha=False)
    return out


def test_same_machine_same_colour_in_every_figure(figures):
    speed = {k.removeprefix("over "): v for k, v in _bar_colours(figures["speedup"]).items()}
    per_token = _bar_colours(figures["per_token"])
    shared = set(speed) & set(per_token)
    assert shared >= {"NVIDIA T4 (CUDA graph)", "NVIDIA T4 (PyTorch eager)", "NVIDIA H100 SXM (CUDA graph)",
                      "Intel Xeon Gold 6154 (PyTorch eager)"}
    for label in shared:
        assert speed[label] == per_token[label], label
    assert len(set(per_token.values())) == len(per_token)  # every series its own colour within a figure
    lines = {}
    for name in ("channels", "channels_relative"):
        for ln in figures[name].axes[0].lines:
            if ln.get_label() != "ideal linear scaling":
                lines.setdefault(ln.get_label(), set()).add(to_hex(ln.get_color()))
    assert all(len(c) == 1 for c in lines.values()), lines
    assert to_hex(style.color_of("all-pim")) == per_token["PIM-GPT (all on PIM)"]


def test_no_internal_names_in_legends_and_ticks(figures):
    internal = ("all-pim", "t4 (graph)", "h100-sxm", "xeon-gold-6154", "attn_asic", "dram.channels", "gpt2-small")
    for name, fig in figures.items():
        texts = _legend_texts(fig) + [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
        texts += [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]
        for t in texts:
            assert not any(bad in t for bad in internal), (name, t)
    assert "PIM-GPT (all on PIM)" in _legend_texts(figures["per_token"])


def test_titles_state_model_workload_system_and_mapping(figures):
    for name, fig in figures.items():
        title = _titles(fig)
        assert "16 + 32 tokens, batch 1" in title, (name, title)
        assert "PIM-GPT: GDDR6-AiM" in title and "mapping: " in title, (name, title)
        assert "GPT-2 small" in title or "models" in title, (name, title)
        assert not any(exp in title for exp in CUTS), (name, title)  # no file names
    assert "swept: PIM channels 4-32" in _titles(figures["channels"])


def test_each_published_band_has_its_own_legend_entry(figures):
    texts = _legend_texts(figures["speedup"])
    for expected in ("published PIM-GPT speedup over NVIDIA T4: 41-137x",
                     "published PIM-GPT speedup over Intel Xeon Gold 6154: 631-1074x",
                     "published PIM-GPT energy efficiency over NVIDIA T4: 123-383x",
                     "published PIM-GPT energy efficiency over Intel Xeon Gold 6154: 320-602x"):
        assert texts.count(expected) == 1, expected
    ax_energy = figures["speedup"].axes[1]
    hatches = {p.get_gid(): p.get_hatch() for p in ax_energy.patches if (p.get_gid() or "").startswith("published:")}
    assert len(hatches) == 2 and len(set(hatches.values())) == 2  # overlapping bands stay apart


def test_identical_models_are_explained(figures):
    notes = [t.get_text() for t in figures["speedup"].findobj(Text) if t.get_gid() == "footnote"]
    assert any("GPT-2 small and GPT-3 small give identical results: the same layer shapes (12 layers, hidden 768"
               in " ".join(n.split()) for n in notes), notes


def test_error_bands_still_drawn_on_every_comparison_bar(figures):
    for name in ("speedup", "per_token"):
        for ax in figures[name].axes:
            for c in ax.containers:
                if isinstance(c, BarContainer):
                    assert c.errorbar is not None and c.errorbar.lines[2], (name, c.get_label())


# ---------------------------------------------------------------- deterministic files

def test_pimsim_plot_twice_gives_byte_identical_files(folders, cli):
    d = folders["pimgpt_speedup"]
    assert cli("plot", d)[0] == 0
    first = {p.name: p.read_bytes() for p in sorted(d.glob("*")) if p.suffix in (".png", ".svg")}
    assert cli("plot", d)[0] == 0
    second = {p.name: p.read_bytes() for p in sorted(d.glob("*")) if p.suffix in (".png", ".svg")}
    assert set(first) == {"speedup.png", "speedup.svg", "per_token.png", "per_token.svg"}
    for name in first:
        assert first[name] == second[name], name
    svg = first["speedup.svg"].decode()
    assert "<dc:date>" not in svg
    assert b"pimsim" in first["speedup.png"][:4096]  # fixed PNG metadata (Software)


# ---------------------------------------------------------------- one experiment per results folder

def test_run_of_another_experiment_into_a_results_folder_is_refused(folders, cli, tmp_path):
    import shutil

    d = tmp_path / "res"
    shutil.copytree(folders["pimgpt_speedup"], d)
    before = sorted(p.name for p in d.iterdir())
    other = yaml.safe_load((REPO / "experiments" / "mapping_compare.yaml").read_text())
    other.update(models=["gpt2-small"], workloads=[WORKLOAD])
    spec = tmp_path / "other.yaml"
    spec.write_text(yaml.safe_dump(other, sort_keys=False))
    rc, out, err = cli("run", spec, "--out", d, "--quiet")
    assert rc == 2
    assert (f"--out {d}: this results folder holds experiment 'pimgpt_speedup' ({d / 'results.sqlite'}); "
            f"refusing to run experiment 'mapping_compare' into it") in err
    assert sorted(p.name for p in d.iterdir()) == before  # nothing written, nothing mixed


def test_plot_clears_the_outputs_an_earlier_plot_wrote_and_this_one_did_not(folders, cli, tmp_path):
    import shutil

    d = tmp_path / "res"
    shutil.copytree(folders["pimgpt_speedup"], d)
    assert cli("plot", d)[0] == 0
    assert (d / "speedup.png").is_file() and (d / "speedup.csv").is_file()
    data = yaml.safe_load((REPO / "experiments" / "pimgpt_speedup.yaml").read_text())
    data["plots"] = [p for p in data["plots"] if p.get("name") == "per_token"]
    spec = tmp_path / "only_per_token.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    rc, out, err = cli("plot", d, "--spec", spec)
    assert rc == 0
    assert not (d / "speedup.png").exists() and not (d / "speedup.svg").exists() and not (d / "speedup.csv").exists()
    assert (d / "per_token.png").is_file() and (d / "results.csv").is_file() and (d / "results.sqlite").is_file()
    assert f"removed stale {d / 'speedup.png'}" in err
