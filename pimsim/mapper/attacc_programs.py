"""AttAcc's own bank-level ("BA") attention program for one HBM3 stack, in pimsim's program grammar.

AttAcc (ASPLOS 2024; scale-snu/attacc_simulator, pim_ramulator_src/trace_gen/gen_trace_attacc_bank.py) times
a decode step's attention on its modified Ramulator 2 (HBM3-PIM, 16 channels of 2 pseudo channels x 2 SIDs x
4 bank groups x 4 banks, a 16-lane GEMV unit per bank). This module re-derives that trace's schedule from
the generator's rules (written here, not copied) and emits it for pimsim's `hbm3-pim` standard.

What AttAcc runs (n_mac = 32 B / dbyte elements per column; G = ceil(L / 16) key groups; kd = ceil(dhead /
(4 x n_mac)) columns per key in one bank):
- heads: `heads` is AttAcc's nhead, heads per HBM stack (ramulator_wrapper.py: ceil(numOp / num_hbm), numOp =
  num_heads / tp x batch per AttAcc device). Iteration k runs heads 16k .. 16k+15, head 16k+c on channel c;
  the last iteration has heads % 16 valid channels (channels 0.. first), so channel 0 is the busiest.
- one head on a channel: score WRGB (4 x kd: q into the GEMV buffers), score MACAB over K (G x kd columns
  of all 64 banks, contiguous from the head's row), an MVSB group of 8 (the 8 (SID, bank group) units'
  scores to the softmax buffer) after every 16 key groups and after the last, SFM (one), context MVGB
  (8 x ceil(L / (16 n_mac)): the probabilities back into the GEMV buffers), MACAB over V (kd x G columns),
  an MVSB group of 8 after each of the kd output column blocks.
- schedule: heads run in pairs (2k, 2k+1) with the phases overlapped inside barrier windows (the pair's
  second head's WRGB under the first's score MACs, the first's SFM/MVGB under the second's score MACs, the
  second's under the first's context MACs). The artifact's fourth phase ("Head1: Context") replays the FIRST
  head's context (cmd_context_mac[i]), so the second head's context never runs; the command counts in its
  ramulator.out carry that (a pair's second head has its first head's channels). A pair's first iteration
  also has one dummy MACAB per channel. An odd last iteration runs alone; the generator that wrote
  ramulator.out (the initial commit c1540de) has its SFM + MVGB block indented into the score loop, so it
  runs length + 1 times there (c600051 "fixed indentations" runs it once): `generator` picks which.
- WRGB / MVGB slices are spread over windows with int() strides over the all-channel list; entries past
  stride x windows are never emitted (the artifact's counts lose them: e.g. 472 WRGB, not 480, at L 2049).

Timing in AttAcc's Ramulator (HBM3-PIM.cpp, hbm3_pim_controller.cpp, pim_scheduler.cpp):
- MACAB nCCDAB apart (6 tCK power-limited, 4 NPC), row switches PREA (nRTPL after the last MAC, nRAS after
  ACTAB), ACTAB (nRP), MAC (nRCDRD).
- WRGB, MVSB, MVGB, SFM change no DRAM state and share one rule set (data bus nBL per pseudo channel, nCCDS
  per SID, nCCDL per bank group); they issue between MACs (different data path), the scheduler taking any
  ready request inside the barrier window (FCFS among ready ones), and a later window's row commands
  (PREA/ACTAB) may issue past a barrier (pim_scheduler.cpp: is_opening || is_closing).
- SFM is channel-scoped: its rules are all at pseudo channel level or below, so it waits for nothing; it
  costs one command slot. AttAcc times the softmax itself outside Ramulator (main.py's softmax layer:
  PIM.get_time_and_energy, flops / SOFTMAX_FLOPS vs bytes / SOFTMAX_MEM_BW).
- refresh: AllBankHBM3, REFab per pseudo channel every nREFI (a PREA first), ACTAB nRFC after.

pimsim's grammar (pimsim/dram/program.py FIELDS; hbm3-pim's instruction table) has MAC_ABK (-> MAC16 = MACAB,
the engine adds ACT16 / PREA for row switches) and WR_GB (-> WRGB) but NO MVSB, MVGB, SFM or BARRIER
instruction. RD_MAC (-> RDMAC16) is a blocking result read to the host (the decoder waits for every
channel's read, nCL + nBL), not AttAcc's non-blocking on-die move. Stand-ins used here [modelling]:
- MVGB -> WR_GB: the same transfer as WRGB (buffer die to the GEMV buffers), the same AttAcc rules;
- MVSB -> WR_GB (default, `mvsb_as="WR_GB"`): a non-blocking data-bus transfer with WRGB's rules, as AttAcc
  times it; `mvsb_as="RD_MAC"` gives the blocking reading instead (for comparison);
- SFM: no instruction (it has no timing in AttAcc's Ramulator but its command slot); counted, not emitted;
- BARRIER / AttAcc's reordering: pimsim's engine serves a channel strictly in order, so each window is
  emitted as its MACs with one data move after each MAC (the rest after the last MAC), and the data moves of
  a window with no MAC are emitted before the next MAC except the last `hide` of them (the ones AttAcc
  drains while the next row's PREA/ACTAB run past the barrier: floor((nRP + nRCDRD) / nCCDL)), which follow
  that MAC when it opens a new row.
pimsim's WRGB is channel-scoped, nCCDL apart; AttAcc's moves to other bank groups / SIDs go nBL or nCCDS
apart (its score MVSBs 2 tCK), which only shows where moves run with no MACs beside them.

The program is one channel's (`channel`, default 0 = the busiest), written with the channel-0 mask, as
pimsim's other per-channel programs. Rows follow AttAcc's addresses: head slot k's K at byte
k x ceil(max_L x dhead / 64) (max_L 4096: the wrapper passes no --maxlen), V 2^23 bytes above; 32 columns of
32 B per row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from math import ceil

from pimsim.mapper.programs import CH0_MASK, Program

# AttAcc's HBM3 organisation (gen_trace_attacc_bank.py)
N_CHANNEL, N_PCH, N_RANK, N_BG, N_BANK = 16, 2, 2, 4, 4
N_COL = 32
COLUMN_BYTES = 32
UNITS_PER_CHANNEL = N_PCH * N_RANK * N_BG * N_BANK  # 64 bank-level GEMV units
KEY_GROUP = N_PCH * N_RANK * N_BG  # 16: keys per n_idx (one per (pCH, SID, BG) bank column)
V_OFFSET = 1 << 23  # bytes between a head slot's K and V
ROW_BYTES = N_COL * COLUMN_BYTES
GENERATORS = ("c1540de", "c600051")
KINDS = ("mac", "softmax", "mvgb", "mvsb", "wrgb")  # ramulator.out's command columns


@dataclass(frozen=True)
class AttAccShape:
    """One stack's attention as AttAcc's trace generator takes it (its --seqlen, --nhead, --dhead, --dbyte)."""

    context: int  # L (tokens attended)
    heads: int  # nhead: heads per HBM stack
    head_dim: int = 128
    channels: int = N_CHANNEL
    dbyte: int = 2
    max_context: int = 4096  # --maxlen (its default: ramulator_wrapper.py passes none)
    generator: str = "c1540de"  # the trace generator that wrote ramulator.out

    def __post_init__(self) -> None:
        bad = [k for k in ("context", "heads", "head_dim", "channels", "dbyte", "max_context") if getattr(self, k) < 1]
        if bad:
            raise ValueError(f"AttAcc attention dims must be positive: {', '.join(bad)}")
        if COLUMN_BYTES % self.dbyte:
            raise ValueError(f"dbyte {self.dbyte} does not divide the {COLUMN_BYTES} B column")
        if self.channels > 64:
            raise ValueError(f"channels {self.channels} > 64 (pimsim's channel masks)")
        if self.generator not in GENERATORS:
            raise ValueError(f"generator {self.generator!r}: one of {', '.join(GENERATORS)}")

    @property
    def n_mac(self) -> int:
        return COLUMN_BYTES // self.dbyte

    @property
    def key_groups(self) -> int:  # G
        return ceil(self.context / KEY_GROUP)

    @property
    def kd(self) -> int:  # columns of one key (or output block) in one bank
        return ceil(self.head_dim / N_BANK / self.n_mac)

    @property
    def score_windows(self) -> int:  # MVSB groups of the score (16 key groups each)
        return ceil(self.context / KEY_GROUP / 16)

    @property
    def mvgb_columns(self) -> int:  # MVGB per (SID, bank group)
        return ceil(self.context / (KEY_GROUP * self.n_mac))

    @property
    def iterations(self) -> int:
        return ceil(self.heads / self.channels)

    def valid(self, itr: int) -> int:
        """Channels with a head in iteration `itr` (gen_trace_attacc_bank.py's remainder rule)."""
        if self.heads / ((itr + 1) * self.channels) < 1 and self.heads % self.channels:
            return self.heads % self.channels
        return self.channels

    def k_row(self, itr: int, column: int) -> int:
        base = itr * ceil(self.max_context * self.head_dim / UNITS_PER_CHANNEL)
        return (base + column * COLUMN_BYTES) // ROW_BYTES

    def v_row(self, itr: int, column: int) -> int:
        base = itr * ceil(self.max_context * self.head_dim / UNITS_PER_CHANNEL) + V_OFFSET
        return (base + column * COLUMN_BYTES) // ROW_BYTES


def _slices(entries_per_channel: int, valid: int, stride: int, windows: int, channel: int) -> list[int]:
    """How many of `channel`'s entries each of `windows` slices of an all-channel list (entries ordered
    (entry, channel), `valid` channels) of `stride` entries holds; entries past stride x windows are dropped."""
    out = [0] * windows
    if channel >= valid or stride <= 0:
        return out
    for q in range(entries_per_channel):
        w = (q * valid + channel) // stride
        if w < windows:
            out[w] += 1
    return out


def channel_windows(shape: AttAccShape, channel: int) -> list[list[tuple]]:
    """The barrier windows of one channel, each a list of commands in AttAcc's trace order:
    ("mac", row), ("wrgb",), ("mvsb",), ("mvgb",), ("sfm",)."""
    s = shape
    G, kd, ls = s.key_groups, s.kd, s.score_windows
    windows: list[list[tuple]] = [[]]

    def add(cmds):
        windows[-1].extend(cmds)

    def barrier():
        windows.append([])

    def on(itr):
        return channel < s.valid(itr)

    def score_macs(itr, j):  # key groups 16j .. 16j+15
        if not on(itr):
            return []
        lo, hi = 16 * j * kd, min(G, 16 * (j + 1)) * kd
        return [("mac", s.k_row(itr, c)) for c in range(lo, hi)]

    def context_macs(itr, n):  # output block n: G columns
        if not on(itr):
            return []
        return [("mac", s.v_row(itr, n * G + k)) for k in range(G)]

    def group(itr, kind="mvsb"):
        return [(kind,)] * (N_BG * N_RANK) if on(itr) else []

    def sfm(itr):
        return [("sfm",)] if on(itr) else []

    wrgb_per_ch = N_BANK * kd
    mvgb_per_ch = N_RANK * N_BG * s.mvgb_columns

    def wrgb_slices(itr):
        stride = int(wrgb_per_ch * s.valid(itr) / ls)
        return _slices(wrgb_per_ch, s.valid(itr), stride, ls, channel)

    def mvgb_slices(itr, length):
        half = ceil(length / 2)
        stride = int(mvgb_per_ch * s.valid(itr) / half)
        return _slices(mvgb_per_ch, s.valid(itr), stride, half, channel)

    def stream(macs, itr, n, under=None, first=(), each=None):
        """Head `itr`'s n MAC windows (`macs(itr, j)`), each closed by a barrier: window j opens with the
        bank groups' MVSBs of window j-1 (and window 0 with `first`) and closes with `under(j)`, another
        head's commands hidden under it; `each()` runs at the end of every step (the c1540de tail)."""
        for j in range(n + 1):
            if j < n:
                add(macs(itr, j))
            if j > 0:
                add(group(itr))
            if j == 0:
                add(first)
            if j < n:
                if under is not None:
                    add(under(j))
                barrier()
            if each is not None:
                each()

    def mvgb_under(mg, n):  # the second half of n windows carries the MVGB slices
        return lambda j: [("mvgb",)] * mg[j - n // 2] if j >= n // 2 else []

    n_itr = s.iterations
    for i in range(0, n_itr - 1, 2):
        # head i: score; head i+1's WRGB under it
        add([("wrgb",)] * wrgb_per_ch if on(i) else [])
        if i == 0 and on(i):
            add([("mac", s.k_row(i, 0))])  # the dummy MAC
        barrier()
        wr = wrgb_slices(i + 1)
        stream(score_macs, i, ls, under=lambda j: [("wrgb",)] * wr[j])
        # head i+1: score; head i's SFM and MVGB under it
        stream(score_macs, i + 1, ls, under=mvgb_under(mvgb_slices(i, ls), ls), first=sfm(i))
        # head i: context; head i+1's SFM and MVGB under it
        stream(context_macs, i, kd, under=mvgb_under(mvgb_slices(i + 1, kd), kd), first=sfm(i + 1))
        # "Head1: Context": the artifact replays head i's context
        stream(context_macs, i, kd)
    if n_itr % 2:
        i = n_itr - 1
        add([("wrgb",)] * wrgb_per_ch if on(i) else [])
        barrier()
        tail = sfm(i) + ([("mvgb",)] * mvgb_per_ch if on(i) else [])

        def tail_in_loop():  # c1540de: the block indented into the loop
            add(tail)
            barrier()

        stream(score_macs, i, ls, each=tail_in_loop if s.generator == "c1540de" else None)
        if s.generator == "c600051":
            add(tail)
            barrier()
        stream(context_macs, i, kd)
    return [w for w in windows if w]


def _kind_counts(windows) -> Counter:
    n = Counter()
    for w in windows:
        for cmd in w:
            n[cmd[0]] += 1
    return n


def attacc_command_counts(shape: AttAccShape, channel: int | None = None) -> dict[str, int]:
    """AttAcc's command counts (ramulator.out's columns: mac, softmax, mvgb, mvsb, wrgb), over every channel
    of the stack (its Ramulator's totals) or of one `channel`."""
    chans = range(shape.channels) if channel is None else [channel]
    total = Counter()
    for c in chans:
        total += _kind_counts(channel_windows(shape, c))
    return {"mac": total["mac"], "softmax": total["sfm"], "mvgb": total["mvgb"], "mvsb": total["mvsb"],
            "wrgb": total["wrgb"]}


def mac_count_closed_form(shape: AttAccShape) -> int:
    """MACABs over the stack in closed form: every head G x kd score + kd x G context columns per channel it
    runs on, a pair's second head with its first head's channels (the artifact's replayed context), and the
    first pair's dummy MAC on each of its channels."""
    s = shape
    per_head = s.key_groups * s.kd
    n = 0
    for i in range(0, s.iterations - 1, 2):
        n += per_head * (s.valid(i) + s.valid(i + 1)) + 2 * per_head * s.valid(i)
        if i == 0:
            n += s.valid(0)
    if s.iterations % 2:
        n += 2 * per_head * s.valid(s.iterations - 1)
    return n


def attacc_attention_program(context: int, heads: int, head_dim: int = 128, channels: int = N_CHANNEL, *,
                             dbyte: int = 2, channel: int = 0, generator: str = "c1540de",
                             max_context: int = 4096, mvsb_as: str = "WR_GB", hide: int = 9,
                             eoc: bool = True) -> Program:
    """AttAcc's bank-level attention of `heads` heads per stack over `channels` channels, as one channel's
    (`channel`, default 0: the busiest) pimsim program on the channel-0 mask (module docstring).

    `hide`: data moves of a MAC-less window placed after the next row-opening MAC (default 9 =
    floor((nRP + nRCDRD) / nCCDL) of hbm3-pim; `hide_for(timing)` computes it).
    The Program's gb_write_bytes: the WR_GB lines' bytes (WRGB, MVGB and, as WR_GB, MVSB); result_read_bytes:
    the MVSB bytes (either stand-in); mac_columns: the MACABs. Raises ValueError on bad dims."""
    if mvsb_as not in ("WR_GB", "RD_MAC"):
        raise ValueError(f"mvsb_as {mvsb_as!r}: WR_GB or RD_MAC")
    shape = AttAccShape(context, heads, head_dim, channels, dbyte, max_context, generator)
    if not 0 <= channel < channels:
        raise ValueError(f"channel {channel} not in 0..{channels - 1}")
    windows = channel_windows(shape, channel)
    lines: list[str] = []
    pending: list[str] = []  # moves carried past a row-opening MAC
    open_row = -1
    gb = rd = macs = last_row = 0

    def move_line(kind):
        nonlocal gb, rd
        if kind == "mvsb":
            rd += COLUMN_BYTES  # scores / context outputs leaving the GEMV units
            if mvsb_as == "RD_MAC":
                return f"AiM RD_MAC 0 {CH0_MASK}"
        gb += COLUMN_BYTES  # one WR_GB column on the channel's data bus
        return f"AiM WR_GB 1 0 {CH0_MASK}"

    def emit_mac_run(rows):
        """Consecutive MACs (rows in order), merged into MAC_ABK runs; returns the lines."""
        out = []
        for r in rows:
            if out and out[-1][1] == r:
                out[-1][0] += 1
            else:
                out.append([1, r])
        return [f"AiM MAC_ABK {n} {CH0_MASK} {r}" for n, r in out]

    for w in windows:
        mac_rows = [c[1] for c in w if c[0] == "mac"]
        moves = [move_line(c[0]) for c in w if c[0] != "mac" and c[0] != "sfm"]
        if not mac_rows:
            pending_before = moves[:max(0, len(moves) - hide)]
            lines.extend(pending)
            pending = []
            lines.extend(pending_before)
            pending = moves[len(pending_before):]
            continue
        first = mac_rows[0]
        if pending and first == open_row:  # no row switch to hide them under: they go first
            lines.extend(pending)
            pending = []
        queue = pending + moves
        pending = []
        # one MAC, then one move, ...; runs of MACs after the moves are used up
        k = 0
        while k < len(mac_rows):
            if queue:
                lines.extend(emit_mac_run([mac_rows[k]]))
                lines.append(queue.pop(0))
                k += 1
            else:
                lines.extend(emit_mac_run(mac_rows[k:]))
                k = len(mac_rows)
        lines.extend(queue)
        macs += len(mac_rows)
        open_row = mac_rows[-1]
        last_row = max(last_row, max(mac_rows))
    lines.extend(pending)
    if eoc:
        lines.append("AiM EOC")
    return Program(tuple(lines), gb, rd, macs, last_row)


def hide_for(timing: dict) -> int:
    """`hide` for a timing table: the data moves (nCCDL apart in pimsim) that fit under a row switch (PREA,
    nRP, ACT16, nRCDRD), which AttAcc drains while the next row's PREA / ACTAB issue past the barrier."""
    return (timing["nRP"] + timing["nRCDRD"]) // timing["nCCDL"]
