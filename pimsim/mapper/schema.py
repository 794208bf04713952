"""Mapping schemes as validated data (`mappings/*.yaml`): how ops are laid out over channels and banks.

A mapping decides, for every weight matrix and the KV cache, which bank holds which output rows and how
their input-dimension elements fill DRAM rows; where attention runs; how partial sums over input tiles
are combined; and whether ASIC work overlaps PIM work. The mapper turns these choices into AiM
instruction programs; timing then comes from the command engine, never from the mapping.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pimsim.errors import UnknownNameError
from pimsim.util.config_io import read_yaml, validate


PHASE_KINDS = ("prefill", "decode")
ROLES = ("policy", "prm", "verifier", "reference")
OP_CLASSES = ("weights", "attention")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightLayout(_Strict):
    """Layout of one weight matrix y = W x (N outputs x K inputs) over all banks of all channels."""

    pack_rows: bool = Field(
        description="true: each bank's output segments lie back to back so DRAM rows are filled "
        "(PIM-GPT); false: every output segment starts a new DRAM row (CENT, naive)"
    )
    split_heads: bool = Field(
        False, description="map Q/K/V/output projections head by head as separate matrices (naive)"
    )
    fused_projections: bool = Field(
        True, description="q, k and v as one GEMV (and SwiGLU's gate and up as one); false: each its own GEMV, "
        "with its own input loads and row layout (CENT's trace generator, TransformerBlock.py)"
    )
    partial_sums: Literal["asic", "wr_bias"] = Field(
        "asic", description="combine partial sums over input tiles on the ASIC (PIM-GPT) or by "
        "preloading the MAC registers with WR_BIAS (CENT)"
    )
    output_group: int | None = Field(
        None, ge=1, description="outputs accumulated before their results are read; default: the "
        "hardware's result registers"
    )


class AttentionLayout(_Strict):
    """Where q.K^T and score.V run and how the KV cache is laid out."""

    placement: Literal["pim", "asic"] = Field(
        description="pim: both products are PIM vector-matrix products over the cache; asic: the cache "
        "lives in PIM memory and the ASIC reads K and V over the link"
    )
    k_layout: Literal["row_major"] = Field(
        "row_major", description="K as the mapper stores it: each position's key in DRAM rows (q.K^T is then a "
        "GEMV over the key rows, PIM-GPT); the only layout modelled")
    v_layout: Literal["column_major", "row_major"] = Field(
        "column_major", description="column_major: V transposed, each V output row holds one element per position "
        "(score.V a GEMV over those rows; a token appends one element per row, kv_append_program; PIM-GPT). "
        "row_major only with placement asic, where the ASIC reads the cache whole over the link (the bytes read "
        "are the same; the append is still modelled column-major)")
    concat_heads: bool = Field(True, description="all heads' K (V) of a position share DRAM rows")
    value_split: Literal["outputs", "channels"] = Field(
        "outputs", description="score.V over the units: outputs (PIM-GPT: the (head, dim) outputs spread over "
        "every unit, one head's scores per global-buffer load) or channels (each channel serves its heads and "
        "a slice of the context, partial sums added on the ASIC; V stored under every query head it serves)")
    kv_head_passes: bool = Field(
        False, description="multi-vector units and GQA: lay out K and V once per KV head and serve the query "
        "heads of a group as the vectors of one pass (ceil(group / vectors_per_pass) passes per KV head); "
        "false: one pass per query head. A trade-off: fewer MACs and KV bytes, more result reads per channel")
    @model_validator(mode="after")
    def _layouts_modelled(self) -> "AttentionLayout":
        # a PIM unit's MAC reduces along a DRAM row: score.V on PIM needs V transposed (the value rows of one
        # output each); row-major V there would multiply the wrong axis, and no program for it exists
        if self.placement == "pim" and self.v_layout == "row_major":
            raise ValueError("v_layout: row_major cannot run score.V on the PIM units (their MACs reduce along a "
                             "DRAM row, so V is stored transposed: column_major, as PIM-GPT does); use "
                             "v_layout: column_major, or placement: asic")
        return self

    reserve: Literal["max_context", "workload"] = Field(
        "max_context", description="KV cache reserved per sequence: the model's maximum context (PIM-GPT) "
        "or the longest context the workload reaches")
    sequence_groups: int = Field(
        1, ge=1, le=4096, description="op-class split phases (attention on PIM): the PIM channels form this "
        "many equal groups, each holding the KV cache of its share of the sequences and attending for them at "
        "the same time as the others (AttAcc maps many sequences' heads to its stacks at once); 1: the "
        "sequences attend one after another over every channel")


class Mapping(_Strict):
    name: str
    description: str = ""
    source: str = ""
    weights: WeightLayout
    attention: AttentionLayout
    op_programs: Literal["pimsim", "cent", "attacc"] = Field(
        "pimsim", description="whose PIM programs a block's ops run: pimsim (the layouts above; vector ops on the "
        "ASIC); cent (CENT's trace generator's, pimsim/mapper/cent_programs.py: the vector ops' operands moved "
        "through the PIM by host bursts beside the ASIC's compute, its attention and KV-write layouts; the weight "
        "GEMVs stay the layout above); attacc (attention on PIM in an op-class split as AttAcc's bank-level "
        "program, pimsim/mapper/attacc_programs.py: each HBM stack streams its share of the batch's heads' K and "
        "V once; the KV appends stay pimsim's)")
    overlap: Literal["serial", "pipelined"] = Field(
        "serial", description="serial: an instruction completes before the next starts (PIM-GPT); "
        "pipelined: ASIC work and transfers overlap the next PIM op"
    )
    head_pipeline: int = Field(
        1, ge=1, le=4096, description="op-class split phases: the heads of a layer's attention go to PIM in this "
        "many chunks (capped at the model's heads), so one chunk's transfers overlap another's PIM attention "
        "(AttAcc's head-level pipelining); 1: one transfer each way per layer")
    head_pipeline_gpu: bool = Field(
        False, description="with head_pipeline C > 1: the GPU's QKV and output projections also go in the C head "
        "chunks, so a chunk's PIM attention overlaps the GPU generating the next chunks' q/k/v and projecting "
        "the finished ones (AttAcc --pipeopt, src/system.py _pipeline); false: the chunks overlap only the link "
        "with PIM, after the layer's GPU kernels")
    kv_handoff: Literal["phase", "layer"] = Field(
        "phase", description="when a phase's KV cache moves to the device that continues it (e.g. a GPU prefill's "
        "to PIM): phase: all at once after the phase, so the source holds the whole cache; layer: each layer's "
        "as it is written (one transfer per layer, not overlapped with compute), so the source holds one "
        "layer's (AttAcc's GPU prefill writing into its PIM memory)")
    placement: dict[str, str | dict[str, str]] = Field(
        default_factory=dict, description="which device of the system runs each phase: keys `default`, a "
        "phase kind (prefill, decode), a role (policy, prm, verifier, reference) or `role.kind`; values: a "
        "device name of the system (a plain PIM hardware is the device `pim`), or per op class "
        "{weights: DEVICE, attention: DEVICE} (weights: every op but attention and the KV appends). "
        "Unplaced phases: `pim`")

    @model_validator(mode="after")
    def _head_chunks(self) -> "Mapping":
        if self.head_pipeline_gpu and self.head_pipeline < 2:
            raise ValueError("head_pipeline_gpu splits the GPU's QKV and projection kernels among the head chunks: "
                             "give head_pipeline 2 or more")
        return self

    @model_validator(mode="after")
    def _placement_keys(self) -> "Mapping":
        for key, value in self.placement.items():
            role, _, kind = key.rpartition(".")
            ok = key == "default" or key in PHASE_KINDS or key in ROLES or (role in ROLES and kind in PHASE_KINDS)
            if not ok:
                raise ValueError(f"placement.{key}: not a placement key; use default, a phase kind "
                                 f"({', '.join(PHASE_KINDS)}), a role ({', '.join(ROLES)}) or role.kind")
            if isinstance(value, dict) and set(value) != set(OP_CLASSES):
                raise ValueError(f"placement.{key}: an op-class placement names exactly "
                                 f"{' and '.join(OP_CLASSES)}, got {sorted(value)}")
        return self

    def device_for(self, role: str, kind: str) -> str | dict[str, str]:
        """The device that runs a phase of `role` and `kind` (or one per op class): the most specific key
        given; an op-class placement naming one device for both is that device."""
        for key in (f"{role}.{kind}", role, kind, "default"):
            if key in self.placement:
                value = self.placement[key]
                if isinstance(value, dict) and len(set(value.values())) == 1:
                    return next(iter(value.values()))
                return value
        return "pim"

    @property
    def pim_only(self) -> bool:
        """Every phase on the device `pim` (the mappings a plain PIM hardware can run)."""
        return all(v == "pim" for value in self.placement.values()
                   for v in (value.values() if isinstance(value, dict) else (value,)))


def _mappings_dir() -> Path:
    """The top-level `mappings/` folder: beside the package in a source checkout, else where pip put it
    (`<prefix>/share/pimsim/mappings`)."""
    source = Path(__file__).resolve().parents[2] / "mappings"
    return source if source.is_dir() else Path(sys.prefix) / "share" / "pimsim" / "mappings"


def mapping_names() -> list[str]:
    d = _mappings_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def load_mapping(spec: str | Path) -> Mapping:
    """A mapping by name (`mappings/NAME.yaml`) or from a YAML path."""
    text = str(spec)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        path = Path(text)
    else:
        path = _mappings_dir() / f"{text}.yaml"
        if not path.is_file():
            raise UnknownNameError(f"unknown mapping {text!r}; known mappings: {', '.join(mapping_names())}")
    return validate(Mapping, read_yaml(path), str(path))
