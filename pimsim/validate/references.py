"""Where `pimsim validate` reads its reference data from.

The measured files live in `../shared/reference` beside the repository (a source checkout); pimsim keeps
byte-identical copies inside the package for installs without that folder: the H100 and CPU
measurements in `pimsim/baselines/data/` (the baselines' fit inputs) and the AiM calibration traces in
`pimsim/validate/data/aim_calibration/`. `--reference DIR` names a folder explicitly; then every file
must be in it. The H200 measurements, and the H100 prefill and 7-8B rows (`OWN_MEASURED`), are pimsim's
own (tools/ and shared/tools; see docs/baselines.md), not shared reference data: they are always read
from the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pimsim.errors import ConfigError

H100_CSV = "h100_gpt_decode_measured.csv"
CPU_CSV = "cpu_gpt_decode_measured.csv"
# pimsim's own GPU measurements (fp16/bf16 rows), always read from pimsim/baselines/data/: name -> file
OWN_MEASURED = {
    "h200_measured": "h200_gpt_decode_measured.csv",
    "h200_batched_measured": "h200_gpt_decode_batched_measured.csv",
    "h200_large_measured": "h200_gpt_decode_large_measured.csv",
    "h200_prefill_measured": "h200_gpt_prefill_measured.csv",
    "h100_prefill_measured": "h100_gpt_prefill_measured.csv",
    "h100_large_measured": "h100_gpt_decode_large_measured.csv",
}
AIM_DIR = "aim_calibration"
AIM_EXPECTED = "expected.csv"


def shared_reference_dir() -> Path:
    """`../shared/reference` beside the repository root (the folder holding `pimsim/`)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "reference"


def _package_copy(package: str, *parts: str) -> Path:
    return Path(str(resources.files(package).joinpath(*parts)))


@dataclass(frozen=True)
class References:
    """Resolved reference paths and where each came from ("shared" folder or "package" copy)."""

    h100_csv: Path
    cpu_csv: Path
    aim_dir: Path
    origins: dict[str, str]
    own: dict[str, Path] = field(default_factory=lambda: {
        name: _package_copy("pimsim.baselines", "data", file) for name, file in OWN_MEASURED.items()})

    def check(self) -> None:
        """Parse every reference file once (ConfigError naming the file, line and column on bad input), so
        that a malformed reference is bad input (exit 2), not a failed check."""
        import csv

        from pimsim.baselines import read_measurements
        from pimsim.dram import parse_trace

        read_measurements(self.h100_csv, 2)
        read_measurements(self.cpu_csv, 4)
        for path in self.own.values():
            read_measurements(path, 2)
        expected = self.aim_dir / AIM_EXPECTED
        with expected.open(encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"trace", "cycles", "dram_cmds"} - set(reader.fieldnames or [])
            if missing:
                raise ConfigError(f"{expected}: missing column(s) {', '.join(sorted(missing))}")
            for line, row in enumerate(reader, start=2):
                where = f"{expected} line {line}"
                if not (row.get("cycles") or "").strip().isdigit():
                    raise ConfigError(f"{where}: column 'cycles' must be a whole number, got {row.get('cycles')!r}")
                for kv in (row.get("dram_cmds") or "").split():
                    name, _, count = kv.partition("=")
                    if not name or not count.isdigit():
                        raise ConfigError(f"{where}: column 'dram_cmds': expected NAME=COUNT, got {kv!r}")
                parse_trace(self.aim_dir / row["trace"])  # TraceError names the file and line

    def describe(self) -> dict[str, dict[str, str]]:
        """JSON-ready: per reference, the path used and its origin."""
        return {
            "h100_measured": {"path": str(self.h100_csv), "origin": self.origins["h100_measured"]},
            "cpu_measured": {"path": str(self.cpu_csv), "origin": self.origins["cpu_measured"]},
            "aim_calibration": {"path": str(self.aim_dir), "origin": self.origins["aim_calibration"]},
            **{name: {"path": str(path), "origin": "package (pimsim's own measurement)"}
               for name, path in self.own.items()},
        }


def locate(reference: str | Path | None = None, shared: Path | None = None) -> References:
    """Resolve the reference files. `reference`: an explicit folder (every file must be there; ConfigError
    otherwise). Default: `shared` (or `shared_reference_dir()`) file by file, else the package copies."""
    if reference is not None:
        root = Path(reference)
        if not root.is_dir():
            raise ConfigError(f"--reference {reference}: not a folder (expected the reference folder holding "
                              f"{H100_CSV}, {CPU_CSV} and {AIM_DIR}/)")
        paths = {"h100_measured": root / H100_CSV, "cpu_measured": root / CPU_CSV, "aim_calibration": root / AIM_DIR}
        for name, p in paths.items():
            ok = (p / AIM_EXPECTED).is_file() if name == "aim_calibration" else p.is_file()
            if not ok:
                what = f"{p / AIM_EXPECTED}" if name == "aim_calibration" else str(p)
                raise ConfigError(f"--reference {reference}: missing {what}")
        origin = f"--reference {root}"
        return References(paths["h100_measured"], paths["cpu_measured"], paths["aim_calibration"],
                          dict.fromkeys(paths, origin))
    root = shared if shared is not None else shared_reference_dir()
    origins = {}
    h100 = root / H100_CSV
    if h100.is_file():
        origins["h100_measured"] = "shared"
    else:
        h100, origins["h100_measured"] = _package_copy("pimsim.baselines", "data", H100_CSV), "package"
    cpu = root / CPU_CSV
    if cpu.is_file():
        origins["cpu_measured"] = "shared"
    else:
        cpu, origins["cpu_measured"] = _package_copy("pimsim.baselines", "data", CPU_CSV), "package"
    aim = root / AIM_DIR
    if (aim / AIM_EXPECTED).is_file():
        origins["aim_calibration"] = "shared"
    else:
        aim, origins["aim_calibration"] = _package_copy("pimsim.validate", "data", AIM_DIR), "package"
    return References(h100, cpu, aim, origins)
