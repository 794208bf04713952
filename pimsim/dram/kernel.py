"""numba kernel of the command engine: array state, event-driven (jumps to each command's earliest
legal cycle; never ticks idle cycles).

Timing state follows Ramulator 2: for every node of a channel (the levels of the table: by default the
channel, each rank, bank group and bank; HBM3 adds pseudo channels and SIDs) and every command, the next
cycle (tick) that command may issue there (`ready`). Issuing command p at cycle t raises, for every
constraint (level L, p -> f, latency, window w) of the table, `ready[n, f]` of the L-level node(s) n
containing p's target to t + latency (or to the w-th most recent p at n + latency); a sibling constraint
raises the other L-level nodes under the same parent instead. A command is legal at t on a target when
t >= `ready` of every node containing the target (every node inside it for a command of a level's scope,
every node of the channel for all-bank and channel-scope commands).

Cycle accounting: the cycles between two commands of a channel count for the category of the earlier
one (ACT16 -> MAC16 is row switching, TMOD -> WRGB mode switching, MAC16 -> MAC16 MAC streaming), except
that before a row, refresh or mode command the earlier command keeps only its own issue spacing and
the rest is the later command's (MAC16 -> PREA: nCCDL of MAC, nRTP - nCCDL of row switching), cycles a channel waits for work
(decode, a blocking instruction of another channel) count as `wait` (after a result read: as
`result_read`, the read's round trip), the last command to the end `drain`.

Controller semantics (the public AiM simulator's, shared/reference/aim_gddr6.md): one instruction is
decoded per host tick and sent to every channel in its mask; each channel serves its request queue
(QUEUE_DEPTH entries; a host instruction whose requests do not fit waits, and so does the next decode)
strictly in order, one command per cycle; a request's row command (PRE/PREA, ACT/ACT16) and the
register/compute mode switch (TMOD, issued when the next command is ready) come first; blocking
instructions (RD_MAC, RD_AF, SYNC, EOC) hold the decoder until every channel has returned them, one
completed read per channel per cycle; SYNC/EOC also wait for outstanding writes. Refresh (when on) is
due every interval; a command that would issue at or after the due cycle waits until the channel has
precharged (PREA/PRE) and refreshed (at most one refresh is postponed, to the next request, when one
falls due again while a request reopens its row); rows are reopened by the next access that needs them.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from pimsim.dram.table import CATEGORIES, ISA, MAX_LEVELS, MAX_MODES, ROLES, SCOPES

# Compilation (issue 17, start-up and cold start). The functions below are plain Python until `jit()` turns
# them into numba dispatchers: importing this module imports no numba. The engine runs them as one native
# library (`native()`): `simulate` compiled once, for one explicit C signature (`_C_ARGS`), by numba in a
# child process, linked into a shared object by `cc` (or kept as an object file that llvmlite loads when
# there is no C compiler) and cached under a key of this file's and pimsim/dram/table.py's bytes and the
# CPU. A warm start loads it with ctypes: no numba import, no dispatcher, no typing. The numba dispatchers
# (`jit()`) serve the `Device` probe and the build.
#
# The kernel allocates nothing, so it is compiled without numba's runtime (NRT): with it, every call between
# these functions increfs and decrefs each of its ~15 array arguments atomically, which was most of the
# per-command cost (8-channel GEMV: 1.9 -> 5.9 M commands/s in one run). `_nrt` is numba's own switch.
# error_model "numpy": integer // and % compile without zero-divisor checks (every divisor is a validated
# positive count: a level's banks, the refresh interval, a command's spacing, the queue depth).
_JIT = dict(cache=True, _nrt=False, error_model="numpy")
# the kernel's functions in source order (callees first). None is inlined at numba's IR level: the one O3
# pass over the linked library inlines them (inline="always" on the three smallest helpers cost 0.5 s of
# a 4.4 s build, measured, for no speed)
_KERNEL_FUNCS: list[str] = []


def _kernel():
    """Register a kernel function (made a dispatcher by `jit()`, compiled into the native library)."""
    def register(fn):
        _KERNEL_FUNCS.append(fn.__name__)
        return fn
    return register


QUEUE_DEPTH = 33  # the AiM simulator's ReqBuffer: max_size 32, enqueue accepted while size <= 32
NEG = -(1 << 60)

# Integer codes shared with pimsim.dram.table, derived from its name tuples (never repeated here). numba
# freezes module globals into the compiled code and keys its cache on this file only, so `ensure_layout`
# recompiles the kernel when a cached copy was built with other codes.
SC_CHANNEL, SC_BANK, SC_ALL, SC_GROUP = (SCOPES.index(n) for n in ("channel", "bank", "all_banks", "group"))
(RO_NONE, RO_OPEN, RO_CLOSE, RO_ACCESS, RO_ACCESS_CLOSE, RO_REFRESH, RO_MODE, RO_OPEN_FIRST) = (
    ROLES.index(n) for n in ("none", "open", "close", "access", "access_close", "refresh", "mode_switch",
                             "open_first"))
CAT_RESULT, CAT_MODE, CAT_REFRESH, CAT_WAIT, CAT_DRAIN = (
    CATEGORIES.index(n) for n in ("result_read", "mode_switch", "refresh", "wait", "drain"))
NCAT = len(CATEGORIES)
OP_SYNC, OP_EOC = ISA.index("SYNC"), ISA.index("EOC")
NLEVMAX = MAX_LEVELS
# an activating bank (first step of a two-step activate) stores ACTIVATING - row as its open row
ACTIVATING = -3
LAYOUT = (SC_CHANNEL, SC_BANK, SC_ALL, SC_GROUP, RO_NONE, RO_OPEN, RO_CLOSE, RO_ACCESS, RO_ACCESS_CLOSE,
          RO_REFRESH, RO_MODE, RO_OPEN_FIRST, CAT_RESULT, CAT_MODE, CAT_REFRESH, CAT_WAIT, CAT_DRAIN, NCAT,
          OP_SYNC, OP_EOC, NLEVMAX)

# per-command info columns (CI_TLEV: the deepest level at which the command names one node; CI_SIB0: index of
# its first sibling rule in the constraint array)
CI_SCOPE, CI_ROLE, CI_DONE, CI_CAT, CI_SPACING, CI_HASWIN, CI_LEVELS, CI_TLEV, CI_SIB0 = range(9)
NCI = 9
# per-channel scalar columns
(S_LAST, S_FPREV, S_MODE, S_NEXTREF, S_REFPTR, S_REQS, S_WDEP, S_LSERVE, S_BUSY, S_BUSYEND, S_FRONT,
 S_HITS, S_MISSES, S_END, S_UNIROW, S_PCAT, S_PSPC) = range(17)
NSCAL = 17
# config columns; C_LVOFF + lv: first node of level lv (NLEVMAX + 1 entries), C_LVDIV + lv: banks per node
(C_NCH, C_NLEV, C_NBANKS, C_REFON, C_REFINT, C_REFPB, C_CLOSE, C_RL, C_OPENB, C_OPEN2B, C_CLOSEB, C_OPENA,
 C_CLOSEA, C_REFA, C_REFB, C_MODESW, C_LOG, C_WMAX, C_AFROW) = range(19)
C_LVOFF = 19
C_LVDIV = C_LVOFF + NLEVMAX + 1
# C_MODET + 2 * (mode * NMODEMAX + needed): the mode-switch command to issue, then the mode after it
# (pimsim.dram.table.CompiledTable.mode_next)
C_MODET = C_LVDIV + NLEVMAX
NMODEMAX = MAX_MODES
NCFG = C_MODET + 2 * NMODEMAX * NMODEMAX
# instruction info columns
II_CMD, II_REPEAT, II_MODE, II_BLOCK, II_READER, II_AF = range(6)


@_kernel()
def _layout_codes():
    return (SC_CHANNEL, SC_BANK, SC_ALL, SC_GROUP, RO_NONE, RO_OPEN, RO_CLOSE, RO_ACCESS, RO_ACCESS_CLOSE,
            RO_REFRESH, RO_MODE, RO_OPEN_FIRST, CAT_RESULT, CAT_MODE, CAT_REFRESH, CAT_WAIT, CAT_DRAIN, NCAT,
            OP_SYNC, OP_EOC, NLEVMAX)


@_kernel()
def _node(cfg, level, bank):
    if level == 0:
        return 0            # the first level is the channel: one node
    d = cfg[C_LVDIV + level]
    if d == 1:
        return cfg[C_LVOFF + level] + bank
    return cfg[C_LVOFF + level] + bank // d


@_kernel()
def _level_range(cfg, level):
    if level == 0:
        return 0, 1
    return cfg[C_LVOFF + level], cfg[C_LVOFF + level + 1]


@_kernel()
def _nodes(cfg, lv, bank, tlev):
    """Node range [lo, hi) of level `lv` that a command aimed at `bank` with target level `tlev` touches:
    the node holding the bank down to the target level, every node inside the target node below it, every
    node of the level when bank < 0."""
    if bank < 0:
        return _level_range(cfg, lv)
    if lv <= tlev:
        lo = _node(cfg, lv, bank)
        return lo, lo + 1
    d = cfg[C_LVDIV + tlev]
    per = d // cfg[C_LVDIV + lv]
    lo = cfg[C_LVOFF + lv] + (bank // d) * per
    return lo, lo + per


@_kernel()
def ready_cycle(cfg, cmdinfo, ready, ch, c, bank):
    """Earliest cycle command `c` may issue on (ch, bank) given timing alone (bank -1: every bank).
    Levels run to the constant NLEVMAX (the bitmask has no bit beyond the table's levels) so that the
    loop unrolls."""
    best = 0
    levels = cmdinfo[c, CI_LEVELS]
    tlev = cmdinfo[c, CI_TLEV]
    if bank >= 0 and tlev >= cfg[C_NLEV] - 1:
        for lv in range(NLEVMAX):
            if (levels >> lv) & 1 != 0:
                v = ready[ch, _node(cfg, lv, bank), c]
                if v > best:
                    best = v
        return best
    if bank < 0:
        for lv in range(NLEVMAX):
            if (levels >> lv) & 1 != 0:
                lo, hi = _level_range(cfg, lv)
                for n in range(lo, hi):
                    v = ready[ch, n, c]
                    if v > best:
                        best = v
        return best
    for lv in range(NLEVMAX):
        if (levels >> lv) & 1 == 0:
            continue
        lo, hi = _nodes(cfg, lv, bank, tlev)
        for n in range(lo, hi):
            v = ready[ch, n, c]
            if v > best:
                best = v
    return best


@_kernel()
def apply_constraints(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, ch, c, bank, t):
    """Raise next-allowed cycles after command `c` issues at `t` on (ch, bank) (bank -1: every bank).
    A sibling rule at level L raises the other nodes of L under the target's parent node (Ramulator 2.1
    node.cpp update_timing); it binds nothing for a command that names no single node at L. A command's
    sibling rules follow its other rules (cons_start[c] <= k < CI_SIB0 <= k' < cons_start[c + 1])."""
    tlev = cmdinfo[c, CI_TLEV]
    wmax = hist.shape[3]
    if cmdinfo[c, CI_HASWIN] != 0:
        for lv in range(cfg[C_NLEV]):
            lo, hi = _nodes(cfg, lv, bank, tlev)
            for n in range(lo, hi):
                p = hpos[ch, n, c]
                hist[ch, n, c, p % wmax] = t
                hpos[ch, n, c] = p + 1
    sib0 = cmdinfo[c, CI_SIB0]
    if bank < 0:
        for k in range(cons_start[c], sib0):
            lv = cons[k, 0]
            f = cons[k, 1]
            lat = cons[k, 2]
            w = cons[k, 3]
            lo, hi = _level_range(cfg, lv)
            for n in range(lo, hi):
                if w <= 1:
                    v = t + lat
                else:
                    p = hpos[ch, n, c]
                    if p < w:
                        continue
                    v = hist[ch, n, c, (p - w) % wmax] + lat
                if v > ready[ch, n, f]:
                    ready[ch, n, f] = v
        return
    for k in range(cons_start[c], sib0):
        lv = cons[k, 0]
        f = cons[k, 1]
        lat = cons[k, 2]
        w = cons[k, 3]
        lo, hi = _nodes(cfg, lv, bank, tlev)
        for n in range(lo, hi):
            if w <= 1:
                v = t + lat
            else:
                p = hpos[ch, n, c]
                if p < w:
                    continue
                v = hist[ch, n, c, (p - w) % wmax] + lat
            if v > ready[ch, n, f]:
                ready[ch, n, f] = v
    for k in range(sib0, cons_start[c + 1]):
        lv = cons[k, 0]
        if lv > tlev:
            continue
        f = cons[k, 1]
        own = _node(cfg, lv, bank)
        dp = cfg[C_LVDIV + lv - 1]
        per = dp // cfg[C_LVDIV + lv]
        lo = cfg[C_LVOFF + lv] + (bank // dp) * per
        v = t + cons[k, 2]
        for n in range(lo, lo + per):
            if n != own and v > ready[ch, n, f]:
                ready[ch, n, f] = v


@_kernel()
def _uni_row(open_row, ch):
    """Row open in every bank of the channel, -1 if all closed, -2 if mixed."""
    r = open_row[ch, 0]
    for b in range(1, open_row.shape[1]):
        if open_row[ch, b] != r:
            return -2
    return r


@_kernel()
def update_rows(cfg, cmdinfo, open_row, chs, ch, c, bank, row):
    role = cmdinfo[c, CI_ROLE]
    if role == RO_OPEN:
        value = row
    elif role == RO_OPEN_FIRST:
        value = ACTIVATING - row
    elif role == RO_CLOSE or role == RO_ACCESS_CLOSE:
        value = -1
    else:
        return
    sc = cmdinfo[c, CI_SCOPE]
    if bank < 0 or sc == SC_ALL or sc == SC_CHANNEL:
        lo, hi = 0, cfg[C_NBANKS]
    elif sc == SC_BANK:
        lo, hi = bank, bank + 1
    else:
        d = cfg[C_LVDIV + cmdinfo[c, CI_TLEV]]
        lo = (bank // d) * d
        hi = lo + d
    for b in range(lo, hi):
        open_row[ch, b] = value
    chs[ch, S_UNIROW] = _uni_row(open_row, ch)


@_kernel()
def _issue(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log, nlog,
           ch, c, bank, row, t, arrival, category):
    apply_constraints(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, ch, c, bank, t)
    update_rows(cfg, cmdinfo, open_row, chs, ch, c, bank, row)
    chs[ch, S_LAST] = t
    counts[ch, c] += 1
    front = chs[ch, S_FRONT]
    gap = t - front
    if arrival > front and chs[ch, S_PCAT] != CAT_RESULT:
        w = arrival - front
        if w > gap:
            w = gap
        cat[ch, CAT_WAIT] += w
        gap -= w
    role = cmdinfo[c, CI_ROLE]
    if role == RO_OPEN or role == RO_CLOSE or role == RO_REFRESH or role == RO_MODE or role == RO_OPEN_FIRST:
        own = chs[ch, S_PSPC]
        if own > gap:
            own = gap
        cat[ch, chs[ch, S_PCAT]] += own
        cat[ch, category] += gap - own
    else:
        cat[ch, chs[ch, S_PCAT]] += gap
    chs[ch, S_PCAT] = category
    sp = cmdinfo[c, CI_SPACING]
    chs[ch, S_PSPC] = sp if sp > 1 else 1
    chs[ch, S_FRONT] = t
    if cfg[C_LOG] != 0:
        i = nlog[0]
        if i < log.shape[0]:
            log[i, 0] = t
            log[i, 1] = ch
            log[i, 2] = bank
            log[i, 3] = c
            log[i, 4] = row
        nlog[0] = i + 1


@_kernel()
def _refresh(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log, nlog, ch):
    """Issue the refresh that is due on `ch` (precharging first), then schedule the next one."""
    due = chs[ch, S_NEXTREF]
    ts = due
    if chs[ch, S_LAST] + 1 > ts:
        ts = chs[ch, S_LAST] + 1
    if cfg[C_REFPB] != 0:
        b = chs[ch, S_REFPTR]
        if open_row[ch, b] != -1:
            pc = cfg[C_CLOSEB]
            t = max(ts, ready_cycle(cfg, cmdinfo, ready, ch, pc, b))
            _issue(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log, nlog,
                   ch, pc, b, -1, t, due, CAT_REFRESH)
            ts = t + 1
        rc = cfg[C_REFB]
        t = max(ts, ready_cycle(cfg, cmdinfo, ready, ch, rc, b))
        _issue(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log, nlog,
               ch, rc, b, -1, t, due, CAT_REFRESH)
        chs[ch, S_REFPTR] = (b + 1) % open_row.shape[1]
    else:
        if chs[ch, S_UNIROW] != -1:
            pa = cfg[C_CLOSEA]
            if pa >= 0:
                t = max(ts, ready_cycle(cfg, cmdinfo, ready, ch, pa, -1))
                _issue(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log,
                       nlog, ch, pa, -1, -1, t, due, CAT_REFRESH)
                ts = t + 1
            else:
                pc = cfg[C_CLOSEB]
                for b in range(open_row.shape[1]):
                    if open_row[ch, b] != -1:
                        t = max(ts, ready_cycle(cfg, cmdinfo, ready, ch, pc, b))
                        _issue(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat,
                               log, nlog, ch, pc, b, -1, t, due, CAT_REFRESH)
                        ts = t + 1
        rc = cfg[C_REFA]
        t = max(ts, ready_cycle(cfg, cmdinfo, ready, ch, rc, -1))
        _issue(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log, nlog,
               ch, rc, -1, -1, t, due, CAT_REFRESH)
    chs[ch, S_NEXTREF] = due + cfg[C_REFINT]


@_kernel()
def _preq(cfg, cmdinfo, open_row, chs, ch, fc, bank, row):
    """(command, bank) to issue next for a request whose final command is fc; (-1, -1): nothing to do."""
    role = cmdinfo[fc, CI_ROLE]
    if role == RO_ACCESS or role == RO_ACCESS_CLOSE:
        if cmdinfo[fc, CI_SCOPE] == SC_BANK and bank >= 0:
            r = open_row[ch, bank]
            if r == -1:
                return cfg[C_OPENB], bank
            if r <= ACTIVATING:
                return cfg[C_OPEN2B], bank
            if r != row:
                return cfg[C_CLOSEB], bank
            return fc, bank
        u = chs[ch, S_UNIROW]
        if u == row:
            return fc, -1
        if u == -1:
            return cfg[C_OPENA], -1
        first_closed = -1
        for b in range(open_row.shape[1]):
            r = open_row[ch, b]
            if r == -1:
                if first_closed < 0:
                    first_closed = b
            elif r != row:
                return cfg[C_CLOSEA], -1
        return cfg[C_OPENB], first_closed
    if role == RO_CLOSE:
        if cmdinfo[fc, CI_SCOPE] == SC_BANK and bank >= 0:
            if open_row[ch, bank] == -1:
                return -1, -1
            return fc, bank
        if chs[ch, S_UNIROW] == -1:
            return -1, -1
        return fc, -1
    return fc, bank


@_kernel()
def _request(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log, nlog,
             ch, fc, bank, row, arrival, mode_needed):
    """Serve one request in order on `ch`: its row commands, mode switch and final command. Returns the
    final command's issue cycle (or -1 for a close request with nothing open)."""
    tmin = arrival
    if chs[ch, S_FPREV] + 1 > tmin:
        tmin = chs[ch, S_FPREV] + 1
    hit = 1
    refreshed = 0
    guard = 0
    while True:
        guard += 1
        if guard > 100000:
            raise RuntimeError(NO_PROGRESS)
        c, b = _preq(cfg, cmdinfo, open_row, chs, ch, fc, bank, row)
        if c < 0:
            return -1
        if c != fc:
            hit = 0
        t = tmin
        if chs[ch, S_LAST] + 1 > t:
            t = chs[ch, S_LAST] + 1
        r = ready_cycle(cfg, cmdinfo, ready, ch, c, b)
        if r > t:
            t = r
        if cfg[C_REFON] != 0 and t >= chs[ch, S_NEXTREF]:
            # a refresh preempts once per request; a second one due meanwhile is postponed to the next
            # request unless two are owed (JEDEC allows postponing refreshes; this keeps progress when a
            # request's row reopening takes longer than the refresh interval)
            owed = (t - chs[ch, S_NEXTREF]) // cfg[C_REFINT] + 1
            if refreshed == 0 or owed >= 2:
                _refresh(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log,
                         nlog, ch)
                refreshed = 1
                continue
        if cfg[C_MODESW] >= 0 and mode_needed > 0 and chs[ch, S_MODE] != mode_needed:
            # the table's transition towards the needed mode, one command at a time (a close step is
            # skipped when no row is open); issued once the request's next command is ready
            k = C_MODET + 2 * (chs[ch, S_MODE] * NMODEMAX + mode_needed)
            mc = cfg[k]
            if cmdinfo[mc, CI_ROLE] != RO_CLOSE or chs[ch, S_UNIROW] != -1:
                r = ready_cycle(cfg, cmdinfo, ready, ch, mc, -1)
                if r > t:
                    t = r
                _issue(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log, nlog,
                       ch, mc, -1, -1, t, arrival, CAT_MODE)
            chs[ch, S_MODE] = cfg[k + 1]
            continue
        crow = row
        if cmdinfo[c, CI_ROLE] == RO_CLOSE:
            crow = -1
        _issue(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log, nlog,
               ch, c, b, crow, t, arrival, cmdinfo[c, CI_CAT])
        if c == fc:
            role = cmdinfo[fc, CI_ROLE]
            if role == RO_ACCESS or role == RO_ACCESS_CLOSE:
                if hit:
                    chs[ch, S_HITS] += 1
                else:
                    chs[ch, S_MISSES] += 1
            return t


@_kernel()
def _busy(chs, ch, arrival, dep):
    if dep > chs[ch, S_BUSYEND]:
        s = arrival
        if chs[ch, S_BUSYEND] > s:
            s = chs[ch, S_BUSYEND]
        if dep > s:
            chs[ch, S_BUSY] += dep - s
        chs[ch, S_BUSYEND] = dep


@_kernel()
def simulate(prog_op, prog_opsize, prog_mask, prog_bank, prog_row, insinfo, cfg, cmdinfo, cons_start, cons,
             ready, hist, hpos, open_row, chs, leave, counts, cat, log, nlog):
    """Run a program; returns the cycle at which it ends (EOC returned, or last completion)."""
    nch = cfg[C_NCH]
    qd = leave.shape[1]
    D = 0
    end = 0
    for i in range(prog_op.shape[0]):
        op = prog_op[i]
        mask = prog_mask[i]
        if op == OP_SYNC or op == OP_EOC:
            done_max = D
            for ch in range(nch):
                if (mask >> np.uint64(ch)) & np.uint64(1) == 0:
                    continue
                k = chs[ch, S_REQS]
                E = D
                if k >= qd and leave[ch, k % qd] > E:
                    E = leave[ch, k % qd]
                ce = E + 1
                if chs[ch, S_FPREV] + 1 > ce:
                    ce = chs[ch, S_FPREV] + 1
                while True:
                    if chs[ch, S_LAST] + 1 > ce:
                        ce = chs[ch, S_LAST] + 1
                    if cfg[C_REFON] != 0 and chs[ch, S_NEXTREF] <= ce:
                        _refresh(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat,
                                 log, nlog, ch)
                        continue
                    break
                leave[ch, k % qd] = ce
                chs[ch, S_REQS] = k + 1
                chs[ch, S_FPREV] = ce
                serve = ce + 1
                if chs[ch, S_WDEP] + 1 > serve:
                    serve = chs[ch, S_WDEP] + 1
                if chs[ch, S_LSERVE] + 1 > serve:
                    serve = chs[ch, S_LSERVE] + 1
                chs[ch, S_LSERVE] = serve
                chs[ch, S_END] = serve
                _busy(chs, ch, E + 1, serve)
                if serve > done_max:
                    done_max = serve
            D = done_max
            if D > end:
                end = D
            if op == OP_EOC:
                break
            continue
        fc = insinfo[op, II_CMD]
        if fc < 0:
            D += 1
            continue
        n = 1
        if insinfo[op, II_REPEAT] != 0:
            n = prog_opsize[i]
        row = prog_row[i]
        if insinfo[op, II_AF] != 0:
            row = cfg[C_AFROW]
        bank = -1
        if cmdinfo[fc, CI_SCOPE] == SC_BANK:
            bank = prog_bank[i]
        reader = insinfo[op, II_READER]
        mode_needed = insinfo[op, II_MODE]
        done = cmdinfo[fc, CI_DONE]
        spacing = cmdinfo[fc, CI_SPACING]
        last_entry = D
        blk_done = D
        for ch in range(nch):
            if (mask >> np.uint64(ch)) & np.uint64(1) == 0:
                continue
            j = 0
            while j < n:
                k = chs[ch, S_REQS]
                E = D
                if k >= qd and leave[ch, k % qd] > E:
                    E = leave[ch, k % qd]
                if E > last_entry:
                    last_entry = E
                arrival = E + 1
                F = _request(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat,
                             log, nlog, ch, fc, bank, row, arrival, mode_needed)
                chs[ch, S_FPREV] = F
                leave[ch, k % qd] = F
                chs[ch, S_REQS] = k + 1
                dep = F + done
                _busy(chs, ch, arrival, dep)
                if reader != 0:
                    serve = dep
                    if chs[ch, S_LSERVE] + 1 > serve:
                        serve = chs[ch, S_LSERVE] + 1
                    chs[ch, S_LSERVE] = serve
                    if serve > blk_done:
                        blk_done = serve
                elif dep > chs[ch, S_WDEP]:
                    chs[ch, S_WDEP] = dep
                j += 1
                if cfg[C_RL] != 0 and j < n and spacing > 0 and reader == 0:
                    m = n - j
                    if cfg[C_REFON] != 0:
                        lim = (chs[ch, S_NEXTREF] - 1 - F) // spacing
                        if lim < m:
                            m = lim
                    if m > 0:
                        k0 = chs[ch, S_REQS]
                        klast = k0 + m - 1
                        # entry tick of the batch's last request (queue capacity), before the ring moves on
                        E = D
                        if klast >= qd:
                            kq = klast - qd
                            if kq >= k0:
                                fq = F + spacing * (kq - k0 + 1)
                            else:
                                fq = leave[ch, kq % qd]
                            if fq > E:
                                E = fq
                        if E > last_entry:
                            last_entry = E
                        q0 = 0
                        if m > qd:
                            q0 = m - qd
                        for q in range(q0, m):
                            leave[ch, (k0 + q) % qd] = F + spacing * (q + 1)
                        tl = F + spacing * m
                        apply_constraints(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, ch, fc, bank, tl)
                        chs[ch, S_LAST] = tl
                        chs[ch, S_FPREV] = tl
                        counts[ch, fc] += m
                        frole = cmdinfo[fc, CI_ROLE]
                        if frole == RO_ACCESS or frole == RO_ACCESS_CLOSE:
                            chs[ch, S_HITS] += m
                        cat[ch, chs[ch, S_PCAT]] += tl - chs[ch, S_FRONT]
                        chs[ch, S_FRONT] = tl
                        if cfg[C_LOG] != 0:
                            for q in range(m):
                                li = nlog[0]
                                if li < log.shape[0]:
                                    log[li, 0] = F + spacing * (q + 1)
                                    log[li, 1] = ch
                                    log[li, 2] = bank
                                    log[li, 3] = fc
                                    log[li, 4] = row
                                nlog[0] = li + 1
                        chs[ch, S_REQS] = k0 + m
                        _busy(chs, ch, F, tl + done)
                        if tl + done > chs[ch, S_WDEP]:
                            chs[ch, S_WDEP] = tl + done
                        j += m
            if cfg[C_CLOSE] != 0:
                role = cmdinfo[fc, CI_ROLE]
                if role == RO_ACCESS:
                    cc = cfg[C_CLOSEB]
                    if bank < 0:
                        cc = cfg[C_CLOSEA]
                    if cc >= 0:
                        _request(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat,
                                 log, nlog, ch, cc, bank, -1, chs[ch, S_FPREV] + 1, 0)
            if chs[ch, S_WDEP] > chs[ch, S_END]:
                chs[ch, S_END] = chs[ch, S_WDEP]
            if chs[ch, S_LSERVE] > chs[ch, S_END]:
                chs[ch, S_END] = chs[ch, S_LSERVE]
        if insinfo[op, II_BLOCK] != 0:
            D = blk_done
        else:
            D = last_entry + 1
    for ch in range(nch):
        if chs[ch, S_END] > end:
            end = chs[ch, S_END]
    # refreshes falling due before the end are still issued (the channel is idle or draining)
    if cfg[C_REFON] != 0:
        for ch in range(nch):
            while chs[ch, S_NEXTREF] <= end and chs[ch, S_LAST] < end:
                _refresh(cfg, cmdinfo, cons_start, cons, ready, hist, hpos, open_row, chs, counts, cat, log,
                         nlog, ch)
    for ch in range(nch):
        tail = end - chs[ch, S_FRONT]
        if tail > 0:
            own = chs[ch, S_END] - chs[ch, S_FRONT]
            if own < 0:
                own = 0
            if own > tail:
                own = tail
            cat[ch, CAT_DRAIN] += own
            cat[ch, CAT_WAIT] += tail - own
            chs[ch, S_FRONT] = end
    return end


# ---------------------------------------------------------------------------------------------------------
# numba dispatchers (Device probes, the native build)

_jitted = False
_DISPATCHERS: list = []       # what `ensure_layout` recompiles when a build carries other codes


# numba type of every kernel parameter, by name (the kernel names its parameters consistently): the
# int64 state arrays by their dimensions, the channel masks uint64, everything else an int64 scalar. Each
# function is compiled for exactly this one signature (a literal argument such as bank -1 converts to
# int64 instead of compiling another specialisation: 22 compilations -> 14, one per function).
_ARRAY_DIMS = {"cfg": 1, "cons_start": 1, "nlog": 1, "prog_op": 1, "prog_opsize": 1, "prog_bank": 1,
               "prog_row": 1, "cmdinfo": 2, "cons": 2, "open_row": 2, "chs": 2, "counts": 2, "cat": 2, "log": 2,
               "leave": 2, "insinfo": 2, "ready": 3, "hpos": 3, "hist": 4}


def _signature(fn):
    from numba import types

    args = []
    for name in fn.__code__.co_varnames[: fn.__code__.co_argcount]:
        if name == "prog_mask":
            args.append(types.Array(types.uint64, 1, "C"))
        elif name in _ARRAY_DIMS:
            args.append(types.Array(types.int64, _ARRAY_DIMS[name], "C"))
        else:
            args.append(types.int64)
    return tuple(args)


def jit(cache: bool = True, python_callable: bool = True) -> None:
    """Turn the kernel functions of this module into numba dispatchers, each compiled now for its one
    signature (`_signature`; cached by numba beside this file unless `cache` is False; without
    `python_callable` they can be called only from other compiled code). Idempotent; imports numba."""
    global _jitted
    if _jitted:
        return
    from numba import njit

    g = globals()
    opts = dict(_JIT, cache=cache)
    if not python_callable:
        opts.update(no_cpython_wrapper=True, no_cfunc_wrapper=True)
    for name in _KERNEL_FUNCS:                      # callees first (source order), so each compiles once
        g[name] = njit(_signature(g[name]), **opts)(g[name])
    _DISPATCHERS[:0] = [g[name] for name in _KERNEL_FUNCS]
    _jitted = True


# ---------------------------------------------------------------------------------------------------------
# the native library: `simulate` for one C signature

# (name, kind) of the C entry's arguments in order: "p" an int64 array (pointer to its first element),
# "u" the uint64 channel masks, "i" an int64 scalar. Array shapes are rebuilt from the scalars in
# `_c_simulate` (`_entry_source`).
_C_ARGS = (("op", "p"), ("opsize", "p"), ("mask", "u"), ("bank", "p"), ("row", "p"), ("nprog", "i"),
           ("insinfo", "p"), ("nisa", "i"), ("cfg", "p"), ("cmdinfo", "p"), ("ncmd", "i"),
           ("cons_start", "p"), ("cons", "p"), ("ncons", "i"), ("ready", "p"), ("hist", "p"), ("hpos", "p"),
           ("open_row", "p"), ("chs", "p"), ("leave", "p"), ("counts", "p"), ("cat", "p"), ("log", "p"),
           ("logcap", "i"), ("nlog", "p"), ("nch", "i"), ("nnodes", "i"), ("wmax", "i"), ("nbanks", "i"))
NII = II_AF + 1
NCONS_COLS = 5
NLOG_COLS = 5
C_SIMULATE, C_LAYOUT = "pimsim_kernel_simulate", "pimsim_kernel_layout"
KERNEL_ERROR = -(1 << 62)   # what the C entry returns when the kernel raised (no progress)
NO_PROGRESS = "command engine: no progress (refresh interval too short for the refresh)"


def _key() -> str:
    """Cache key of the native library: this file, the table's names (the codes), the machine's CPU."""
    h = hashlib.sha256()
    here = Path(__file__)
    for f in (here, here.with_name("table.py")):
        h.update(f.read_bytes())
    machine = os.uname().machine if hasattr(os, "uname") else __import__("platform").machine()
    h.update(f"{machine} {sys.implementation.cache_tag}".encode())
    try:                            # the code is compiled for the host CPU: key on its feature flags
        with open("/proc/cpuinfo", "rb") as fh:
            h.update(next((line for line in fh if line.startswith(b"flags")), b""))
    except OSError:
        h.update(__import__("platform").processor().encode())
    return h.hexdigest()[:20]


def cache_dir() -> Path:
    """Where the native library is kept: $NUMBA_CACHE_DIR/pimsim when set (numba's own switch for where
    compiled code goes), else __pycache__ beside this file, else a per-user temporary folder."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    first = Path(env) / "pimsim" if env else Path(__file__).with_name("__pycache__")
    if first.is_dir() and os.access(first, os.W_OK):
        return first
    import tempfile

    candidates = [first, Path(tempfile.gettempdir()) / f"pimsim-kernel-{os.getuid() if hasattr(os, 'getuid') else 0}"]
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise RuntimeError(f"command engine: no writable folder for the compiled kernel (tried {candidates})")


class _Native:
    """The loaded native library: `simulate(*c_args) -> end cycle` and `layout() -> codes`."""

    def __init__(self):
        self.simulate = None
        self.layout = None
        self._keep = None           # the ctypes library or llvmlite engine holding the code
        self.path: Path | None = None

    def load(self, rebuild: bool = False) -> None:
        d = cache_dir()
        stem = d / f"kernel-{_key()}"
        so, obj = stem.with_suffix(".so"), stem.with_suffix(".o")
        if rebuild or not (so.exists() or obj.exists()):
            _build_locked(d, stem, rebuild)
        self.path = so if so.exists() else obj
        argtypes = [ctypes.c_int64 if k == "i" else ctypes.c_void_p for _, k in _C_ARGS]
        if self.path.suffix == ".so":
            if rebuild:             # dlopen of a path already loaded returns the old code: load a copy
                import shutil

                copy = d / f"{stem.name}.{os.getpid()}.reload.so"
                shutil.copyfile(self.path, copy)
                lib = ctypes.CDLL(str(copy))
                copy.unlink()
            else:
                lib = ctypes.CDLL(str(self.path))
            fn, lay = getattr(lib, C_SIMULATE), getattr(lib, C_LAYOUT)
            fn.restype, fn.argtypes = ctypes.c_int64, argtypes
            lay.restype, lay.argtypes = None, [ctypes.c_void_p]
            self._keep = lib
        else:                       # no C compiler at build time: link the object file in process
            import llvmlite.binding as llvm

            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            tm = llvm.Target.from_default_triple().create_target_machine()
            ee = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
            ee.add_object_file(llvm.ObjectFileRef.from_data(self.path.read_bytes()))
            ee.finalize_object()
            fn = ctypes.CFUNCTYPE(ctypes.c_int64, *argtypes)(ee.get_function_address(C_SIMULATE))
            lay = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(ee.get_function_address(C_LAYOUT))
            self._keep = (ee, tm)
        self.simulate, self.layout = fn, lay

    def recompile(self) -> None:
        """Build the library afresh (a stale build was found) and load it."""
        self.load(rebuild=True)


_NATIVE = _Native()
_DISPATCHERS.append(_NATIVE)


def native() -> _Native:
    """The native library, loaded (built first when this source has no cached build)."""
    if _NATIVE.simulate is None:
        _NATIVE.load()
    return _NATIVE


def _compiled_layout() -> tuple[int, ...]:
    """The integer codes the native library was compiled with (`LAYOUT` order)."""
    out = np.zeros(len(LAYOUT), np.int64)
    native().layout(out.ctypes.data)
    return tuple(int(v) for v in out)


_ANNOUNCE = False   # print the progress line even when stderr is not a terminal (`warm_up`)


def warm_up() -> bool:
    """Build the native library into the cache unless this source's build is there; True if it built.
    `make venv` runs it after the install (`python -m pimsim.dram.kernel`), so a fresh clone's first command
    starts warm; without that step the first replay builds it (the same progress line on a terminal)."""
    global _ANNOUNCE
    stem = cache_dir() / f"kernel-{_key()}"
    built = not (stem.with_suffix(".so").exists() or stem.with_suffix(".o").exists())
    _ANNOUNCE = True
    try:
        native()
    finally:
        _ANNOUNCE = False
    return built


def _build_locked(d: Path, stem: Path, rebuild: bool) -> None:
    """Build under a lock (concurrent first runs build once; the others wait and load it)."""
    import subprocess

    lock = open(d / "kernel.lock", "a+")
    try:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:         # pragma: no cover - no flock (Windows): builds may race, each atomic
            pass
        if rebuild or not (stem.with_suffix(".so").exists() or stem.with_suffix(".o").exists()):
            if _ANNOUNCE or (sys.stderr is not None and sys.stderr.isatty()):
                print(f"pimsim: compiling the command engine's kernel once for this machine (cached in {d}) ...",
                      file=sys.stderr, flush=True)
            proc = subprocess.run([sys.executable, "-c", "import sys; from pimsim.dram import kernel; "
                                   "kernel._build(sys.argv[1])", str(stem)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"command engine: compiling the kernel failed:\n{proc.stderr[-4000:]}")
    finally:
        lock.close()


def _entry_source() -> str:
    """The C entry: wraps each pointer in an array view of its shape (no allocation, no NRT) and calls
    `simulate`; `layout` writes the compiled codes."""
    return '''
def _c_simulate(op, opsize, mask, bank, row, nprog, insinfo, nisa, cfg, cmdinfo, ncmd, cons_start, cons, ncons,
                ready, hist, hpos, open_row, chs, leave, counts, cat, log, logcap, nlog, nch, nnodes, wmax, nbanks):
    return simulate(_view(op, (nprog,)), _view(opsize, (nprog,)), _view(mask, (nprog,)), _view(bank, (nprog,)),
                    _view(row, (nprog,)), _view(insinfo, (nisa, NII)), _view(cfg, (NCFG,)),
                    _view(cmdinfo, (ncmd, NCI)), _view(cons_start, (ncmd + 1,)), _view(cons, (ncons, NCONS_COLS)),
                    _view(ready, (nch, nnodes, ncmd)), _view(hist, (nch, nnodes, ncmd, wmax)),
                    _view(hpos, (nch, nnodes, ncmd)), _view(open_row, (nch, nbanks)), _view(chs, (nch, NSCAL)),
                    _view(leave, (nch, QUEUE_DEPTH)), _view(counts, (nch, ncmd)), _view(cat, (nch, NCAT)),
                    _view(log, (logcap, NLOG_COLS)), _view(nlog, (1,)))


def _c_layout(out):
    codes = _layout_codes()
    v = _view(out, (len(codes),))
    for i in range(len(codes)):
        v[i] = codes[i]
'''


def _skip_numba_machine_code() -> None:
    """In the build's child process only: numba compiles every kernel function as a library of its own,
    optimises it at O3 and generates its machine code, then links the IR of all of them into the caller's
    library and optimises again; only the last, linked module is kept (`_build`). Skip the per-library
    module optimisation and machine code (the dispatchers made here are never called). Without these
    numba internals (another numba version) the build is slower, not different."""
    try:
        from numba.core import codegen as cg
        cpu_lib, jit_lib, jit_cg = cg.CPUCodeLibrary, cg.JITCodeLibrary, cg.JITCPUCodegen
        for owner, name in ((cpu_lib, "_optimize_final_module"), (jit_lib, "_finalize_specific"),
                            (jit_lib, "get_pointer_to_function"), (jit_cg, "_add_module"), (jit_cg, "set_env")):
            if not callable(getattr(owner, name, None)):
                return
    except (ImportError, AttributeError):
        return
    cpu_lib._optimize_final_module = lambda self: None
    jit_lib._finalize_specific = lambda self: None
    jit_cg._add_module = lambda self, module: None
    jit_cg.set_env = lambda self, env_name, env: None

    def _address(self, name):       # finalize (links the callees' IR) but emit no code: a dummy address
        self._ensure_finalized()
        return 1
    jit_lib.get_pointer_to_function = _address


def _build(stem: str) -> None:
    """Compile the C entries with numba, keep only them (and what they call) and write `stem`.so (linked by
    the C compiler `cc`) or, without one, `stem`.o. Run in a child process by `native()`."""
    import shutil
    import subprocess

    import llvmlite.binding as llvm
    from numba import cfunc, types
    from numba.core import cgutils
    from numba.extending import intrinsic
    from numba.np.arrayobj import make_array, populate_array

    _skip_numba_machine_code()
    jit(cache=False, python_callable=False)    # IR for the library, not code to cache or call from Python

    @intrinsic
    def _view(typingctx, ptr, shape):
        """A C-contiguous array over `ptr` with `shape` (no meminfo: nothing owns or frees it)."""
        ndim = len(shape)
        arrty = types.Array(ptr.dtype, ndim, "C")

        def codegen(context, builder, sig, args):
            data, shp = args
            dims = cgutils.unpack_tuple(builder, shp, ndim)
            itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(ptr.dtype)))
            strides, s = [None] * ndim, itemsize
            for i in range(ndim - 1, -1, -1):
                strides[i] = s
                s = builder.mul(s, dims[i])
            ary = make_array(arrty)(context, builder)
            populate_array(ary, data=data, shape=cgutils.pack_array(builder, dims),
                           strides=cgutils.pack_array(builder, strides), itemsize=itemsize, meminfo=None)
            return ary._getvalue()

        return arrty(ptr, shape), codegen

    ns = dict(globals(), _view=_view)
    exec(compile(_entry_source(), __file__ + ":<entry>", "exec"), ns)
    i64, p64, pu64 = types.int64, types.CPointer(types.int64), types.CPointer(types.uint64)
    kinds = {"i": i64, "p": p64, "u": pu64}
    sim = cfunc(i64(*[kinds[k] for _, k in _C_ARGS]), _nrt=False, error_model="numpy")(ns["_c_simulate"])
    lay = cfunc(types.void(p64), _nrt=False, error_model="numpy")(ns["_c_layout"])

    mod = llvm.parse_assembly(str(sim._library._final_module))
    mod.link_in(llvm.parse_assembly(str(lay._library._final_module)))
    # own C wrappers around numba's calling convention (status = f(&ret, &excinfo, args...)): numba's cfunc
    # wrapper would report an exception through the Python C API and numba's helper library; these return
    # KERNEL_ERROR instead, so the library needs nothing but libc
    wrappers = []
    for fn_name, ret, inner in ((C_SIMULATE, "i64", sim), (C_LAYOUT, "void", lay)):
        callee = mod.get_function(inner.native_name.removeprefix("cfunc."))
        params = [str(a.type) for a in callee.arguments][2:]
        decl = ", ".join(f"{t} %a{i}" for i, t in enumerate(params))
        call = ", ".join(f"{t} %a{i}" for i, t in enumerate(params))
        body = [f"define {ret} @{fn_name}({decl}) {{", "entry:", "  %ret = alloca [2 x i64], align 8",
                "  %exc = alloca ptr, align 8", "  store [2 x i64] zeroinitializer, ptr %ret",
                "  store ptr null, ptr %exc",
                f'  %st = call i32 @"{callee.name}"(ptr %ret, ptr %exc{", " if call else ""}{call})']
        if ret == "i64":
            body += ["  %ok = icmp eq i32 %st, 0", "  %v = load i64, ptr %ret",
                     f"  %r = select i1 %ok, i64 %v, i64 {KERNEL_ERROR}", "  ret i64 %r"]
        else:
            body += ["  ret void"]
        wrappers.append("\n".join(body + ["}"]))
        wrappers.append(f'declare i32 @"{callee.name}"(ptr, ptr{", " if params else ""}{", ".join(params)})')
    wmod = llvm.parse_assembly("\n".join(wrappers))
    wmod.triple, wmod.data_layout = mod.triple, mod.data_layout
    mod.link_in(wmod)
    for f in mod.functions:
        if not f.is_declaration and f.name not in (C_SIMULATE, C_LAYOUT):
            f.linkage = llvm.Linkage.internal
    for g in mod.global_variables:
        if not g.is_declaration:
            g.linkage = llvm.Linkage.internal
    tm = llvm.Target.from_triple(mod.triple).create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3, reloc="pic",
        codemodel="default")
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)  # O3 over the linked module: inlines into the wrappers, drops the rest
    undefined = sorted(f.name for f in mod.functions if f.is_declaration and not f.name.startswith("llvm."))
    if set(undefined) - {"memset", "memcpy", "memmove"}:
        raise RuntimeError(f"command engine: the kernel needs symbols outside libc: {undefined}")
    obj = tm.emit_object(mod)
    stem_path = Path(stem)
    tmp = stem_path.with_name(f"{stem_path.name}.{os.getpid()}.tmp")
    tmp_o = tmp.with_suffix(".o")
    tmp_o.write_bytes(obj)
    cc = shutil.which(os.environ.get("CC", "cc"))
    try:
        if cc and subprocess.run([cc, "-shared", "-o", str(tmp.with_suffix(".so")), str(tmp_o)],
                                 capture_output=True).returncode == 0:
            os.replace(tmp.with_suffix(".so"), stem_path.with_suffix(".so"))
        else:
            os.replace(tmp_o, stem_path.with_suffix(".o"))
    finally:
        for f in (tmp_o, tmp.with_suffix(".so")):
            if f.exists():
                f.unlink()


_layout_checked = False


def ensure_layout() -> None:
    """Make sure the compiled kernel uses this import's integer codes (LAYOUT): a build made with another
    order of pimsim.dram.table's names is dropped and the kernel compiled afresh (every entry of
    `_DISPATCHERS`: the native library, and numba's dispatchers once `jit()` made them)."""
    global _layout_checked
    if _layout_checked:
        return
    if tuple(_compiled_layout()) != LAYOUT:
        for d in _DISPATCHERS:
            d.recompile()
        if tuple(_compiled_layout()) != LAYOUT:
            raise RuntimeError("command engine: the compiled kernel does not match pimsim.dram.table's codes")
    _layout_checked = True


def simulate_native(prog_op, prog_opsize, prog_mask, prog_bank, prog_row, insinfo, cfg, cmdinfo, cons_start,
                    cons, ready, hist, hpos, open_row, chs, leave, counts, cat, log, nlog) -> int:
    """`simulate` on the native library: same arguments (C-contiguous int64 arrays; uint64 masks), same
    effect on the state arrays, same return value."""
    arrays = (prog_op, prog_opsize, prog_mask, prog_bank, prog_row, insinfo, cfg, cmdinfo, cons_start, cons,
              ready, hist, hpos, open_row, chs, leave, counts, cat, log, nlog)
    for a in arrays:
        if not a.flags.c_contiguous or a.dtype.itemsize != 8 or a.dtype.kind not in "iu":
            raise ValueError("command engine: kernel arrays must be C-contiguous 64-bit integers")
    if prog_mask.dtype != np.uint64:
        raise ValueError("command engine: channel masks must be uint64")
    nch, nnodes, ncmd = ready.shape
    d = {a: x.ctypes.data for a, x in zip(("op", "opsize", "mask", "bank", "row", "insinfo", "cfg", "cmdinfo",
                                           "cons_start", "cons", "ready", "hist", "hpos", "open_row", "chs",
                                           "leave", "counts", "cat", "log", "nlog"), arrays)}
    d.update(nprog=len(prog_op), nisa=insinfo.shape[0], ncmd=ncmd, ncons=cons.shape[0], logcap=log.shape[0],
             nch=nch, nnodes=nnodes, wmax=hist.shape[3], nbanks=open_row.shape[1])
    end = native().simulate(*[d[name] for name, _ in _C_ARGS])
    if end == KERNEL_ERROR:
        raise RuntimeError(NO_PROGRESS)
    return int(end)


if __name__ == "__main__":   # `python -m pimsim.dram.kernel`: the install-time build (Makefile, venv)
    import time as _time

    from pimsim.dram import kernel as _kernel   # the package's module (this file also runs as __main__)

    _t0 = _time.perf_counter()
    _built = _kernel.warm_up()
    _kernel.ensure_layout()
    print(f"pimsim: command engine kernel {'built' if _built else 'already built'} in "
          f"{_time.perf_counter() - _t0:.1f} s ({_kernel.native().path})", file=sys.stderr)
