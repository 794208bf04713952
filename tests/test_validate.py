"""`pimsim validate`: the error rules, the tolerance file (a reason for every family), the report a full run
gives (no check crashes; model-correctness families pass), selection, exit codes 0/1/2, reference
fallback, and the generated markdown blocks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from pimsim.errors import ConfigError
from pimsim.validate import FAMILIES, KINDS, MODEL_CORRECTNESS, load_tolerances, run_validation, select, write_doc
from pimsim.validate.checks import checker_samples
from pimsim.validate.references import locate, shared_reference_dir
from pimsim.validate.tolerances import default_path, error_of, within

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_reference_dir()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"reference folder {SHARED} is absent")
FAST = ["dram.unit_cost", "dram.peak_mac_bandwidth"]  # families that run in well under a second


@pytest.fixture(scope="module")
def report():
    """One full validation, shared by the tests that read it (about 25 s on two cores)."""
    return run_validation()


# ------------------------------------------------------------------------------------------ error rules

@pytest.mark.parametrize("value, ref, kind, expected", [
    (110.0, (100.0, 100.0), "relative", 0.10),
    (90.0, (100.0, 100.0), "absolute", -10.0),
    (50.0, (41.0, 137.0), "relative", 0.0),          # inside a range: 0
    (20.5, (41.0, 137.0), "relative", -0.5),         # below: from the low end
    (274.0, (41.0, 137.0), "relative", 1.0),         # above: from the high end
    (0.25, (None, 0.20), "absolute", 0.05),          # at-most bound
    (0.10, (None, 0.20), "absolute", 0.0),
    (3.0, (4.0, None), "relative", -0.25),           # at-least bound
    (0.0, (0.0, 0.0), "relative", 0.0),
])
def test_error_against_point_range_and_bounds(value, ref, kind, expected):
    assert error_of(value, ref, kind) == pytest.approx(expected)


def test_non_finite_values_never_pass():
    assert math.isnan(error_of(math.nan, (1.0, 1.0), "relative"))
    assert math.isnan(error_of(math.inf, (1.0, 1.0), "absolute"))
    assert not within(math.nan, (None, None))
    assert within(0.1, (-0.1, 0.1)) and within(0.1 + 1e-15, (-0.1, 0.1)) and not within(0.1001, (-0.1, 0.1))
    assert within(5.0, (0.0, None)) and not within(-1e-6, (0.0, None))


# ------------------------------------------------------------------------------------------ tolerance file

def _shipped_tolerances() -> dict:
    """tolerances.yaml with the tolerances.d/ files merged in: one file a --tolerances run can be given."""
    from pimsim.validate.tolerances import extra_paths
    data = yaml.safe_load(default_path().read_text())
    for extra in extra_paths():
        data["checks"].update(yaml.safe_load(extra.read_text())["checks"])
    return data


def test_every_family_has_a_tolerance_with_a_reason():
    tol = load_tolerances(families=list(FAMILIES))
    assert list(tol) == list(FAMILIES)  # same families, same order as the report
    for fam, t in tol.items():
        assert t.kind in KINDS
        assert len(t.reason.split()) >= 8, fam
        assert t.source and t.title


def test_published_figures_are_reference_comparisons_and_nothing_else_is():
    tol = load_tolerances(families=list(FAMILIES))
    for fam, t in tol.items():
        # published study figures: PIM-GPT's, and the peer studies' (peer_studies.md: IANUS, CENT, ...)
        published = fam.startswith(("pimgpt.", "npu.ianus.", "cent.", "attacc.", "neupims.", "ianus."))
        assert (t.kind == "reference-comparison") == published, fam


@needs_shared
def test_published_values_in_the_tolerance_file_are_quoted_from_the_paper_notes():
    """Each published value kept in tolerances.yaml appears in pim_gpt_paper.md as written there."""
    text = (SHARED / "pim_gpt_paper.md").read_text()
    expected = {"pimgpt.speedup.t4-graph": "41-137x", "pimgpt.speedup.t4-eager": "41-137x",
                "pimgpt.speedup.xeon": "631-1074x", "pimgpt.energy_efficiency.t4-graph": "123-383x",
                "pimgpt.energy_efficiency.t4-eager": "123-383x", "pimgpt.energy_efficiency.xeon": "320-602x",
                "pimgpt.non_vmm_share": "1.16%", "pimgpt.row_hit_rate": "~98%", "pimgpt.asic_clock": "~20% slower"}
    tol = load_tolerances()
    for fam, quoted in expected.items():
        assert quoted in text, quoted
        v = tol[fam].value
        if isinstance(v, tuple) and None not in v:
            assert f"{v[0]:g}-{v[1]:g}x" == quoted
        elif isinstance(v, tuple):
            assert f"{100 * v[1]:g}%" in quoted
        else:
            assert f"{100 * v:g}%" in quoted


@pytest.mark.parametrize("edit, match", [
    pytest.param(lambda d: d["checks"].pop("dram.unit_cost"), "no tolerance entry for dram.unit_cost",
                 id="missing-entry"),
    pytest.param(lambda d: d["checks"].__setitem__("made.up", dict(d["checks"]["dram.unit_cost"])),
                 "unknown check family made.up", id="unknown-family"),
    pytest.param(lambda d: d["checks"]["dram.unit_cost"].__setitem__("reason", "short"), "reason", id="short-reason"),
    pytest.param(lambda d: d["checks"]["dram.unit_cost"].pop("reason"), "reason", id="no-reason"),
    pytest.param(lambda d: d["checks"]["dram.unit_cost"].__setitem__("tolerance", -1), "tolerance", id="negative"),
    pytest.param(lambda d: d["checks"]["dram.unit_cost"].__setitem__("tolerance", [0.1, -0.1]), "tolerance",
                 id="inverted"),
    pytest.param(lambda d: d["checks"]["dram.unit_cost"].__setitem__("kind", "vibes"), "kind", id="bad-kind"),
])
def test_bad_tolerance_files_exit_2_naming_the_entry(tmp_path, cli, edit, match):
    data = _shipped_tolerances()
    edit(data)
    path = tmp_path / "tol.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, out, err = cli("validate", "--tolerances", path, "--only", "dram.unit_cost")
    assert rc == 2, out
    assert str(path) in err and match in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------ the full report

def test_full_report_has_every_family_and_no_check_crashed(report):
    assert [f for f in FAMILIES if any(c.family == f for c in report.checks)] == list(FAMILIES)
    crashed = [f"{c.id}: {c.message}" for c in report.checks if c.status == "error"]
    assert not crashed, crashed
    for c in report.to_dict()["checks"]:
        assert {"check", "reference", "pimsim", "error", "tolerance", "status", "reason", "kind"} <= set(c)
        assert c["status"] in ("pass", "fail")
        json.dumps(c, allow_nan=False)


# Model-correctness checks that fail today, each a bug stated in an issue's closing note; validate reports
# them as failures. The test fails if any other check fails, and also once a listed one passes (update it).
KNOWN_FAILURES: dict[str, str] = {  # check id -> the issue note that states the miss
    "baseline.h200.large.latency[qwen2.5-math-7b-instruct ctx 512 b256]":
        "issue 16 note (session 8): held out, -10.2% (-11.3% before the kernel floor); batch 256 sits at the "
        "roofline ridge (256 FLOP/B against 192), where max(memory, compute) is most optimistic (docs/baselines.md, "
        "Software stacks)",
}


@pytest.mark.parametrize("family", [f for f, t in load_tolerances().items() if t.kind in MODEL_CORRECTNESS])
def test_model_correctness_family_passes(report, family):
    """Model correctness: measured data, closed forms, exact counterparts, the timing checker."""
    bad = [f"{c.id}: pimsim {c.pimsim} vs {c.reference}, error {c.error_text}, tolerance {c.tolerance}"
           + (f" ({c.message})" if c.message else "")
           for c in report.checks if c.family == family and c.status != "pass" and c.id not in KNOWN_FAILURES]
    assert not bad, bad
    still_failing = {c.id for c in report.checks if c.family == family and c.status != "pass"}
    fixed = {k for k in KNOWN_FAILURES if k.split("[")[0] == family} - still_failing
    assert not fixed, f"listed as known failures but passing now: {sorted(fixed)}"


def test_range_checks_report_every_model_against_the_nearest_end(report):
    tol = load_tolerances()
    rows = [c for c in report.checks if c.family.startswith(("pimgpt.speedup", "pimgpt.energy_efficiency"))]
    assert len(rows) == len([f for f in FAMILIES if f.startswith(("pimgpt.speedup", "pimgpt.energy_efficiency"))]) >= 6
    for c in rows:
        lo, hi = tol[c.family].value
        assert len(c.details) == 8
        for d in c.details:
            v = d["value"]
            nearest = lo if v < lo else hi if v > hi else None
            assert d["error"] == (pytest.approx(v / nearest - 1) if nearest else 0.0)
            assert (d["status"] == "pass") == (nearest is None)
            if nearest:
                assert d["factor_needed"] == pytest.approx(nearest / v)
        assert c.status == ("pass" if all(d["status"] == "pass" for d in c.details) else "fail")
        assert c.error == max((d["error"] for d in c.details), key=lambda e: (e != 0, abs(e)))


def test_summary_and_exit_code_follow_the_statuses(report):
    s = report.summary()
    assert s["checks"] == len(report.checks) == s["pass"] + s["fail"] + s["error"]
    assert s["exit_code"] == (1 if s["fail"] or s["error"] else 0) == report.exit_code
    assert sum(v["pass"] + v["fail"] + v["error"] for v in s["by_kind"].values()) == s["checks"]
    assert set(s["failed_ids"]) == {c.id for c in report.checks if c.status != "pass"}


def test_checker_samples_are_fixed_and_inside_the_workload():
    a, b = checker_samples(), checker_samples()
    assert a == b and len(a) == 9
    assert all(1 <= ctx <= 1023 for _, ctx, _ in a)


def test_decode_floor_formula_reproduces_the_published_table():
    """pim_gpt_paper.md 'A sanity floor', column 'with AiM row switches'."""
    from pimsim.models import get_model
    from pimsim.validate.checks import _floor_per_token_s

    table_us = {"gpt2-small": 106, "gpt2-medium": 305, "gpt3-large": 652, "gpt2-large": 666, "gpt3-xl": 1130,
                "gpt2-xl": 1341}
    for name, us in table_us.items():
        assert _floor_per_token_s(get_model(name)) * 1e6 == pytest.approx(us, rel=0.01), name


# ------------------------------------------------------------------------------------------ selection and CLI

def test_selection_by_kind_family_and_pattern():
    tol = load_tolerances()
    assert select(tol) == list(FAMILIES)
    assert all(tol[f].kind == "checker" for f in select(tol, ["checker"]))
    assert select(tol, ["pimgpt.*"], ["reference-comparison"]) == []
    assert select(tol, ["dram.unit_cost,dram.peak_mac_bandwidth"]) == ["dram.peak_mac_bandwidth", "dram.unit_cost"]
    no_ref = select(tol, skip=["reference-comparison"])
    assert no_ref and all(tol[f].kind in MODEL_CORRECTNESS for f in no_ref)
    with pytest.raises(ConfigError, match="--skip nope: not a kind or check family"):
        select(tol, skip=["nope"])
    # a family prefix selects a study's families: the reproductions by name (issue 13)
    studies = select(tol, ["cent,attacc,neupims,ianus"])
    assert studies == [f for f in FAMILIES if f.split(".")[0] in ("cent", "attacc", "neupims", "ianus")]
    assert {f.split(".")[0] for f in studies} == {"cent", "attacc", "neupims", "ianus"}
    with pytest.raises(ConfigError, match="--only dram.unit: not a kind"):  # a prefix ends at a dot
        select(tol, ["dram.unit"])


def test_cli_json_of_a_passing_subset_exits_0(cli):
    rc, out, err = cli("validate", "--json", "--only", ",".join(FAST))
    assert rc == 0, err
    data = json.loads(out)
    assert data["summary"]["exit_code"] == 0 and data["summary"]["fail"] == 0
    assert {c["family"] for c in data["checks"]} == set(FAST)
    assert data["selection"]["families"] == ["dram.peak_mac_bandwidth", "dram.unit_cost"]
    assert set(data["references"]) == {"h100_measured", "cpu_measured", "aim_calibration", "h200_measured",
                                      "h200_batched_measured", "h200_large_measured", "h200_prefill_measured",
                                      "h100_prefill_measured", "h100_large_measured"}


def test_cli_exits_1_and_says_fail_when_a_check_is_outside_its_tolerance(tmp_path, cli):
    """Tighten the refresh tolerance below what the engine gives (+46% over tRFC/tREFI): the check fails."""
    data = _shipped_tolerances()
    data["checks"]["dram.refresh_overhead"]["tolerance"] = [0.0, 0.01]
    path = tmp_path / "tight.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, out, err = cli("validate", "--tolerances", path, "--only", "dram.refresh_overhead,dram.unit_cost")
    assert rc == 1, err
    assert "FAIL" in out and "failed: dram.refresh_overhead" in out
    rc, out, _ = cli("validate", "--tolerances", path, "--only", "dram.refresh_overhead", "--json")
    assert rc == 1 and json.loads(out)["summary"]["failed_ids"] == ["dram.refresh_overhead"]


@pytest.mark.parametrize("argv, match", [
    (["--only", "bogus"], "--only bogus: not a kind or check family"),
    (["--skip", "measured,nope"], "--skip nope"),
    (["--reference", "/nonexistent/folder"], "--reference /nonexistent/folder: not a folder"),
    (["--tolerances", "/nonexistent.yaml"], "/nonexistent.yaml: file not found"),
    (["--json", "--markdown"], "exclusive"),
])
def test_cli_bad_input_exits_2(cli, argv, match):
    rc, out, err = cli("validate", *argv)
    assert rc == 2 and match in err and "Traceback" not in err


def test_reference_folder_missing_a_file_exits_2(tmp_path, cli):
    (tmp_path / "h100_gpt_decode_measured.csv").write_text("model,decode_ms_per_token,context\n")
    rc, _, err = cli("validate", "--reference", tmp_path, "--only", "dram.unit_cost")
    assert rc == 2 and "missing" in err and "cpu_gpt_decode_measured.csv" in err


def _reference_copy(tmp_path: Path) -> Path:
    copies = locate(shared=tmp_path / "absent")
    ref_dir = tmp_path / "ref"
    (ref_dir / "aim_calibration").mkdir(parents=True)
    (ref_dir / "h100_gpt_decode_measured.csv").write_bytes(copies.h100_csv.read_bytes())
    (ref_dir / "cpu_gpt_decode_measured.csv").write_bytes(copies.cpu_csv.read_bytes())
    for f in copies.aim_dir.iterdir():
        (ref_dir / "aim_calibration" / f.name).write_bytes(f.read_bytes())
    return ref_dir


@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "cpu_gpt_decode_measured.csv").write_text("model,decode_ms_per_token,prompt,generated\n"
                                                              "gpt2-small,fast,64,32\n"),
     "cpu_gpt_decode_measured.csv line 2: column 'decode_ms_per_token': not a number"),
    (lambda d: (d / "aim_calibration" / "expected.csv").write_text("trace,cycles\nx.trace,1\n"),
     "missing column(s) dram_cmds"),
    (lambda d: (d / "aim_calibration" / "gemv_768x768_ch8.trace").write_text("AiM MAC_ABK 64\n"),
     "gemv_768x768_ch8.trace"),
], ids=["bad-number", "bad-expected-columns", "bad-trace"])
def test_malformed_reference_files_exit_2_naming_the_file(tmp_path, cli, damage, match):
    ref_dir = _reference_copy(tmp_path)
    damage(ref_dir)
    rc, out, err = cli("validate", "--reference", ref_dir, "--only", "measured")
    assert rc == 2, out[-500:]
    assert match in err and "Traceback" not in err


def test_without_the_shared_folder_the_package_copies_are_used(tmp_path):
    refs = locate(shared=tmp_path / "absent")
    assert set(refs.origins.values()) == {"package"}
    assert refs.h100_csv.is_file() and refs.cpu_csv.is_file() and (refs.aim_dir / "expected.csv").is_file()
    assert "pimsim" in refs.h100_csv.parts and "validate" in refs.aim_dir.parts


@needs_shared
def test_shared_folder_is_preferred_and_package_copies_are_identical():
    refs = locate()
    assert set(refs.origins.values()) == {"shared"}
    copies = locate(shared=Path("/nonexistent"))
    for a, b in ((refs.h100_csv, copies.h100_csv), (refs.cpu_csv, copies.cpu_csv)):
        assert a.read_bytes() == b.read_bytes()
    for f in sorted(refs.aim_dir.iterdir()):
        assert (copies.aim_dir / f.name).read_bytes() == f.read_bytes(), f.name
    assert sorted(p.name for p in copies.aim_dir.iterdir()) == sorted(p.name for p in refs.aim_dir.iterdir())


def test_package_copies_give_the_same_measured_checks(tmp_path, cli):
    rc, out_shared, err = cli("validate", "--json", "--only", "baseline.cpu.latency,aim.trace.cycles")
    assert rc == 0, err
    ref_dir = _reference_copy(tmp_path)
    rc, out_copy, err = cli("validate", "--json", "--reference", ref_dir, "--only",
                            "baseline.cpu.latency,aim.trace.cycles")
    assert rc == 0, err
    a, b = json.loads(out_shared), json.loads(out_copy)
    assert a["checks"] == b["checks"]
    assert b["references"]["cpu_measured"]["origin"] == f"--reference {ref_dir}"


def test_list_prints_every_family_with_its_reason(cli):
    rc, out, _ = cli("validate", "--list")
    assert rc == 0
    tol = load_tolerances()
    for fam, t in tol.items():
        assert fam in out and t.reason[:40] in out


# ------------------------------------------------------------------------------------------ markdown

def test_markdown_styles_and_write_doc(tmp_path, cli):
    rc, out, _ = cli("validate", "--markdown", "--only", ",".join(FAST))
    assert rc == 0 and "| check | reference | pimsim | error | tolerance | status |" in out
    assert "### Tolerances and their reasons" in out
    rc, out, _ = cli("validate", "--markdown", "summary", "--only", ",".join(FAST))
    assert rc == 0 and out.startswith("| check | kind | pimsim (worst) | error | tolerance | status |")
    doc = tmp_path / "doc.md"
    doc.write_text("# title\n\nintro\n\n<!-- BEGIN pimsim validate --markdown=summary -->\nold\n"
                   "<!-- END pimsim validate -->\n\nmiddle\n\n<!-- BEGIN pimsim validate --markdown=full -->\n"
                   "<!-- END pimsim validate -->\ntail\n")
    rc, out, _ = cli("validate", "--only", ",".join(FAST), "--write-doc", doc)
    assert rc == 0 and "wrote 2 report blocks" in out
    text = doc.read_text()
    assert "old" not in text and text.startswith("# title\n\nintro\n") and text.endswith("tail\n")
    assert text.count("<!-- END pimsim validate -->") == 2 and "middle" in text
    assert "| check | kind | pimsim (worst) |" in text and "### Tolerances and their reasons" in text
    first = text
    rc, _, _ = cli("validate", "--only", ",".join(FAST), "--write-doc", doc)
    assert doc.read_text() == first  # regenerating is idempotent


def test_write_doc_without_markers_exits_2(tmp_path, cli):
    doc = tmp_path / "plain.md"
    doc.write_text("# nothing to fill\n")
    rc, _, err = cli("validate", "--only", "dram.peak_mac_bandwidth", "--write-doc", doc)
    assert rc == 2 and "no generated block" in err
    doc.write_text("<!-- BEGIN pimsim validate --markdown=full -->\nunterminated\n")
    rc, _, err = cli("validate", "--only", "dram.peak_mac_bandwidth", "--write-doc", doc)
    assert rc == 2 and "has no <!-- END pimsim validate -->" in err


def test_docs_validation_md_holds_a_generated_report_of_every_family():
    text = (REPO / "docs" / "validation.md").read_text()
    assert "<!-- BEGIN pimsim validate --markdown=full -->" in text and "<!-- END pimsim validate -->" in text
    for fam in FAMILIES:
        assert f"`{fam}`" in text, fam


def test_write_doc_api_counts_blocks(tmp_path, report):
    doc = tmp_path / "d.md"
    doc.write_text("<!-- BEGIN pimsim validate --markdown summary -->\n<!-- END pimsim validate -->\n")
    assert write_doc(doc, report) == 1
    assert "reference comparison" in doc.read_text()


def test_tolerances_d_entries_join_and_clashes_are_named(tmp_path, monkeypatch):
    """Groups of families keep their tolerances in tolerances.d/*.yaml; an entry that a second file
    defines again is a ConfigError naming that file."""
    from pimsim.errors import ConfigError
    from pimsim.validate import tolerances as tolmod
    base = tolmod.load_tolerances()
    name = next(iter(base))
    entry = {k: v for k, v in base[name].model_dump(exclude_none=True).items()}
    import yaml
    extra = tmp_path / "x.yaml"
    extra.write_text(yaml.safe_dump({"version": 1, "checks": {"extra.family": entry}}))
    monkeypatch.setattr(tolmod, "extra_paths", lambda: [extra])
    assert "extra.family" in tolmod.load_tolerances()
    extra.write_text(yaml.safe_dump({"version": 1, "checks": {name: entry}}))
    with pytest.raises(ConfigError, match="x.yaml"):
        tolmod.load_tolerances()
