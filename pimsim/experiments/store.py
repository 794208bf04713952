"""The results store: one SQLite file per output folder, one row per finished design point.

    points(key TEXT PRIMARY KEY, experiment TEXT, point TEXT (JSON), result TEXT (JSON), finished_at REAL)
    meta(name TEXT PRIMARY KEY, value TEXT (JSON))   # the experiment spec and point list of the last run,
                                                     # and `outputs`: the files its last run/plot wrote

WAL journal, synchronous=FULL: each point is committed in its own transaction by the parent process as
soon as it finishes, so killing a run (Ctrl-C, SIGKILL) loses no finished point; `INSERT OR IGNORE` on
the key makes a point present at most once; a rerun skips the keys already present.

A results folder belongs to one experiment (the `name` of the recorded spec): `claim` refuses another
experiment's run into it (its plots would sit, stale, beside the new ones), and `replace_outputs`
deletes the files the previous run or redraw wrote that this one did not (a plot renamed or dropped).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from pimsim.errors import ConfigError

STORE_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    point TEXT NOT NULL,
    result TEXT NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class ResultStore:
    """`ResultStore(path)` opens (creating) the store; use as a context manager or call `close()`."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise ConfigError(f"{self.path}: no results store here (run `pimsim run` first)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: not a pimsim results store ({exc})") from None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def keys(self) -> set[str]:
        return {k for (k,) in self.conn.execute("SELECT key FROM points")}

    def put(self, point: dict[str, Any], result: dict[str, Any]) -> bool:
        """Store one finished point in its own transaction; False if its key was already stored."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO points (key, experiment, point, result, finished_at) VALUES (?, ?, ?, ?, ?)",
                (point["key"], point.get("experiment", ""), json.dumps(point, sort_keys=True),
                 json.dumps(result, sort_keys=True), time.time()))
        return cur.rowcount == 1

    def results(self, keys: Iterable[str] | None = None) -> dict[str, tuple[dict, dict]]:
        """key -> (point, result) for `keys` (all stored points when None)."""
        rows = self.conn.execute("SELECT key, point, result FROM points ORDER BY rowid").fetchall()
        wanted = None if keys is None else set(keys)
        return {k: (json.loads(p), json.loads(r)) for k, p, r in rows if wanted is None or k in wanted}

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]

    def set_meta(self, name: str, value: Any) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                              (name, json.dumps(value, sort_keys=True)))

    def get_meta(self, name: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def experiment_names(self) -> set[str]:
        """Names of the experiments whose spec or points this store holds."""
        names = {n for (n,) in self.conn.execute("SELECT DISTINCT experiment FROM points") if n}
        spec = self.get_meta("experiment")
        if isinstance(spec, dict) and spec.get("name"):
            names.add(spec["name"])
        return names

    def claim(self, experiment: str, where: str = "--out") -> None:
        """ConfigError unless this store is empty or holds results of `experiment` only."""
        others = sorted(self.experiment_names() - {experiment})
        if others:
            raise ConfigError(
                f"{where} {self.path.parent}: this results folder holds experiment {others[0]!r} "
                f"({self.path}); refusing to run experiment {experiment!r} into it (its tables and plots would "
                f"mix with {others[0]!r}'s stale ones); give another --out, or delete the folder first")

    def replace_outputs(self, files: Iterable[str | Path], keep_old: bool = False) -> list[Path]:
        """Record `files` (in this store's folder) as the folder's outputs; delete the previously recorded
        outputs not among them (unless `keep_old`), returning those deleted."""
        folder = self.path.parent
        new = sorted({Path(f).name for f in files if Path(f).parent.resolve() == folder.resolve()})
        old = self.get_meta("outputs", []) or []
        removed = []
        if not keep_old:
            for name in old:
                p = folder / name
                if name not in new and Path(name).name == name and name != STORE_NAME and p.is_file():
                    p.unlink()
                    removed.append(p)
        self.set_meta("outputs", sorted(set(new) | (set(old) if keep_old else set())))
        return removed
