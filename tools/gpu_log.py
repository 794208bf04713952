"""Shared start of the GPU measurement scripts here: the measurement tool of ../shared/tools (or a copy
beside these scripts) and an append-only JSON-lines log under $OUT (default /tmp/out)."""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "shared", "tools")]


def measurement_tool():
    """The module measure_gpu_baseline (its import opens the tool's own log; its main() is not run)."""
    sys.argv = sys.argv[:1]
    import measure_gpu_baseline
    return measure_gpu_baseline


def json_log(name):
    """emit(record): stamp `record` with the time, append it to $OUT/`name` and print it."""
    out = os.environ.get("OUT", "/tmp/out")
    os.makedirs(out, exist_ok=True)
    log = open(os.path.join(out, name), "a")

    def emit(rec):
        rec["t"] = time.time()
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(json.dumps(rec), flush=True)

    return emit
