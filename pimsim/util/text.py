"""Decoding a file's bytes as UTF-8 text with one clear error (shared by config files and traces).

Kept apart from pimsim.util.config_io so that a caller reading text (the trace parser, pimsim replay) does not
import PyYAML and pydantic with it (issue 17, start-up); config_io re-exports `decode_text`.
"""

from __future__ import annotations

from pathlib import Path

from pimsim.errors import ConfigError


def decode_text(data: bytes, source: str | Path, error: type[Exception] = ConfigError) -> str:
    """UTF-8 text of a file's bytes; a leading UTF-8 BOM is dropped (editors on Windows write one).

    Bytes that are not UTF-8 raise `error` naming the file, the byte offset and the byte itself."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.end]
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{source}: not valid UTF-8 text at byte offset {exc.start} (line {line}): byte "
                    f"{' '.join(f'0x{b:02x}' for b in bad)} ({exc.reason}); save the file as UTF-8") from None
    return text.removeprefix("\ufeff")
