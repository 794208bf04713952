"""Check families of the AttAcc reproduction (issue 13); tolerances in tolerances.d/attacc.yaml.

AttAcc's setting (scale-snu/attacc_simulator at c600051, main.py defaults): GPT-3 175B, Lin 2048 + Lout 128,
FP16. Systems: the DGX of 8 a100a-hbm3 (640 GB) or 8 a100a-hbm3-160gb (1,280 GB) in graph mode, and
DGX+AttAcc (hardware system attacc-dgx, mapping attacc_paper). Each runs at its largest batch that passes
pimsim's capacity check; throughput is AttAcc's: decode tokens per second (batch / time per decode step).

- attacc.fig14.max_batch: those three largest batches against Fig. 14's 54 / 101 / 854 [S].
- attacc.fig14.throughput_ratio: DGX+AttAcc over each DGX, against 4.84x / 2.48x [S].
- attacc.headline.performance / .energy_efficiency: over the DGX of the same capacity (1,280 GB), against the
  abstract's "up to 2.81x" and "up to 2.67x" [P].
- attacc.simulator.decode_step: pimsim's decode step beside AttAcc's own simulator run at the same batches
  (data/attacc_simulator.yaml): which unit's term the Fig. 14 misses come from.
- *_attacc_programs: the DGX+AttAcc rows again with AttAcc's own attention program on each HBM3 stack
  (mapping attacc_paper_programs, op_programs: attacc; pimsim/mapper/attacc_programs.py) in place of pimsim's.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

from pimsim.validate.checks import Context, Fmt, X, largest_passing
from pimsim.validate.report import Check

MODEL_FILE = Path(__file__).resolve().parent / "data" / "repro_models" / "gpt3-175b-attacc.json"
LIN, LOUT = 2048, 128
GPUS, GPU_MODE = 8, "graph"
DGX = {"dgx-640": "a100a-hbm3", "dgx-1280": "a100a-hbm3-160gb"}
SYSTEM, MAPPING = "attacc-dgx", "attacc_paper"
PROGRAMS_MAPPING = "attacc_paper_programs"  # the same with AttAcc's own attention program (op_programs: attacc)
PUBLISHED_MAX_BATCH = {"dgx-640": 54, "dgx-1280": 101, "dgx-attacc": 854}            # Fig. 14 [S]
PUBLISHED_RATIO = {"dgx-640": 4.84, "dgx-1280": 2.48}                                # Fig. 14 [S]
HEADLINE = {"performance": 2.81, "energy_efficiency": 2.67}                          # abstract [P]
COUNT = Fmt("count")


@lru_cache(maxsize=1)
def model():
    """GPT-3 175B with its max context raised so that 2048 + 128 tokens fit (AttAcc's assumption)."""
    from pimsim.models import load_model

    return load_model(str(MODEL_FILE))


def _workload(batch: int):
    from pimsim.workloads import GenerateSpec, expand

    return expand(GenerateSpec(prompt=LIN, generate=LOUT + 1, batch=batch), model())


def max_batch(system: str) -> int:
    """Largest batch passing pimsim's capacity check: the baselines' (`check_capacity`) for a DGX, the
    system's placement (`run_on_system` raises CapacityError before it simulates) for DGX+AttAcc."""
    from pimsim.baselines import load_device
    from pimsim.baselines.model import check_capacity
    from pimsim.errors import CapacityError

    if system in DGX:
        dev = load_device(DGX[system])

        def fits(b: int) -> bool:
            try:
                check_capacity(_workload(b), dev, GPUS)
                return True
            except CapacityError:
                return False
        return largest_passing(fits)
    return largest_passing(_system_fits)


def _system_fits(batch: int) -> bool:
    from pimsim.engine.placement import capacity_check_only
    from pimsim.errors import CapacityError

    try:
        capacity_check_only(_workload(batch), SYSTEM, MAPPING)
        return True
    except CapacityError:
        return False


def _run(ctx: Context, system: str, mapping: str = MAPPING):
    def make():
        b = max_batch(system)
        if system in DGX:
            from pimsim.baselines import run_baseline

            return b, run_baseline(_workload(b), DGX[system], GPU_MODE, GPUS)
        from pimsim.engine import simulate

        return b, simulate(model(), SYSTEM, mapping, _workload(b))
    return ctx.cached(("attacc", system, None if system in DGX else mapping), make)


def _decode(res) -> tuple[float, float]:
    """(decode seconds, decode joules) of a run: its decode phases."""
    dec = [p for p in res.phases if p.kind == "decode"]
    return sum(p.latency_s for p in dec), sum(p.energy_j for p in dec)


def _throughput(ctx: Context, system: str, mapping: str = MAPPING) -> float:
    b, res = _run(ctx, system, mapping)
    return b * LOUT / _decode(res)[0]


def _energy_per_token(ctx: Context, system: str, mapping: str = MAPPING) -> float:
    b, res = _run(ctx, system, mapping)
    return _decode(res)[1] / (b * LOUT)


def fig14_max_batch(ctx: Context) -> list[Check]:
    fam = "attacc.fig14.max_batch"
    return [ctx.check(fam, f"largest batch, {s}", float(_run(ctx, s)[0]), (float(ref),) * 2, COUNT, item=s)
            for s, ref in PUBLISHED_MAX_BATCH.items()]


def _suffix(mapping: str) -> str:
    return "" if mapping == MAPPING else "_attacc_programs"


def _setting(mapping: str) -> str:
    return "" if mapping == MAPPING else " (AttAcc's attention program)"


def fig14_ratio(ctx: Context, mapping: str = MAPPING) -> list[Check]:
    fam = "attacc.fig14.throughput_ratio" + _suffix(mapping)
    mine = _throughput(ctx, "dgx-attacc", mapping)
    return [ctx.check(fam, f"DGX+AttAcc{_setting(mapping)} (batch {_run(ctx, 'dgx-attacc', mapping)[0]}) / {s} "
                      f"(batch {_run(ctx, s)[0]})", mine / _throughput(ctx, s), (ref, ref), X, item=s)
            for s, ref in PUBLISHED_RATIO.items()]


def headline_performance(ctx: Context, mapping: str = MAPPING) -> list[Check]:
    fam, ref = "attacc.headline.performance" + _suffix(mapping), HEADLINE["performance"]
    v = _throughput(ctx, "dgx-attacc", mapping) / _throughput(ctx, "dgx-1280")
    return [ctx.check(fam, f"DGX+AttAcc{_setting(mapping)} / DGX 1,280 GB decode throughput", v, (ref, ref), X)]


def headline_energy(ctx: Context, mapping: str = MAPPING) -> list[Check]:
    fam, ref = "attacc.headline.energy_efficiency" + _suffix(mapping), HEADLINE["energy_efficiency"]
    v = _energy_per_token(ctx, "dgx-1280") / _energy_per_token(ctx, "dgx-attacc", mapping)
    return [ctx.check(fam, f"DGX 1,280 GB / DGX+AttAcc{_setting(mapping)} decode energy per token", v, (ref, ref), X)]


SIM_DATA = Path(__file__).resolve().parent / "data" / "attacc_simulator.yaml"


def simulator_step(ctx: Context, mapping: str = MAPPING) -> list[Check]:
    """pimsim's decode step beside AttAcc's own simulator's at the same batch (data/attacc_simulator.yaml)."""
    import yaml

    from pimsim.validate.checks import MS

    fam, out = "attacc.simulator.decode_step" + _suffix(mapping), []
    for system, ref in yaml.safe_load(SIM_DATA.read_text())["decode_step_ms"].items():
        b = ref["batch"]
        if mapping != MAPPING and system in DGX:
            continue  # the DGX rows do not depend on the PIM program
        if system in DGX:
            from pimsim.baselines import run_baseline

            res = run_baseline(_workload(b), DGX[system], GPU_MODE, GPUS)
        else:
            from pimsim.engine import simulate

            res = simulate(model(), SYSTEM, mapping, _workload(b))
        step = _decode(res)[0] / LOUT
        out.append(ctx.check(fam, f"decode step, {system}{_setting(mapping)} at batch {b}", step,
                             (ref["value"] * 1e-3,) * 2, MS, item=system))
    return out


FAMILIES: dict[str, Callable[[Context], list[Check]]] = {
    "attacc.simulator.decode_step": simulator_step,
    "attacc.fig14.max_batch": fig14_max_batch,
    "attacc.fig14.throughput_ratio": fig14_ratio,
    "attacc.headline.performance": headline_performance,
    "attacc.headline.energy_efficiency": headline_energy,
    # the same with AttAcc's own attention program (mapping attacc_paper_programs: the paper's setting of it)
    "attacc.simulator.decode_step_attacc_programs": lambda ctx: simulator_step(ctx, PROGRAMS_MAPPING),
    "attacc.fig14.throughput_ratio_attacc_programs": lambda ctx: fig14_ratio(ctx, PROGRAMS_MAPPING),
    "attacc.headline.performance_attacc_programs": lambda ctx: headline_performance(ctx, PROGRAMS_MAPPING),
    "attacc.headline.energy_efficiency_attacc_programs": lambda ctx: headline_energy(ctx, PROGRAMS_MAPPING),
}
