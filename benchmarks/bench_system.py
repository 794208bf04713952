"""Simulator speed of `simulate` (issue 7 targets: gpt3-xl generating 1024 tokens in at most 2 s fast,
60 s exact, after JIT warm-up). Run: `make bench` or
`.venv/bin/python -m pytest benchmarks/bench_system.py --benchmark-enable`."""

from __future__ import annotations

import pytest

from pimsim.engine import simulate
from pimsim.hardware import load_hardware
from pimsim.workloads import GenerateSpec

HW = load_hardware("pimgpt-gddr6")


@pytest.fixture(scope="module", autouse=True)
def warm_jit():
    simulate("gpt2-small", HW, "pimgpt", GenerateSpec(prompt=2, generate=2))


def test_gpt3_xl_1024_tokens_fast(benchmark):
    spec = GenerateSpec(prompt=64, generate=960)
    result = benchmark.pedantic(simulate, args=("gpt3-xl", HW, "pimgpt", spec), rounds=3, iterations=1)
    assert result.tokens == 960


def test_gpt2_small_192_tokens_exact(benchmark):
    spec = GenerateSpec(prompt=64, generate=128)
    result = benchmark.pedantic(simulate, args=("gpt2-small", HW, "pimgpt", spec), kwargs={"exact": True},
                                rounds=1, iterations=1)
    assert result.tokens == 128
