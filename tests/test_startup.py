"""Start-up (issue 17): each command imports only what it needs, and `pimsim --help` still lists every command.

The modules a command loads are read from `sys.modules` of a fresh interpreter (a subprocess), so imports
made by this test process do not count. No timings here: they live in benchmarks/bench_startup.py.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from pimsim.cli.main import COMMAND_MODULES, COMMANDS, build_parser

HEAVY = ("numba", "matplotlib", "simpy", "pandas", "dask", "distributed")


def _modules_after(code: str) -> set[str]:
    """Every module in `sys.modules` after running `code` in a fresh interpreter (written as JSON on
    stderr's last line; stdout, where the command prints, is ignored)."""
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def _loaded_after(code: str) -> set[str]:
    """Top-level packages imported by `code` in a fresh interpreter."""
    return {m.split(".")[0] for m in _modules_after(code)}


def _run_main(*argv: str) -> str:
    """Code that runs `pimsim ARGV` in-process and keeps going after its SystemExit (--help exits)."""
    return f"from pimsim.cli.main import main\ntry:\n    main({list(argv)!r})\nexcept SystemExit:\n    pass"


def _registered(module: str) -> dict[str, str]:
    """Command name -> help line of every sub-command `module.add_parser` registers."""
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).add_parser(sub)
    return {action.dest: action.help for action in sub._choices_actions}


def test_static_table_matches_every_modules_add_parser():
    for module in COMMAND_MODULES:
        expected = {name: help_text for name, (mod, help_text) in COMMANDS.items() if mod == module}
        assert _registered(module) == expected, module


def test_static_table_matches_the_full_parser_in_order():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)


def test_help_lists_every_command_without_importing_any_command_module(run_cli):
    rc, out, err = run_cli("--help")
    assert rc == 0 and err == ""
    listed = [line.split()[0] for line in out.split("COMMAND\n", 1)[1].split("\n\n")[0].splitlines()
              if line.startswith("    ") and not line.startswith("      ")]
    assert listed == list(COMMANDS)
    for name, (_, help_text) in COMMANDS.items():
        assert help_text.split()[0] in out, name
    loaded = _loaded_after(_run_main("--help"))
    assert not loaded & {*HEAVY, "pydantic", "numpy", "yaml"}


def test_importing_the_cli_imports_no_heavy_package():
    """(Held before issue 17 too: the old main imported command modules only in build_parser.)"""
    assert not _loaded_after("import pimsim.cli.main") & set(HEAVY)


def test_presets_list_does_not_import_numba():
    loaded = _loaded_after(_run_main("presets", "list"))
    assert "pimsim" in loaded and not loaded & set(HEAVY)


def test_replay_imports_no_numba_pandas_matplotlib_simpy_or_dask(tmp_path):
    """A replay runs the kernel's cached native library (pimsim.dram.kernel.native): numba is imported only
    to build it, in a child process (the first replay here builds it if no other test did)."""
    from pimsim.dram import kernel

    lib = kernel.native()                             # built (once per source and machine) before the probe
    trace = tmp_path / "one_mac.trace"
    trace.write_text("AiM MAC_ABK 64 0x80000000 0\nAiM EOC\n")
    loaded = _loaded_after(_run_main("replay", str(trace), "--hardware", "aim-32ch", "--refresh", "off"))
    assert "pimsim" in loaded and "numpy" in loaded
    forbidden = {"numba", "llvmlite", "matplotlib", "simpy", "pandas", "dask", "distributed"}
    if lib.path.suffix != ".so":                      # no C compiler: llvmlite links the object file
        forbidden.discard("llvmlite")
    assert not loaded & forbidden


@pytest.mark.parametrize("command", ["replay", "baseline", "plot", "presets"])
def test_a_command_loads_only_its_own_command_module(command):
    cli_modules = {m for m in _modules_after(_run_main(command, "--help")) if m.startswith("pimsim.cli.")}
    shared = {"pimsim.cli.main", "pimsim.cli.output", "pimsim.cli.common"}
    assert cli_modules - shared == {COMMANDS[command][0]}


@pytest.mark.parametrize("code", ["import pimsim.dram.program", "import pimsim.engine.trace",
                                  "import pimsim.experiments.spec", "import pimsim.baselines.device"])
def test_a_submodule_does_not_pull_its_package_siblings(code):
    assert not _loaded_after(code) & set(HEAVY)


@pytest.mark.parametrize("package", ["pimsim.dram", "pimsim.engine", "pimsim.experiments", "pimsim.baselines",
                                     "pimsim.hardware"])
def test_lazy_package_exports_resolve_to_their_definitions(package):
    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        assert value is getattr(importlib.import_module(pkg._EXPORTS[name]), name)
        assert name in dir(pkg)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        pkg.no_such_name  # noqa: B018


def test_replay_help_does_not_import_numba():
    """Neither numba nor the kernel's library is loaded for a command's help."""
    assert "numba" not in _loaded_after(_run_main("replay", "--help"))


def test_replay_as_a_program_prints_what_main_returns_and_keeps_exit_codes(run_cli, cli, tmp_path):
    """`replay` run as the program skips the interpreter teardown (`_exit_now`): its output and exit codes
    must be those of the in-process call, including the one-message exit 2 on bad input."""
    trace = tmp_path / "one_mac.trace"
    trace.write_text("AiM MAC_ABK 64 0x80000000 0\nAiM EOC\n")
    argv = ("replay", trace, "--hardware", "aim-32ch", "--refresh", "off", "--json")
    rc, out, err = run_cli(*argv)
    assert (rc, err) == (0, "")
    assert (rc, out, err) == cli(*argv)
    # the public AiM simulator on this trace (shared/reference/aim_calibration/expected.csv, micro_a): 185 cycles,
    # ACT16 x 1 and MAC16 x 64
    assert json.loads(out)["cycles"] == 185 and json.loads(out)["commands"] == {"ACT16": 1, "MAC16": 64}
    rc, out, err = run_cli("replay", trace, "--hardware", "no-such-preset")
    assert rc == 2 and out == ""
    assert err.startswith("pimsim: error: unknown hardware preset 'no-such-preset'") and "aim-32ch" in err


def _replay_in_fresh_cache(tmp_path, trace_name: str, extra_env: dict[str, str]) -> tuple[dict, list[str]]:
    """Replay a calibration trace as a fresh process whose kernel cache (NUMBA_CACHE_DIR) is tmp_path/cache:
    empty unless the caller built into it, and then the replay builds the native library first. Returns the
    JSON result and the files the cache holds afterwards."""
    import os

    cache = tmp_path / "cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), **extra_env)
    trace = CALIBRATION / trace_name
    proc = subprocess.run([sys.executable, "-m", "pimsim.cli.main", "replay", str(trace), "--hardware", "aim-32ch",
                           "--refresh", "off", "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""          # the progress line is for a terminal only
    return json.loads(proc.stdout), sorted(p.name for p in (cache / "pimsim").iterdir())


# shared/reference/aim_calibration, found as tests/dram/test_replay.py finds it
CALIBRATION = (__import__("pathlib").Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
               / "aim_calibration")


def _expected(trace_name: str) -> tuple[int, dict[str, int]]:
    """(cycles, DRAM command counts) of the public AiM simulator (shared/reference/aim_calibration/expected.csv)."""
    import csv

    with open(CALIBRATION / "expected.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows:
        if row[0] == trace_name:
            counts = dict(kv.split("=") for kv in row[-1].split())
            return int(row[2]), {k: int(v) for k, v in counts.items()}
    raise AssertionError(f"{trace_name} not in expected.csv")


@pytest.mark.slow
@pytest.mark.skipif(not CALIBRATION.is_dir(), reason="shared/reference/aim_calibration not present")
@pytest.mark.parametrize("linker, built_by", [("cc", "replay"), ("llvmlite", "warm_up")])
def test_a_cold_first_replay_builds_the_kernel_and_reproduces_the_reference(tmp_path, linker, built_by):
    """First run after install (issue 17, cold start): the kernel's native library is built once into the
    empty cache (a shared object linked by `cc`; without a C compiler an object file llvmlite links in
    process) and the replay gives the C++ AiM simulator's cycles and command counts. Built either by that
    first replay or, before it, by the install-time warm-up (`python -m pimsim.dram.kernel`, run by `make
    venv`), which announces the build with one progress line even when stderr is not a terminal; the
    replay after it then compiles nothing (its stderr is empty and the cache holds the same one library).
    (Two builds in all: each costs 5-12 s.)"""
    import shutil

    if linker == "cc" and shutil.which("cc") is None:
        pytest.skip("no C compiler")
    extra = {"CC": "/nonexistent/cc"} if linker == "llvmlite" else {}
    if built_by == "warm_up":
        proc = _kernel_warm_up(tmp_path / "cache", extra)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 2 and lines[0].startswith("pimsim: compiling the command engine's kernel once")
        assert lines[1].startswith("pimsim: command engine kernel built in")
        before = sorted(p.name for p in (tmp_path / "cache" / "pimsim").iterdir())
    name = "gemv_3072x768_ch32.trace"
    result, files = _replay_in_fresh_cache(tmp_path, name, extra)
    if built_by == "warm_up":                       # the same library: nothing compiled (presets/: the preset cache)
        assert [f for f in files if f.startswith("kernel")] == [f for f in before if f.startswith("kernel")]
    cycles, counts = _expected(name)
    assert result["cycles"] == cycles and result["commands"] == counts
    built = [f for f in files if f.startswith("kernel-")]
    assert len(built) == 1 and built[0].endswith(".so" if linker == "cc" else ".o")


def test_the_kernel_cache_key_covers_the_kernel_and_the_table_sources(monkeypatch, tmp_path):
    """A library built from other kernel or table source is never loaded: the key hashes both files."""
    from pathlib import Path

    from pimsim.dram import kernel

    key = kernel._key()
    assert key == kernel._key()                       # deterministic
    here = Path(kernel.__file__)
    for name in ("kernel.py", "table.py"):
        copy = tmp_path / name
        copy.write_bytes(here.with_name(name).read_bytes() + b"\n# edited\n")
        for other in ("kernel.py", "table.py"):
            if other != name:
                (tmp_path / other).write_bytes(here.with_name(other).read_bytes())
        monkeypatch.setattr(kernel, "__file__", str(tmp_path / "kernel.py"))
        assert kernel._key() != key, name
        monkeypatch.setattr(kernel, "__file__", str(here))


def _kernel_warm_up(cache, env_extra=None):
    """`python -m pimsim.dram.kernel` (what `make venv` runs after the install) with kernel cache `cache`."""
    import os

    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "pimsim.dram.kernel"], capture_output=True, text=True,
                          timeout=600, env=env)


def test_the_install_time_warm_up_loads_an_existing_build_without_compiling(tmp_path):
    """`make venv` runs `python -m pimsim.dram.kernel`; with this source's library already in the cache it
    loads it (and checks its layout) without compiling: one line saying so, exit 0."""
    import shutil

    from pimsim.dram import kernel

    lib = kernel.native()
    (tmp_path / "pimsim").mkdir()
    shutil.copyfile(lib.path, tmp_path / "pimsim" / lib.path.name)
    proc = _kernel_warm_up(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "compiling" not in proc.stderr
    assert proc.stderr.startswith("pimsim: command engine kernel already built") and lib.path.name in proc.stderr
    assert sorted(p.name for p in (tmp_path / "pimsim").iterdir() if p.name.startswith("kernel-")) == [lib.path.name]



ONE_MAC = "AiM MAC_ABK 64 0x80000000 0\nAiM EOC\n"


def test_a_warm_cached_replay_imports_neither_pydantic_nor_yaml(tmp_path):
    """Once a replay has cached the preset (pimsim.dram.preset_cache) and the standard's parsed table
    (pimsim.util.yaml_cache), the next replay validates nothing and parses no YAML: a fresh interpreter running
    it has imported neither pydantic (~0.1-0.2 s) nor PyYAML, and still gives the AiM simulator's figures."""
    import os

    from pimsim.dram import kernel

    kernel.native()                                   # the library is built before the probes
    trace = tmp_path / "one_mac.trace"
    trace.write_text(ONE_MAC)
    argv = ("replay", str(trace), "--hardware", "aim-32ch", "--refresh", "off", "--json")
    env = {k: v for k, v in os.environ.items() if k not in ("PIMSIM_PRESET_CACHE", "PIMSIM_YAML_CACHE")}
    warm = subprocess.run([sys.executable, "-m", "pimsim.cli.main", *argv], capture_output=True, text=True,
                          timeout=300, env=env)
    assert warm.returncode == 0, warm.stderr
    # the public AiM simulator on this trace (shared/reference/aim_calibration/expected.csv, micro_a)
    assert json.loads(warm.stdout)["cycles"] == 185
    loaded = _loaded_after(_run_main(*argv))
    assert "pimsim" in loaded and "numpy" in loaded
    assert not loaded & {"pydantic", "pydantic_core", "yaml"}


@pytest.mark.parametrize("code", ["import pimsim.dram.engine", "import pimsim.dram.program",
                                  "import pimsim.hardware.standards", "import pimsim.hardware",
                                  "import pimsim.util.yaml_cache"])
def test_the_replay_path_modules_import_neither_pydantic_nor_yaml(code):
    assert not _loaded_after(code) & {"pydantic", "yaml"}


def _same(a, b) -> bool:
    """Equal and of the same types all the way down, dict keys in the same order (1, 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return [(type(k), k) for k in a] == [(type(k), k) for k in b] and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture
def yaml_cache(tmp_path, monkeypatch):
    """pimsim.util.yaml_cache with an empty cache folder (NUMBA_CACHE_DIR); returns (module, entries folder)."""
    from pimsim.util import yaml_cache as yc

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PIMSIM_YAML_CACHE", raising=False)
    return yc, tmp_path / "cache" / "pimsim" / "yaml"


def _reference_parse(path):
    """PyYAML through pimsim's strict loader, read as the standards were read before the cache."""
    from pimsim.util.config_io import load_yaml_text

    return load_yaml_text(path.read_text(encoding="utf-8"))


def _no_parse(monkeypatch, yc):
    def boom(data):
        raise AssertionError("parsed again instead of using the cache")

    monkeypatch.setattr(yc, "_parse", boom)


def test_the_yaml_cache_returns_exactly_what_parsing_returns_for_every_standard(yaml_cache, monkeypatch):
    from pimsim.hardware.standards import _standards_dir, known_standards

    yc, entries = yaml_cache
    paths = [_standards_dir() / f"{name}.yaml" for name in known_standards()]
    assert len(paths) >= 9
    first = [yc.load_yaml_cached(p) for p in paths]          # parsed and stored
    assert len(list(entries.iterdir())) == len(paths)
    _no_parse(monkeypatch, yc)
    for path, parsed in zip(paths, first):
        expected = _reference_parse(path)
        assert _same(parsed, expected), path.name
        assert _same(yc.load_yaml_cached(path), expected), path.name      # from the cache


def test_the_yaml_cache_keeps_types_and_key_order(yaml_cache, tmp_path, monkeypatch):
    yc, _ = yaml_cache
    f = tmp_path / "t.yaml"
    f.write_text("z: 1\na: 1.0\nb: true\nc: 1e-9\nd: null\n3: [x, 2, 2.5, false]\n2.5: {k: v}\n'7': s\n")
    expected = {"z": 1, "a": 1.0, "b": True, "c": 1e-9, "d": None, 3: ["x", 2, 2.5, False], 2.5: {"k": "v"},
                "7": "s"}
    assert _same(yc.load_yaml_cached(f), expected)
    _no_parse(monkeypatch, yc)
    assert _same(yc.load_yaml_cached(f), expected)


def test_an_edited_table_is_parsed_again_even_with_the_same_size_and_mtime(yaml_cache, tmp_path):
    """The key is the file's bytes: an edit of a standard's table (a tmp copy) is seen, also one that keeps
    the size and the modification time, and the original bytes find their entry again."""
    import os
    import shutil

    from pimsim.hardware.standards import _standards_dir

    yc, _ = yaml_cache
    copy = tmp_path / "gddr6-aim.yaml"
    shutil.copyfile(_standards_dir() / "gddr6-aim.yaml", copy)
    text = copy.read_text(encoding="utf-8")
    before = yc.load_yaml_cached(copy)
    assert "x_new" not in before
    copy.write_text(text + "x_new: 7\n", encoding="utf-8")
    after = yc.load_yaml_cached(copy)
    assert _same(after, {**before, "x_new": 7}) and _same(after, _reference_parse(copy))
    copy.write_text(text, encoding="utf-8")
    assert _same(yc.load_yaml_cached(copy), before)

    f = tmp_path / "t.yaml"
    f.write_text("a: 1\n")
    assert yc.load_yaml_cached(f) == {"a": 1}
    stat = f.stat()
    f.write_text("a: 2\n")                                         # same size
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))            # same mtime
    assert (f.stat().st_size, f.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert yc.load_yaml_cached(f) == {"a": 2}


def test_a_corrupt_or_foreign_entry_is_a_miss_and_aliases_are_never_cached(yaml_cache, tmp_path, monkeypatch):
    yc, entries = yaml_cache
    f = tmp_path / "t.yaml"
    f.write_text("a: [1, 2]\nb: {c: 3}\n")
    assert yc.load_yaml_cached(f) == {"a": [1, 2], "b": {"c": 3}}
    (entry,) = entries.iterdir()
    blob = entry.read_bytes()
    for bad in (blob[:-1], blob[:-1] + bytes([blob[-1] ^ 1]), b"", b"garbage", blob.replace(b"pimsim", b"pimsix")):
        entry.write_bytes(bad)
        assert _same(yc.load_yaml_cached(f), {"a": [1, 2], "b": {"c": 3}})
    # another source version (e.g. an edited YAML reader) never reads this entry
    monkeypatch.setattr(yc, "_version", "other")
    parsed = []
    monkeypatch.setattr(yc, "_parse", lambda data, real=yc._parse: parsed.append(1) or real(data))
    assert yc.load_yaml_cached(f) == {"a": [1, 2], "b": {"c": 3}} and parsed == [1]
    # a YAML alias makes one list reached twice: kept as parsed (the same object), not stored
    g = tmp_path / "alias.yaml"
    g.write_text("a: &x [1, 2]\nb: *x\n")
    before = set(entries.iterdir())
    out = yc.load_yaml_cached(g)
    assert out == {"a": [1, 2], "b": [1, 2]} and out["a"] is out["b"]
    assert set(entries.iterdir()) == before


def test_the_yaml_cache_can_be_turned_off(yaml_cache, tmp_path, monkeypatch):
    yc, entries = yaml_cache
    monkeypatch.setenv("PIMSIM_YAML_CACHE", "0")
    f = tmp_path / "t.yaml"
    f.write_text("a: 1\n")
    assert yc.load_yaml_cached(f) == {"a": 1}
    assert not entries.exists()
