"""CommandEngine: runs AiM instruction programs on a DramConfig, cycle-exact, with the numba kernel.

Model and sources: see pimsim.dram.kernel (timing state, controller semantics of the public AiM
simulator, refresh) and pimsim/hardware/standards/*.yaml (the constraint tables).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from pimsim.dram import kernel as K
from pimsim.dram.program import ALL_CHANNELS, FIELDS, Program, grammar
from pimsim.dram.table import AF_ROW, CATEGORIES, ISA, OP, CompiledTable, compile_table
from pimsim.errors import ConfigError, TraceError

if TYPE_CHECKING:  # pragma: no cover  (annotations only: the schema imports pydantic, issue 17 start-up)
    from pimsim.hardware.schema import DramConfig

LOG_DTYPE = np.dtype([("cycle", np.int64), ("channel", np.int16), ("bank", np.int16), ("command", np.int16),
                      ("row", np.int64)])


@dataclass(frozen=True)
class EngineState:
    """Opaque, hashable summary of the device between runs (cycle 0 = end of the previous run): open
    rows and mode per channel, cycles since the last refresh fell due, the per-bank refresh pointer, and
    the timing residues (cycles each command must still wait at every node)."""

    open_rows: tuple[tuple[int, ...], ...]
    modes: tuple[int, ...]
    cycles_since_refresh: tuple[int, ...]
    refresh_bank: tuple[int, ...]
    residue: bytes = field(repr=False)
    history: bytes = field(repr=False)


@dataclass(frozen=True, eq=False)
class EngineResult:
    """What one run produced. `category_cycles` is the breakdown of the channel that finishes last
    (its values sum to `cycles`); `channel_category_cycles[c, k]` covers every channel."""

    cycles: int
    ns: float
    commands: dict[str, int]
    row_hits: int
    row_misses: int
    channel_busy_cycles: list[int]
    end_state: EngineState
    category_cycles: dict[str, int]
    channel_category_cycles: np.ndarray
    channel_commands: np.ndarray
    command_names: tuple[str, ...]
    log: np.ndarray | None = None
    channel_row_hits: tuple[int, ...] = ()      # per channel (row_hits / row_misses are their sums)
    channel_row_misses: tuple[int, ...] = ()

    def channel_commands_by_name(self, channel: int) -> dict[str, int]:
        """DRAM command counts of one channel, by command name."""
        return {n: int(c) for n, c in zip(self.command_names, self.channel_commands[channel]) if c}

    def as_dict(self) -> dict:
        return {"cycles": self.cycles, "ns": self.ns, "commands": dict(self.commands), "row_hits": self.row_hits,
                "row_misses": self.row_misses, "channel_busy_cycles": list(self.channel_busy_cycles),
                "category_cycles": dict(self.category_cycles)}


def _cmdinfo(t: CompiledTable) -> np.ndarray:
    n = len(t.command_names)
    info = np.zeros((n, K.NCI), np.int64)
    info[:, K.CI_TLEV] = t.target_level
    info[:, K.CI_LEVELS] = t.follow_levels
    info[:, K.CI_SCOPE] = t.scope
    info[:, K.CI_ROLE] = t.role
    info[:, K.CI_DONE] = t.done_cycles
    info[:, K.CI_CAT] = t.category
    info[:, K.CI_SPACING] = t.self_spacing
    for p in range(n):
        s, e = t.cons_start[p], t.cons_start[p + 1]
        info[p, K.CI_HASWIN] = int(np.any(t.cons_window[s:e] > 1))
        info[p, K.CI_SIB0] = s + int(np.sum(t.cons_sibling[s:e] == 0))
    return info


class _Arrays:
    """The kernel's state arrays for one DramConfig."""

    def __init__(self, dram: DramConfig, table: CompiledTable):
        self.nch = dram.channels
        self.nbanks = dram.banks
        nnodes = int(sum(dram.banks // b for b in table.level_banks))
        ncmd = len(table.command_names)
        wmax = int(max(1, table.cons_window.max(initial=1)))
        self.ready = np.zeros((self.nch, nnodes, ncmd), np.int64)
        self.hist = np.full((self.nch, nnodes, ncmd, wmax), K.NEG, np.int64)
        self.hpos = np.zeros((self.nch, nnodes, ncmd), np.int64)
        self.open_row = np.full((self.nch, self.nbanks), -1, np.int64)
        self.chs = np.zeros((self.nch, K.NSCAL), np.int64)
        self.chs[:, K.S_LAST] = -1
        self.chs[:, K.S_FPREV] = -1
        self.chs[:, K.S_MODE] = 1
        self.chs[:, K.S_UNIROW] = -1
        self.chs[:, K.S_PCAT] = K.CAT_WAIT
        self.chs[:, K.S_PSPC] = 1
        self.leave = np.zeros((self.nch, K.QUEUE_DEPTH), np.int64)
        self.counts = np.zeros((self.nch, ncmd), np.int64)
        self.cat = np.zeros((self.nch, K.NCAT), np.int64)


class CommandEngine:
    """Cycle-exact DRAM-PIM command engine for one DramConfig.

    `refresh`: issue REFab every nREFI (REFpb every nREFI/banks with `dram.refresh == "per_bank"`);
    `row_policy`: "open" keeps rows open until another row is needed, "close" precharges after every
    instruction's accesses.

    Reuse (issue 17): a run is a deterministic function of this engine's configuration, the program's
    instructions (`Program.signature()`, which leaves out source names and line numbers), the mode and the
    start state, so `run` keeps the most recent results (without logs; at most `MEMO_ENTRIES` of them and
    `MEMO_BYTES` of their state arrays) under that key and returns a copy of the stored result for a
    repeated key instead of simulating again. `memo=False` turns it off (tests/dram/test_engine_memo.py
    compares both on whole `--exact` simulations).
    """

    MEMO_ENTRIES = 512
    MEMO_BYTES = 128 << 20

    def __init__(self, dram: DramConfig, *, refresh: bool = True, row_policy: Literal["open", "close"] = "open",
                 memo: bool = True):
        if row_policy not in ("open", "close"):
            raise ConfigError(f"row_policy must be 'open' or 'close', got {row_policy!r}")
        if dram.channels > 64:
            raise ConfigError(f"the command engine runs at most 64 channels at once (channel masks are 64 "
                              f"bits); dram.channels is {dram.channels}")
        self.dram = dram
        self.refresh = bool(refresh)
        self.row_policy = row_policy
        self.memo = bool(memo)
        self.table = compile_table(dram)
        K.ensure_layout()
        t = self.table
        timing = t.timing_ticks
        if any(t.scope[i] == K.SC_ALL and t.role[i] in (K.RO_ACCESS, K.RO_ACCESS_CLOSE)
               for i in range(len(t.command_names))):
            if t.open_all < 0 or t.close_all < 0:
                raise ConfigError(f"standard {dram.standard}: all-bank accesses need row_commands.all_banks "
                                  "open and close commands")
        per_bank = dram.refresh == "per_bank"
        if self.refresh:
            if "nREFI" not in dram.timing:
                raise ConfigError("refresh needs timing nREFI")
            if per_bank and t.ref_bank < 0:
                raise ConfigError(f"standard {dram.standard} has no per-bank refresh command")
            if not per_bank and t.ref_all < 0:
                raise ConfigError(f"standard {dram.standard} has no all-bank refresh command")
        self.refresh_interval_cycles = (timing.get("nREFI", 1) // (dram.banks if per_bank else 1)) or 1
        if self.refresh:
            # all-bank: the interval must exceed a refresh plus a row cycle, or the channel would only refresh;
            # per-bank: each bank is refreshed once per nREFI (so nREFI must exceed nRFCpb plus a row cycle)
            # and one REFpb must be able to follow the previous within the interval
            rfc = ("nRFCpb",) if per_bank else ("nRFC", "nRFCab")
            cost = max(timing.get(k, 0) for k in rfc) + timing.get("nRC", 0)
            span = timing.get("nREFI", 1) if per_bank else self.refresh_interval_cycles
            if span <= cost:
                raise ConfigError(f"refresh: nREFI{'' if per_bank else ' interval'} of {span} cycles must exceed the refresh "
                                  f"time plus a row cycle ({cost} cycles): the channel would only refresh")
            if per_bank:
                s, e = t.cons_start[t.ref_bank], t.cons_start[t.ref_bank + 1]
                gap = max([int(l) for f, l, sib in zip(t.cons_follow[s:e], t.cons_latency[s:e], t.cons_sibling[s:e])
                           if f == t.ref_bank and not sib] + [1])
                if self.refresh_interval_cycles <= gap:
                    raise ConfigError(f"per-bank refresh interval {self.refresh_interval_cycles} cycles (nREFI/banks) "
                                      f"must exceed the spacing of two REFpb ({gap} cycles)")
                if t.open_all >= 0:  # an all-bank activate waits for the last REFpb of any bank
                    hold = max([int(l) for f, l, sib in zip(t.cons_follow[s:e], t.cons_latency[s:e], t.cons_sibling[s:e])
                                if f == t.open_all and not sib] + [0])
                    if self.refresh_interval_cycles <= hold:
                        raise ConfigError(
                            f"refresh: per_bank: a REFpb keeps the all-bank activate "
                            f"{t.command_names[t.open_all]} {hold} cycles away, longer than the per-bank refresh "
                            f"interval (nREFI/banks = {self.refresh_interval_cycles} cycles): all-bank PIM commands "
                            f"could never issue on standard {dram.standard} with {dram.banks} banks; use refresh: all_bank")
        self._cmdinfo = _cmdinfo(t)
        self._cons = np.stack([t.cons_level, t.cons_follow, t.cons_latency, t.cons_window, t.cons_sibling],
                              axis=1).astype(np.int64)
        ins = np.zeros((len(ISA), 6), np.int64)
        ins[:, K.II_CMD] = t.ins_command
        if row_policy == "close":
            # close-row policy: a single access uses the table's auto-precharge variant (RD -> RDA) where
            # it has one, instead of the access and a separate precharge
            for o in range(len(ISA)):
                c = t.ins_command[o]
                if c >= 0 and t.ins_repeat[o] == 0 and t.auto_precharge[c] >= 0:
                    ins[o, K.II_CMD] = t.auto_precharge[c]
        ins[:, K.II_REPEAT] = t.ins_repeat
        ins[:, K.II_MODE] = t.ins_mode
        ins[:, K.II_BLOCK] = t.ins_blocking
        ins[:, K.II_READER] = t.ins_reader | t.ins_blocking
        ins[:, K.II_AF] = t.ins_af_row
        self._insinfo = ins
        self._memo: OrderedDict = OrderedDict()
        self._memo_bytes = 0

    @property
    def command_names(self) -> tuple[str, ...]:
        return self.table.command_names

    def _cfg(self, *, runlength: bool, log: bool) -> np.ndarray:
        d, t = self.dram, self.table
        cfg = np.zeros(K.NCFG, np.int64)
        cfg[K.C_NCH] = d.channels
        cfg[K.C_NLEV] = len(t.level_names)
        cfg[K.C_NBANKS] = d.banks
        off = 0
        for lv, per in enumerate(t.level_banks):
            cfg[K.C_LVOFF + lv] = off
            cfg[K.C_LVDIV + lv] = per
            off += d.banks // int(per)
        cfg[K.C_LVOFF + len(t.level_names)] = off
        cfg[K.C_REFON] = int(self.refresh)
        cfg[K.C_REFINT] = self.refresh_interval_cycles
        cfg[K.C_REFPB] = int(d.refresh == "per_bank")
        cfg[K.C_CLOSE] = int(self.row_policy == "close")
        cfg[K.C_RL] = int(runlength)
        cfg[K.C_OPENB], cfg[K.C_CLOSEB] = t.open_bank, t.close_bank
        cfg[K.C_OPEN2B] = t.open_bank_second
        cfg[K.C_OPENA], cfg[K.C_CLOSEA] = t.open_all, t.close_all
        cfg[K.C_REFA], cfg[K.C_REFB] = t.ref_all, t.ref_bank
        cfg[K.C_MODESW] = t.mode_switch
        cfg[K.C_MODET:K.C_MODET + t.mode_next.size] = t.mode_next.ravel()
        cfg[K.C_LOG] = int(log)
        cfg[K.C_AFROW] = AF_ROW
        return cfg

    def validate(self, program: Program) -> None:
        """Raise TraceError (naming the source line) if the program does not fit this hardware."""
        a = program.array
        d, t = self.dram, self.table
        valid = np.uint64((1 << d.channels) - 1)
        ops = a["op"].astype(np.int64)
        has_bank = np.isin(ops, [OP[o] for o in ISA if "bank" in FIELDS[o]])
        has_row = np.isin(ops, [OP[o] for o in ISA if "row" in FIELDS[o]])
        bad = (~t.ins_supported[ops]) | ((a["mask"] != ALL_CHANNELS) & ((a["mask"] & ~valid) != 0))
        bad |= has_bank & ((a["bank"] < 0) | (a["bank"] >= d.banks))
        bad |= has_row & ((a["row"] < 0) | (a["row"] >= d.rows))
        for rec in a[bad][:1]:
            op = ISA[int(rec["op"])]
            where = f"{program.source}: line {int(rec['line'])}"
            if not t.ins_supported[OP[op]]:
                raise TraceError(f"{where}: instruction {op} is not supported by DRAM standard {d.standard}")
            mask = np.uint64(rec["mask"])
            if mask != ALL_CHANNELS and (mask & ~valid):
                hi = int(mask).bit_length() - 1
                raise TraceError(f"{where}: {op} needs channel {hi} but the hardware has {d.channels} channels "
                                 f"(0..{d.channels - 1})")
            fields = FIELDS[op]
            if "bank" in fields and not 0 <= int(rec["bank"]) < d.banks:
                raise TraceError(f"{where}: bank {int(rec['bank'])} out of range 0..{d.banks - 1}; "
                                 f"expected `{grammar(op)}`")
            if "row" in fields and not 0 <= int(rec["row"]) < d.rows:
                raise TraceError(f"{where}: row {int(rec['row'])} out of range 0..{d.rows - 1}; "
                                 f"expected `{grammar(op)}`")

    def _arrays(self, start_state: EngineState | None) -> _Arrays:
        st = _Arrays(self.dram, self.table)
        interval = self.refresh_interval_cycles
        st.chs[:, K.S_NEXTREF] = interval
        if start_state is not None:
            if len(start_state.modes) != st.nch:
                raise ConfigError("start_state was produced for a different channel count")
            st.open_row[:] = np.array(start_state.open_rows, np.int64)
            st.chs[:, K.S_MODE] = start_state.modes
            st.chs[:, K.S_NEXTREF] = interval - np.array(start_state.cycles_since_refresh, np.int64)
            st.chs[:, K.S_REFPTR] = start_state.refresh_bank
            st.ready[:] = np.frombuffer(start_state.residue, np.int64).reshape(st.ready.shape)
            hist = np.frombuffer(start_state.history, np.int64).reshape(st.hist.shape)
            st.hist[:] = hist
            st.hpos[:] = np.where(hist[..., 0] > K.NEG, st.hist.shape[3], 0)
            # the row open in every bank of a channel, -1 if all closed, -2 if mixed (kernel._uni_row)
            first = st.open_row[:, 0]
            st.chs[:, K.S_UNIROW] = np.where((st.open_row == first[:, None]).all(axis=1), first, -2)
        return st

    def settled_state(self, open_row: int = -1, mode: int = 1) -> EngineState:
        """Channels idle long enough that every timing constraint has expired, with `open_row` open in
        every bank (-1: all precharged) and refresh just done: the state a PIM op finds after the ASIC
        work that separates it from the previous op."""
        st = _Arrays(self.dram, self.table)
        return EngineState(
            open_rows=tuple((int(open_row),) * st.nbanks for _ in range(st.nch)),
            modes=(int(mode),) * st.nch, cycles_since_refresh=(0,) * st.nch, refresh_bank=(0,) * st.nch,
            residue=np.zeros_like(st.ready).tobytes(), history=np.full_like(st.hist, K.NEG).tobytes(),
        )

    def run(self, program: Program, *, log: bool = False, mode: Literal["runlength", "exact"] = "runlength",
            start_state: EngineState | None = None) -> EngineResult:
        """Execute `program`; see the module docstring of pimsim.dram for the semantics."""
        if mode not in ("runlength", "exact"):
            raise ConfigError(f"mode must be 'runlength' or 'exact', got {mode!r}")
        key = None
        if self.memo and not log:
            key = (program.signature(), mode, start_state)
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return _copy(hit)
        res = self._run(program, log=log, mode=mode, start_state=start_state)
        if key is not None:
            self._memo[key] = _copy(res)
            self._memo_bytes += _result_bytes(res, start_state)
            while self._memo and (len(self._memo) > self.MEMO_ENTRIES or self._memo_bytes > self.MEMO_BYTES):
                (_, _, old_start), old = self._memo.popitem(last=False)
                self._memo_bytes -= _result_bytes(old, old_start)
        return res

    def _run(self, program: Program, *, log: bool, mode: str, start_state: EngineState | None) -> EngineResult:
        self.validate(program)
        a = program.array
        cfg = self._cfg(runlength=mode == "runlength", log=log)
        cap = 16
        if log:
            nreq = int(np.sum(a["opsize"].astype(np.int64))) * self.dram.channels
            cap = nreq + len(a) * self.dram.channels * (self.dram.banks + 3) + 4096
        while True:
            st = self._arrays(start_state)
            logarr = np.zeros((cap, 5), np.int64)
            nlog = np.zeros(1, np.int64)
            end = K.simulate_native(a["op"].astype(np.int64), a["opsize"].astype(np.int64), a["mask"].astype(np.uint64),
                             a["bank"].astype(np.int64), a["row"].astype(np.int64), self._insinfo, cfg,
                             self._cmdinfo, self.table.cons_start, self._cons, st.ready, st.hist, st.hpos,
                             st.open_row, st.chs, st.leave, st.counts, st.cat, logarr, nlog)
            if not log or nlog[0] <= cap:
                break
            cap = int(nlog[0]) + 16
        return self._result(int(end), st, logarr[: int(nlog[0])] if log else None)

    def _result(self, end: int, st: _Arrays, logarr: np.ndarray | None) -> EngineResult:
        names = self.table.command_names
        totals = st.counts.sum(axis=0)
        commands = {names[i]: int(totals[i]) for i in range(len(names)) if totals[i]}
        crit = int(np.argmax(st.chs[:, K.S_END])) if st.nch else 0
        category = {CATEGORIES[k]: int(st.cat[crit, k]) for k in range(K.NCAT)}
        interval = self.refresh_interval_cycles
        since = (interval - (st.chs[:, K.S_NEXTREF] - end)) if self.refresh else np.zeros(st.nch, np.int64)
        state = EngineState(
            open_rows=tuple(tuple(int(r) for r in row) for row in st.open_row),
            modes=tuple(int(m) for m in st.chs[:, K.S_MODE]),
            cycles_since_refresh=tuple(int(s) for s in since),
            refresh_bank=tuple(int(b) for b in st.chs[:, K.S_REFPTR]),
            residue=np.maximum(st.ready - end, 0).astype(np.int64).tobytes(),
            history=np.where(st.hist > K.NEG, st.hist - end, K.NEG).astype(np.int64).tobytes(),
        )
        log = None
        if logarr is not None:
            log = np.zeros(len(logarr), LOG_DTYPE)
            for j, name in enumerate(LOG_DTYPE.names):
                log[name] = logarr[:, j]
            log = log[np.argsort(log["cycle"], kind="stable")]
        return EngineResult(
            cycles=end, ns=end * self.dram.tck_ns / self.table.ticks_per_cycle, commands=commands, row_hits=int(st.chs[:, K.S_HITS].sum()),
            row_misses=int(st.chs[:, K.S_MISSES].sum()),
            channel_busy_cycles=[int(b) for b in st.chs[:, K.S_BUSY]], end_state=state,
            category_cycles=category, channel_category_cycles=st.cat.copy(), channel_commands=st.counts.copy(),
            command_names=names, log=log,
            channel_row_hits=tuple(int(h) for h in st.chs[:, K.S_HITS]),
            channel_row_misses=tuple(int(m) for m in st.chs[:, K.S_MISSES]),
        )


def _copy(res: EngineResult) -> EngineResult:
    """A result sharing nothing mutable with `res` (its states are immutable)."""
    return replace(res, commands=dict(res.commands), channel_busy_cycles=list(res.channel_busy_cycles),
                   category_cycles=dict(res.category_cycles),
                   channel_category_cycles=res.channel_category_cycles.copy(),
                   channel_commands=res.channel_commands.copy())


def _result_bytes(res: EngineResult, start: EngineState | None) -> int:
    """Memory a stored result holds: its end state's arrays, its start state's (the key), its counters."""
    state = len(res.end_state.residue) + len(res.end_state.history)
    key = len(start.residue) + len(start.history) if start is not None else 0
    return state + key + res.channel_category_cycles.nbytes + res.channel_commands.nbytes


class Device:
    """Timing-only probe of one DRAM device (Ramulator 2 style device tests): ask whether a command is
    legal at a cycle, issue it, ask again. Uses the engine's kernel functions and table; row state is
    tracked but not required (column commands to closed banks are not refused)."""

    def __init__(self, dram: DramConfig):
        K.jit()                                 # the probes call the kernel's functions one by one (numba)
        self.dram = dram
        self.engine = CommandEngine(dram, refresh=False)
        self._st = _Arrays(dram, self.engine.table)
        self._cfg = self.engine._cfg(runlength=False, log=False)
        self.issued: list[tuple[int, int, int, str, int]] = []

    def _cmd(self, name: str) -> int:
        return self.engine.table.cmd(name)

    def earliest(self, cmd: str, channel: int = 0, bank: int = -1) -> int:
        """Earliest cycle `cmd` may issue on (channel, bank); bank -1 = every bank / channel scope."""
        return int(K.ready_cycle(self._cfg, self.engine._cmdinfo, self._st.ready, channel, self._cmd(cmd), bank))

    def can_issue(self, cmd: str, cycle: int, channel: int = 0, bank: int = -1) -> bool:
        return cycle >= self.earliest(cmd, channel, bank)

    def issue(self, cmd: str, cycle: int, channel: int = 0, bank: int = -1, row: int = 0) -> None:
        if not self.can_issue(cmd, cycle, channel, bank):
            raise ValueError(f"{cmd} on channel {channel} bank {bank} is not legal at cycle {cycle} "
                             f"(earliest {self.earliest(cmd, channel, bank)})")
        c = self._cmd(cmd)
        K.apply_constraints(self._cfg, self.engine._cmdinfo, self.engine.table.cons_start, self.engine._cons,
                            self._st.ready, self._st.hist, self._st.hpos, channel, c, bank, cycle)
        K.update_rows(self._cfg, self.engine._cmdinfo, self._st.open_row, self._st.chs, channel, c, bank, row)
        self.issued.append((cycle, channel, bank, cmd, row))

    def log(self) -> np.ndarray:
        """The issued commands as an engine log (for check_log)."""
        out = np.zeros(len(self.issued), LOG_DTYPE)
        for i, (cyc, ch, b, name, row) in enumerate(self.issued):
            out[i] = (cyc, ch, b, self._cmd(name), row)
        return out
