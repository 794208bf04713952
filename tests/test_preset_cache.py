"""The exact cache of validated hardware that `pimsim replay` starts from (pimsim.dram.preset_cache, issue 17).

A cached replay must print exactly what the full validation's replay prints (the AiM reference traces, and
their figures from the public AiM simulator), and any change of an input (the preset's file, a file of its
`base:` chain, pimsim's sources, a file appearing that the spec then names) must go the full way again, with
its errors (exit code 2) unchanged.
"""

from __future__ import annotations

import csv
import inspect
import json
from pathlib import Path

import pytest

from pimsim.dram import preset_cache
from pimsim.hardware import load_hardware, preset_names
from pimsim.hardware.schema import DramConfig

CALIBRATION = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "aim_calibration"
needs_reference = pytest.mark.skipif(not CALIBRATION.is_dir(), reason="shared/reference/aim_calibration not present")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder (NUMBA_CACHE_DIR) and a clean current folder; the kernel library is loaded first
    from the usual cache, so nothing is compiled into the empty one."""
    from pimsim.dram import kernel

    kernel.native()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PIMSIM_PRESET_CACHE", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path / "cache" / "pimsim" / "presets"


def _no_full_load(monkeypatch):
    """Make the full validation fail loudly: a replay that still succeeds started from the cache."""
    def boom(spec):
        raise AssertionError(f"validated {spec} again instead of using the cache")

    monkeypatch.setattr("pimsim.hardware.loader.load_hardware_with_sources", boom)


def _reference() -> list[tuple[str, int, dict[str, int]]]:
    with open(CALIBRATION / "expected.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [(r["trace"], int(r["cycles"]), {k: int(v) for k, v in (kv.split("=") for kv in r["dram_cmds"].split())})
            for r in rows]


@needs_reference
def test_cached_replays_print_what_uncached_ones_print_on_every_aim_reference_trace(cli, cache, monkeypatch):
    traces = _reference()
    assert len(traces) >= 6
    for name, cycles, counts in traces:
        for fmt in (("--json",), ()):
            argv = ("replay", CALIBRATION / name, "--hardware", "aim-32ch", "--refresh", "off", *fmt)
            monkeypatch.setenv("PIMSIM_PRESET_CACHE", "0")
            uncached = cli(*argv)
            monkeypatch.delenv("PIMSIM_PRESET_CACHE")
            stored = cli(*argv)                              # a miss at first: validates and stores
            with monkeypatch.context() as m:
                _no_full_load(m)
                hit = cli(*argv)
            assert uncached[0] == 0 and uncached[2] == ""
            assert stored == uncached and hit == uncached, name
            if fmt:
                result = json.loads(hit[1])
                assert (result["cycles"], result["commands"]) == (cycles, counts), name
    assert len(list(cache.iterdir())) == 1                   # one entry: one spec, one folder


@pytest.mark.parametrize("preset", preset_names())
def test_the_rebuilt_configuration_has_every_field_and_property_of_the_validated_one(cache, monkeypatch, preset):
    validated = load_hardware(preset)
    stored = preset_cache.load_replay_hardware(preset)
    _no_full_load(monkeypatch)
    hit = preset_cache.load_replay_hardware(preset)
    assert isinstance(hit.dram, preset_cache.CachedDram)
    for got in (stored, hit):
        assert got.name == validated.name and preset_cache.matches(got.dram, validated.dram)
    # every public property and method DramConfig adds to pydantic's BaseModel exists on the cached one
    own = {n for n, v in vars(DramConfig).items() if not n.startswith("_") and (isinstance(v, property)
                                                                               or inspect.isfunction(v))}
    assert own <= set(dir(preset_cache.CachedDram)), own - set(dir(preset_cache.CachedDram))
    assert set(DramConfig.model_fields) == {f for f in vars(hit.dram)}
    # matches() can fail: one field off, or one type off (1 == 1.0 would pass a plain ==)
    from dataclasses import replace

    assert not preset_cache.matches(replace(hit.dram, rows=hit.dram.rows + 1), validated.dram)
    assert not preset_cache.matches(replace(hit.dram, channels=float(hit.dram.channels)), validated.dram)


def _user_preset(path: Path, nrp: int | None = None, base: str = "aim-32ch") -> None:
    timing = f"  timing:\n    nRP: {nrp}\n" if nrp is not None else ""
    path.write_text(f"base: {base}\ndram:\n  channels: 1\n{timing}")


@needs_reference
def test_an_edited_preset_or_base_file_is_validated_again(cli, cache, tmp_path):
    trace = CALIBRATION / "micro_b_mac_100rows_op64_ch1.trace"     # 99 row switches: nRP counts
    mine, base = Path("mine.yaml"), Path("base.yaml")
    _user_preset(base, base="aim-32ch")
    _user_preset(mine, base="base.yaml")
    argv = ("replay", trace, "--hardware", "mine.yaml", "--refresh", "off", "--json")

    def cycles():
        rc, out, err = cli(*argv)
        assert rc == 0, err
        return json.loads(out)["cycles"]

    reference = dict((n, c) for n, c, _ in _reference())["micro_b_mac_100rows_op64_ch1.trace"]
    assert cycles() == reference and cycles() == reference     # stored, then a hit
    _user_preset(mine, nrp=33, base="base.yaml")               # the spec's own file
    slower = cycles()
    assert slower > reference
    assert slower == load_and_replay("mine.yaml", trace)
    _user_preset(base, nrp=35)                                  # a file of its base chain (mine keeps nRP 33)
    assert cycles() == slower
    _user_preset(mine, base="base.yaml")                        # now base's nRP 35 is in force
    assert cycles() == load_and_replay("mine.yaml", trace) > slower


def load_and_replay(spec: str, trace: Path) -> int:
    """Cycles of the full way: validated hardware, no cache."""
    from pimsim.dram.engine import CommandEngine
    from pimsim.dram.program import parse_trace

    return CommandEngine(load_hardware(spec).dram, refresh=False).run(parse_trace(trace)).cycles


def test_bad_input_fails_as_without_the_cache_and_is_not_stored(cli, cache, monkeypatch, tmp_path):
    trace = tmp_path / "eoc.trace"
    trace.write_text("AiM EOC\n")
    Path("mine.yaml").write_text("base: aim-32ch\ndram:\n  channels: 1\n")
    assert cli("replay", trace, "--hardware", "mine.yaml")[0] == 0     # stored
    Path("mine.yaml").write_text("base: aim-32ch\ndram:\n  channels: 0\n")
    for spec in ("mine.yaml", "no-such-preset", "missing.yaml"):
        monkeypatch.setenv("PIMSIM_PRESET_CACHE", "0")
        expected = cli("replay", trace, "--hardware", spec)
        monkeypatch.delenv("PIMSIM_PRESET_CACHE")
        assert expected[0] == 2 and expected[1] == "" and expected[2].startswith("pimsim: error:")
        assert cli("replay", trace, "--hardware", spec) == expected, spec
        assert cli("replay", trace, "--hardware", spec) == expected, spec     # still not from the cache
    assert "channels" in cli("replay", trace, "--hardware", "mine.yaml")[2]


def test_a_file_named_like_the_preset_is_loaded_once_it_appears(cache, monkeypatch):
    assert preset_cache.load_replay_hardware("aim-32ch").dram.channels == 32     # stored
    Path("aim-32ch").write_text("base: aim-32ch\ndram:\n  channels: 2\n")      # load_hardware reads it now
    hw = preset_cache.load_replay_hardware("aim-32ch")
    assert hw.dram.channels == 2 == load_hardware("aim-32ch").dram.channels


def test_other_sources_or_another_folder_do_not_use_an_entry(cache, monkeypatch, tmp_path):
    preset_cache.load_replay_hardware("aim-32ch")
    calls = []
    from pimsim.hardware import loader

    original = loader.load_hardware_with_sources
    monkeypatch.setattr(loader, "load_hardware_with_sources", lambda spec: calls.append(spec) or original(spec))
    preset_cache.load_replay_hardware("aim-32ch")
    assert calls == []                                                   # a hit
    monkeypatch.setattr(preset_cache, "_digest", "0" * 64)               # pimsim's sources changed
    preset_cache.load_replay_hardware("aim-32ch")
    assert calls == ["aim-32ch"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)                                             # relative paths mean other files
    preset_cache.load_replay_hardware("aim-32ch")
    assert calls == ["aim-32ch", "aim-32ch"]


@pytest.mark.parametrize("edited", ["hardware/schema.py", "hardware/standards/gddr6-aim.yaml",
                                    "hardware/presets/pimgpt-gddr6.yaml", "util/config_io.py",
                                    "util/text.py", "util/yaml_cache.py", "dram/preset_cache.py"])
def test_the_source_digest_changes_with_any_source_that_decides_a_validation(tmp_path, monkeypatch, edited):
    import shutil

    root = Path(preset_cache.__file__).resolve().parents[1]
    copy = tmp_path / "pimsim"
    shutil.copytree(root / "hardware", copy / "hardware", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("__init__.py", "errors.py", "util/config_io.py", "util/text.py", "util/yaml_cache.py",
              "dram/preset_cache.py"):
        (copy / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / f, copy / f)
    monkeypatch.setattr(preset_cache, "_PIMSIM", copy)
    monkeypatch.setattr(preset_cache, "_HARDWARE", copy / "hardware")
    monkeypatch.setattr(preset_cache, "_digest", None)
    before = preset_cache.source_digest()
    monkeypatch.setattr(preset_cache, "_digest", None)
    assert preset_cache.source_digest() == before                      # deterministic
    (copy / edited).write_bytes((copy / edited).read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(preset_cache, "_digest", None)
    assert preset_cache.source_digest() != before
