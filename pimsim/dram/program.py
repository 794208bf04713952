"""AiM instruction programs: the `Instr` record, a compact numpy encoding, and the trace parser.

Trace grammar (shared/reference/aim_gddr6.md, the public AiM simulator's): one instruction a line,
tokens separated by spaces, numbers decimal or `0x` hex, `#` starts a comment line, the trace ends with
`AiM EOC`:  `AiM <OP> [opsize] [GPR0] [GPR1] [channel_mask] [bank] [row]` with only the fields legal for
OP, in that order (`FIELDS`). The channel mask is 32 bits, bit i = channel 31 - i (channel 0 is the MSB).
An opcode may carry the simulator's `ISR_` prefix.

Inside pimsim a program is a numpy structured array (`PROGRAM_DTYPE`): op code (`table.OP`), opsize,
channel mask with bit c = channel c (uint64; SYNC/EOC without a mask mean every channel), bank, row, and
the source line (for error messages).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from pimsim.dram.table import ISA, OP
from pimsim.errors import TraceError
from pimsim.util.text import decode_text       # not config_io: that imports yaml and pydantic

MASK_BITS = 32
ALL_CHANNELS = np.uint64(0xFFFF_FFFF_FFFF_FFFF)

# Legal fields per instruction, in trace order (the AiM simulator's AiMISR table).
FIELDS: dict[str, tuple[str, ...]] = {
    "WR_SBK": ("gpr0", "mask", "bank", "row"),
    "WR_ABK": ("gpr0", "mask", "row"),
    "WR_GB": ("opsize", "gpr0", "mask"),
    "WR_BIAS": ("gpr0", "mask"),
    "RD_MAC": ("gpr0", "mask"),
    "RD_AF": ("gpr0", "mask"),
    "RD_SBK": ("gpr0", "mask", "bank", "row"),
    "COPY_BKGB": ("opsize", "mask", "bank", "row"),
    "COPY_GBBK": ("opsize", "mask", "bank", "row"),
    "MAC_SBK": ("opsize", "mask", "bank", "row"),
    "MAC_ABK": ("opsize", "mask", "row"),
    "AF": ("mask",),
    "EWMUL": ("opsize", "mask", "row"),
    "EWADD": ("opsize", "gpr0", "gpr1"),
    "SYNC": (),
    "EOC": (),
}
_FIELD_WORD = {"opsize": "opsize", "gpr0": "GPR0", "gpr1": "GPR1", "mask": "channel_mask", "bank": "bank",
               "row": "row"}
# Instructions that must name exactly one channel (the AiM simulator rejects others).
SINGLE_CHANNEL = ("WR_ABK",)

PROGRAM_DTYPE = np.dtype([("op", np.int16), ("opsize", np.int32), ("mask", np.uint64), ("bank", np.int32),
                          ("row", np.int64), ("line", np.int32)])


def grammar(op: str) -> str:
    """The expected form of one instruction line."""
    return " ".join(["AiM", op] + [_FIELD_WORD[f] for f in FIELDS[op]])


@dataclass(frozen=True)
class Instr:
    """One AiM instruction. `channels` None means every channel (SYNC, EOC)."""

    op: str
    opsize: int = 1
    channels: tuple[int, ...] | None = None
    bank: int = -1
    row: int = -1

    def __post_init__(self):
        if self.op not in OP:
            raise ValueError(f"unknown AiM instruction {self.op!r}; known: {', '.join(ISA)}")
        if self.opsize < 1:
            raise ValueError(f"{self.op}: opsize must be >= 1, got {self.opsize}")


def mask_of(channels: Iterable[int] | None) -> np.uint64:
    """Internal mask (bit c = channel c) of a channel list; None = every channel."""
    if channels is None:
        return ALL_CHANNELS
    m = 0
    for c in channels:
        if not 0 <= int(c) < 64:
            raise ValueError(f"channel {c} out of range 0..63")
        m |= 1 << int(c)
    return np.uint64(m)


def trace_mask(internal: int, bits: int = MASK_BITS) -> int:
    """The trace's mask (channel 0 = MSB of `bits`) of an internal mask."""
    out = 0
    for c in range(bits):
        if (int(internal) >> c) & 1:
            out |= 1 << (bits - 1 - c)
    return out


@dataclass(frozen=True, eq=False)
class Program:
    """An encoded instruction sequence (`array` of PROGRAM_DTYPE) and where it came from."""

    array: np.ndarray
    source: str = "<program>"

    def __len__(self) -> int:
        return len(self.array)

    @classmethod
    def from_instrs(cls, instrs: Sequence[Instr], source: str = "<program>") -> "Program":
        arr = np.zeros(len(instrs), PROGRAM_DTYPE)
        for i, ins in enumerate(instrs):
            arr[i] = (OP[ins.op], ins.opsize, mask_of(ins.channels), ins.bank, ins.row, i + 1)
        return cls(arr, source)

    def signature(self) -> str:
        """Hash of the instruction content (not of line numbers): a cache key; kept once computed when the
        array is read-only (it cannot change under the key)."""
        kept = self.__dict__.get("_signature")
        if kept is not None:
            return kept
        a = self.array[["op", "opsize", "mask", "bank", "row"]]
        sig = hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()
        if not self.array.flags.writeable:
            object.__setattr__(self, "_signature", sig)
        return sig

    def to_trace(self, header: Sequence[str] = ()) -> str:
        """The program in the trace grammar (masks of 32 bits)."""
        lines = [f"# {h}" for h in header]
        for rec in self.array:
            op = ISA[int(rec["op"])]
            vals = {"opsize": int(rec["opsize"]), "gpr0": 0, "gpr1": 0, "bank": int(rec["bank"]),
                    "row": int(rec["row"]), "mask": f"0x{trace_mask(int(rec['mask'])):08x}"}
            lines.append(" ".join(["AiM", op] + [str(vals[f]) for f in FIELDS[op]]))
        return "\n".join(lines) + "\n"


def _number(tok: str, what: str, where: str, op: str) -> int:
    t = tok.lower()
    try:
        if t.startswith("0x"):
            if len(t) == 2:
                raise ValueError
            return int(t[2:], 16)
        if not t.isdigit():
            raise ValueError
        return int(t)
    except ValueError:
        raise TraceError(f"{where}: bad number {tok!r} for {what} (a decimal or 0x-hex non-negative "
                         f"integer); expected `{grammar(op)}`") from None


# Host requests of the AiM simulator's trace grammar (aim_trace.cpp: `W|R MEM <channel> <bank> <row>`, one
# 32-byte column access of one bank): aim_DRAM_system.cpp sends a MEM write/read to the channel's controller
# exactly as it sends the ISR_WR_SBK / ISR_RD_SBK it converts to (Type Write/Read, region MEM; neither blocks
# the DMA), so pimsim replays them as WR_SBK / RD_SBK. CENT's traces (Yufeng98/CENT aim_sim.py) use them for the
# accelerator's loads and stores. GPR and CFR host requests are not modelled (TraceError).
_HOST_TYPES = {"W": "WR_SBK", "R": "RD_SBK"}
_HOST_GRAMMAR = "`W|R MEM <channel> <bank> <row>`"


def _host_request(toks: list[str], where: str, lineno: int) -> tuple:
    if len(toks) < 2 or toks[1] != "MEM":
        region = toks[1] if len(toks) > 1 else "(none)"
        raise TraceError(f"{where}: host request region {region!r} is not modelled (only MEM); expected "
                         f"{_HOST_GRAMMAR}")
    if len(toks) != 5:
        kind = "field missing" if len(toks) < 5 else "too many fields"
        raise TraceError(f"{where}: {kind}: a host MEM request takes 3 fields, got {len(toks) - 2}; expected "
                         f"{_HOST_GRAMMAR}")
    op = _HOST_TYPES[toks[0]]
    vals = []
    for tok, what in zip(toks[2:], ("channel", "bank", "row")):
        if not tok.isdigit():
            raise TraceError(f"{where}: bad number {tok!r} for {what} (a decimal non-negative integer); expected "
                             f"{_HOST_GRAMMAR}")
        vals.append(int(tok))
    channel, bank, row = vals
    if not 0 <= channel < MASK_BITS:
        raise TraceError(f"{where}: channel {channel} out of range 0..{MASK_BITS - 1}; expected {_HOST_GRAMMAR}")
    return (OP[op], 1, np.uint64(1 << channel), bank, row, lineno)


def parse_trace(trace: str | Path, *, source: str | None = None) -> Program:
    """Parse a trace file path (or the trace text itself) into a Program.

    A `str` that contains a newline or the word `AiM` is taken as trace text, anything else as a path.
    A file is read as UTF-8 (a leading BOM is dropped); bytes that are not UTF-8 are a TraceError naming
    the byte offset. Raises TraceError naming the file, the line and the expected grammar.
    """
    if isinstance(trace, Path) or ("\n" not in trace and "AiM" not in trace):
        path = Path(trace)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise TraceError(f"{path}: cannot read trace ({exc.strerror or exc})") from None
        name = source or str(path)
        text = decode_text(raw, name, TraceError)  # UTF-8, a leading BOM dropped
    else:
        text, name = trace.removeprefix("\ufeff"), source or "<trace>"
    recs: list[tuple] = []
    eoc_line = 0
    last_line = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        last_line = lineno
        where = f"{name}: line {lineno}"
        if eoc_line:
            raise TraceError(f"{where}: instruction after `AiM EOC` (line {eoc_line}); a trace ends with "
                             "`AiM EOC`")
        toks = line.split()
        if toks[0] in _HOST_TYPES:
            recs.append(_host_request(toks, where, lineno))
            continue
        if toks[0] != "AiM":
            raise TraceError(f"{where}: bad token {toks[0]!r}: every instruction starts with `AiM` (or is a host "
                             "request `W|R MEM <channel> <bank> <row>`); expected `AiM <OP> [opsize] [GPR0] [GPR1] "
                             "[channel_mask] [bank] [row]`")
        if len(toks) < 2:
            raise TraceError(f"{where}: missing opcode; expected `AiM <OP> ...` with OP one of {', '.join(ISA)}")
        op = toks[1][4:] if toks[1].startswith("ISR_") else toks[1]
        if op not in FIELDS:
            raise TraceError(f"{where}: bad token {toks[1]!r}: unknown AiM instruction; known: {', '.join(ISA)}")
        fields = FIELDS[op]
        vals = toks[2:]
        if len(vals) != len(fields):
            kind = "field missing" if len(vals) < len(fields) else "too many fields"
            raise TraceError(f"{where}: {kind}: {op} takes {len(fields)} field(s), got {len(vals)}; "
                             f"expected `{grammar(op)}`")
        rec = {"opsize": 1, "mask": ALL_CHANNELS, "bank": -1, "row": -1}
        for f, tok in zip(fields, vals):
            v = _number(tok, _FIELD_WORD[f], where, op)
            if f == "mask":
                hex_digits = len(tok) - 2 if tok.lower().startswith("0x") else 0
                if v >= 1 << MASK_BITS or hex_digits > MASK_BITS // 4:
                    raise TraceError(f"{where}: channel mask {tok} is wider than {MASK_BITS} bits (channel 0 = "
                                     f"MSB, e.g. 0x80000000); expected `{grammar(op)}`")
                if v == 0:
                    raise TraceError(f"{where}: channel mask {tok} selects no channel; expected `{grammar(op)}`")
                rec["mask"] = np.uint64(int(trace_mask(v)))
            elif f == "opsize":
                if v < 1:
                    raise TraceError(f"{where}: bad number {tok!r} for opsize (must be >= 1); expected "
                                     f"`{grammar(op)}`")
                rec["opsize"] = v
            elif f in ("bank", "row"):
                rec[f] = v
        if op in SINGLE_CHANNEL and bin(int(rec["mask"])).count("1") != 1:
            raise TraceError(f"{where}: {op} must name exactly one channel in its mask; expected `{grammar(op)}`")
        recs.append((OP[op], rec["opsize"], rec["mask"], rec["bank"], rec["row"], lineno))
        if op == "EOC":
            eoc_line = lineno
    if not eoc_line:
        last = f"after line {last_line}" if last_line else "(no instructions)"
        raise TraceError(f"{name}: truncated trace: missing `AiM EOC` {last}; every trace ends with `AiM EOC`")
    return Program(np.array(recs, PROGRAM_DTYPE), name)
