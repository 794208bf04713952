"""The kernel's integer codes are the positions of the names in pimsim.dram.table (derived, not copied), and
the compiled (possibly cached) kernel carries the same codes."""

import pytest

from pimsim.dram import kernel as K
from pimsim.dram.table import CATEGORIES, ISA, ROLES, SCOPES

EXPECTED = {
    "SC_CHANNEL": SCOPES.index("channel"), "SC_BANK": SCOPES.index("bank"), "SC_ALL": SCOPES.index("all_banks"),
    "SC_GROUP": SCOPES.index("group"),
    "RO_NONE": ROLES.index("none"), "RO_OPEN": ROLES.index("open"), "RO_CLOSE": ROLES.index("close"),
    "RO_ACCESS": ROLES.index("access"), "RO_ACCESS_CLOSE": ROLES.index("access_close"),
    "RO_REFRESH": ROLES.index("refresh"), "RO_MODE": ROLES.index("mode_switch"),
    "RO_OPEN_FIRST": ROLES.index("open_first"),
    "CAT_RESULT": CATEGORIES.index("result_read"), "CAT_MODE": CATEGORIES.index("mode_switch"),
    "CAT_REFRESH": CATEGORIES.index("refresh"), "CAT_WAIT": CATEGORIES.index("wait"),
    "CAT_DRAIN": CATEGORIES.index("drain"), "NCAT": len(CATEGORIES),
    "OP_SYNC": ISA.index("SYNC"), "OP_EOC": ISA.index("EOC"),
}


def test_kernel_codes_are_the_table_positions():
    for name, value in EXPECTED.items():
        assert getattr(K, name) == value, name


def test_compiled_kernel_carries_the_same_codes():
    K.ensure_layout()
    compiled = dict(zip(["SC_CHANNEL", "SC_BANK", "SC_ALL", "SC_GROUP", "RO_NONE", "RO_OPEN", "RO_CLOSE",
                         "RO_ACCESS", "RO_ACCESS_CLOSE", "RO_REFRESH", "RO_MODE", "RO_OPEN_FIRST", "CAT_RESULT",
                         "CAT_MODE", "CAT_REFRESH", "CAT_WAIT", "CAT_DRAIN", "NCAT", "OP_SYNC", "OP_EOC"],
                        K._compiled_layout()))
    assert compiled == EXPECTED


def test_a_stale_layout_is_detected(monkeypatch):
    """A kernel compiled with other codes than this import's is recompiled; if it still differs: an error."""
    monkeypatch.setattr(K, "LAYOUT", K.LAYOUT[:-1] + (K.LAYOUT[-1] + 1,))
    monkeypatch.setattr(K, "_layout_checked", False)
    monkeypatch.setattr(K, "_DISPATCHERS", ())
    with pytest.raises(RuntimeError, match="does not match"):
        K.ensure_layout()
