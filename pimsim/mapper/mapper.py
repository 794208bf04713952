"""The mapper: ModelGraph ops + hardware + mapping -> PIM programs, ASIC work and link transfers.

On PIM every token is a sequence of vector-matrix products (the MAC units multiply a stored matrix by
one broadcast vector), so a forward step of n tokens maps to n token steps; `map_token` gives the ops of
one token of one sequence at a given context. Layers are identical, so a token step is
`pre + layers x layer + post`. Programs are cached by shape; the mapper never times anything.

Layouts (see `programs.py` and `mappings/*.yaml`):
- weight matrix (N x K): outputs spread over all PIM units (channels x units per channel), input tiles of
  one global buffer, partial sums over tiles added on the ASIC (or carried by WR_BIAS);
- q.K^T (K row-major): one output per (key, query head), a segment of head_dim elements; keys spread
  over units; the query (all heads) is the GB content, several GB loads when it exceeds the buffer;
- score.V (V column-major): one output per (query head, dim), a segment of `context` elements; the
  probabilities of as many heads as fit are one GB load; V regions are reserved for the model's maximum
  context, so each output starts a new DRAM row;
- KV append: the new key's columns to one bank (WR_SBK), the new value's elements to every bank (WR_ABK).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from pimsim.errors import CapacityError, ConfigError
from pimsim.hardware import Hardware
from pimsim.mapper.programs import GemvShape, Program, gemv_program, kv_append_program
from pimsim.mapper.schema import Mapping
from pimsim.models import ModelConfig, ModelGraph, OpKind

# ASIC special-function units each vector op uses (their pipeline fill is paid once per op)
_SPECIAL_UNITS = {
    "layernorm": ("rsqrt",), "rmsnorm": ("rsqrt",), "softmax": ("exp", "reciprocal"),
    "gelu": ("gelu",), "silu_mul": ("exp", "reciprocal"), "relu": (), "residual": (), "pos_add": (),
    "rotary": ("mul",),
}



CENT_SEQLEN_GAP = 128  # CENT run_sim.py --seqlen_gap: the contexts its per-token latency is simulated at
CENT_DYNAMIC = ("kv_write", "attn_score", "softmax", "attn_value")  # CENT's ops that change with the context


@dataclass(frozen=True)
class MappedOp:
    """One op of a token step: PIM program, ASIC work or link transfer (exactly one unit)."""

    name: str
    category: str  # pim_mac (weights) | attention (q.K^T, score.V) | kv_write | asic | link
    unit: str  # pim | pim_device | asic | link (pim_device: `program` spans one device's channels, which differ)
    program: Program | None = None
    asic_flops: int = 0
    asic_units: tuple[str, ...] = ()
    asic_fn: str = ""  # the vector function (rmsnorm, softmax, rotary, residual, ...: _SPECIAL_UNITS' keys)
    asic_elements: int = 0  # elements it processes (softmax: heads x context)
    asic_rows: int = 0  # softmax: the rows normalised (heads); 0 otherwise
    asic_sram_bytes: int = 0
    link_bytes: int = 0
    channels_active: int | None = None  # channels running `program` (None: all, identical programs)
    vectors: int = 1  # vectors one run of `program` serves (multi-vector units: sequences of a weight GEMV,
    # or query heads of a GQA group in attention)
    device_copies: int = 1  # unit pim_device: devices running `program` at once (its lines are one device's)


@dataclass(frozen=True)
class TokenStep:
    """Ops of one token of one sequence; `layer` repeats `layers` times between `pre` and `post`."""

    pre: tuple[MappedOp, ...]
    layer: tuple[MappedOp, ...]  # in forward order
    layers: int
    post: tuple[MappedOp, ...]
    layer_static: tuple[MappedOp, ...] = ()  # the layer's ops shared by every context (same objects)
    layer_dynamic: tuple[MappedOp, ...] = ()  # the layer's context-dependent ops

    def ops(self):
        yield from self.pre
        for _ in range(self.layers):
            yield from self.layer
        yield from self.post


class Mapper:
    """Maps one model onto one hardware with one mapping; caches programs by shape."""

    def __init__(self, model: ModelConfig, hw: Hardware, mapping: Mapping, dtype_bytes: int | None = None):
        self.model, self.hw, self.mapping = model, hw, mapping
        self.graph = ModelGraph(model)
        d = hw.dram
        self.dtype_bytes = dtype_bytes or hw.pim.dtype_bytes
        self.elems_per_col = d.column_bytes // self.dtype_bytes
        self.gb_cols = hw.pim.global_buffer_bytes // d.column_bytes
        self.units = d.channels * (d.banks // hw.pim.banks_per_unit)
        self.group = mapping.weights.output_group or hw.pim.result_registers
        self._programs: dict[tuple, Program] = {}
        self._kv_ops: tuple[MappedOp, MappedOp] | None = None
        self._tokens: dict[tuple[int, bool, int], TokenStep] = {}
        self._templates: dict[int, tuple] = {}
        self._regions: dict[str, int] = {}
        self._cent: dict[tuple, tuple] = {}
        if mapping.op_programs == "cent":
            self._check_cent()
        self._cent_programs: dict[tuple, Program] = {}
        self._next_row = 0
        self.top_row = hw.dram.rows - 4  # rows above belong to the KV append and the idle state
        # Multi-vector units and grouped-query attention with `attention.kv_head_passes`: a KV head's K and V
        # are stored once and each pass over them serves up to `vectors_per_pass` of the query heads sharing
        # them, one per buffer slot (the batching of NeuPIMs/AttAcc applied to a GQA group). Otherwise every
        # query head is its own pass.
        g = model.heads // model.kv_heads
        k = hw.pim.vectors_per_pass
        self.attn_vectors = min(k, g) if k > 1 and g > 1 and mapping.attention.kv_head_passes else 1
        self.attn_heads = model.kv_heads if self.attn_vectors > 1 else model.heads  # heads laid out in PIM
        self.attn_passes = ceil(g / self.attn_vectors) if self.attn_vectors > 1 else 1  # passes per KV head

    # ------------------------------------------------------------------ capacity
    def reserved_context(self, workload_context: int | None = None) -> int:
        """Tokens of KV cache reserved per sequence: the model's maximum context (PIM-GPT), or with
        `attention.reserve: workload` the longest context the workload reaches."""
        if self.mapping.attention.reserve == "workload" and workload_context:
            return min(workload_context, self.model.max_context)
        return self.model.max_context

    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes one token adds as this layout stores it: K and V once per KV head, or with
        `value_split: channels` V under every query head it serves (GQA: heads / kv_heads copies)."""
        m = self.model
        per_token = m.kv_bytes_per_token(self.dtype_bytes)
        if self.mapping.attention.value_split == "channels":  # V under every head laid out (attn_heads)
            per_token += per_token // 2 * (self.attn_heads // m.kv_heads - 1)
        return per_token

    def required_bytes(self, sequences: int, workload_context: int | None = None) -> dict[str, int]:
        """Every weight (bf16) plus the KV cache reserved for `sequences` sequences."""
        m = self.model
        weights = m.params * self.dtype_bytes
        kv = sequences * self.reserved_context(workload_context) * self.kv_bytes_per_token()
        return {"weights_bytes": weights, "kv_cache_bytes": kv, "total_bytes": weights + kv}

    def check_capacity(self, sequences: int, workload_context: int | None = None) -> None:
        need = self.required_bytes(sequences, workload_context)
        have = self.hw.capacity_bytes
        if need["total_bytes"] > have:
            raise CapacityError(
                f"{self.model.name} does not fit {self.hw.name}: requires {need['total_bytes']:,} bytes "
                f"(weights {need['weights_bytes']:,} + KV cache {need['kv_cache_bytes']:,} for {sequences} "
                f"sequence(s) x {self.reserved_context(workload_context)} tokens) but the preset has {have:,} bytes "
                f"({self.hw.dram.channels} channels x {self.hw.dram.channel_bytes:,}); use a preset with more "
                "channels or fewer sequences"
            )

    # ------------------------------------------------------------------ programs
    def _region(self, name: str) -> int:
        """First DRAM row of the region holding matrix `name` (the same rows in every bank).

        Weights are allocated upward from row 0 in order of first use; the KV cache regions sit in the
        upper half (q.K^T keys from rows/2, V from 3 rows/4, new K/V in the top rows). A matrix shared by
        every layer is one program here, so regions only decide row hits at op boundaries (an op never
        finds its first row open after another op).
        """
        rows = self.hw.dram.rows
        fixed = {"attn_score": rows // 2, "attn_value": 3 * rows // 4}
        if name in fixed:
            return fixed[name]
        if name not in self._regions:
            self._regions[name] = self._next_row
        return self._regions[name]

    def _gemv(self, shape: GemvShape, *, packed: bool, wr_bias: bool, region: str) -> Program:
        """The program of `shape` in `region`, built once: contexts with the same per-unit shape share it."""
        base = self._region(region)
        key = (shape, packed, wr_bias, base)
        prog = self._programs.get(key)
        if prog is None:
            d = self.hw.dram
            prog = self._programs[key] = gemv_program(shape, columns_per_row=d.columns,
                                                      column_bytes=d.column_bytes, group=self.group,
                                                      packed=packed, wr_bias=wr_bias, base_row=base,
                                                      row_limit=self.top_row)
            if region in self._regions:
                self._next_row = max(self._next_row, prog.last_row + 1) % (d.rows // 2)
        return prog

    def _tiles_cols(self, k_elems: int) -> tuple[int, ...]:
        cols = ceil(k_elems / self.elems_per_col)
        full, rest = divmod(cols, self.gb_cols)
        return (self.gb_cols,) * full + ((rest,) if rest else ())

    def weight_program(self, n_out: int, k_in: int, name: str = "weights", vectors: int = 1) -> Program:
        """y = W x for an N x K matrix over all units (layout per the mapping's `weights`), for `vectors`
        input vectors at once (multi-vector units; 1 on AiM)."""
        w = self.mapping.weights
        shape = GemvShape(ceil(n_out / self.units), self._tiles_cols(k_in), vectors=vectors)
        return self._gemv(shape, packed=w.pack_rows, wr_bias=w.partial_sums == "wr_bias", region=name)

    def score_program(self, context: int) -> Program:
        """q.K^T over `context` keys: outputs (key, q head), segments of head_dim elements.

        GQA needs no special case here: a MAC_ABK multiplies bank column c with global-buffer column c,
        so a key segment shared by g query heads must sit under each head's GB columns. Storing it once
        per KV head means g GB loads sweeping the same rows; storing it under each head means g copies.
        Either way the rows opened and the MACs equal this program's (each q head's segments read as
        their own rows); only the KV capacity (`required_bytes`, by KV heads) differs, and it is counted
        separately.

        With multi-vector units and GQA (`attn_vectors` > 1) the layout is by KV head: each load's buffer
        slots hold up to `attn_vectors` query heads of the group, and `attn_passes` loads sweep each K.
        """
        m = self.model
        heads = self.attn_heads
        heads_per_load = max(1, (self.gb_cols * self.elems_per_col) // m.head_dim)
        loads = ceil(heads / heads_per_load) * self.attn_passes
        keys_per_unit = ceil(context / self.units)
        seg = ceil(m.head_dim / self.elems_per_col)
        shape = GemvShape(keys_per_unit * min(heads_per_load, heads), (seg,), gb_loads_per_tile=loads,
                          vectors=self.attn_vectors, inputs_per_load=min(heads_per_load, heads))
        return self._gemv(shape, packed=self.mapping.attention.concat_heads, wr_bias=False, region="attn_score")

    def value_split(self) -> tuple[int, int]:
        """(heads per channel, channels per head) of the `value_split: channels` layout: the q heads are
        dealt to the channels; with more channels than heads each head's context is split over
        channels // heads channels (their partial sums are added on the ASIC)."""
        nch = self.hw.dram.channels
        return ceil(self.attn_heads / nch), max(1, nch // self.attn_heads)

    def value_program(self, context: int) -> Program:
        """score.V over `context` positions: outputs (q head, dim), segments of `context` elements.

        `value_split: outputs` (PIM-GPT): the outputs of the heads in one global-buffer load are spread over
        every unit, so with few outputs per load most units multiply padding. `channels`: each channel
        multiplies its heads' scores (one load per head) with its slice of the context, the head's head_dim
        outputs spread over the channel's units. With multi-vector units and GQA the heads laid out are the
        KV heads, each pass's buffer slots holding up to `attn_vectors` of the query heads' scores."""
        m, heads, v = self.model, self.attn_heads, self.attn_vectors
        if self.mapping.attention.value_split == "channels":
            heads_per_channel, channels_per_head = self.value_split()
            units_per_channel = self.hw.dram.banks // self.hw.pim.banks_per_unit
            shape = GemvShape(ceil(m.head_dim / units_per_channel),
                              self._tiles_cols(ceil(context / channels_per_head)),
                              gb_loads_per_tile=heads_per_channel * self.attn_passes, vectors=v)
            return self._gemv(shape, packed=False, wr_bias=False, region="attn_value")
        gb_elems = self.gb_cols * self.elems_per_col
        padded = ceil(context / self.elems_per_col) * self.elems_per_col
        heads_per_load = max(1, gb_elems // padded) if self.mapping.attention.concat_heads else 1
        outputs = min(heads_per_load, heads) * m.head_dim
        shape = GemvShape(ceil(outputs / self.units), self._tiles_cols(context),
                          gb_loads_per_tile=ceil(heads / heads_per_load) * self.attn_passes, vectors=v,
                          inputs_per_load=min(heads_per_load, heads))
        return self._gemv(shape, packed=False, wr_bias=False, region="attn_value")

    def kv_append_ops(self) -> tuple[MappedOp, MappedOp]:
        """K: the new key's columns into one bank of one channel; V: one element per V output row."""
        if self._kv_ops is None:
            m, d = self.model, self.hw.dram
            k_cols = ceil(m.kv_features * self.dtype_bytes / d.column_bytes)
            v_writes, v_channels = ceil(m.kv_features / self.units), None
            if self.mapping.attention.value_split == "channels":  # each channel writes its heads' V elements
                heads_per_channel, _ = self.value_split()
                units_per_channel = d.banks // self.hw.pim.banks_per_unit
                v_writes = ceil(heads_per_channel * m.head_dim / units_per_channel)
                v_channels = min(d.channels, self.attn_heads)  # the channels holding the new position's slice
            self._kv_ops = (
                MappedOp("k_append", "kv_write", "pim", program=kv_append_program(k_cols, 0, k_row=d.rows - 2, v_row=d.rows - 3),
                         channels_active=1),
                MappedOp("v_append", "kv_write", "pim", program=kv_append_program(0, v_writes, k_row=d.rows - 2, v_row=d.rows - 3),
                         channels_active=v_channels),
            )
        return self._kv_ops

    # ------------------------------------------------------------------ token step
    def _asic(self, name: str, flops: int, fn: str | None = None, sram_bytes: int = 0, category="asic",
              elements: int = 0, rows: int = 0) -> MappedOp:
        units = _SPECIAL_UNITS.get(fn or name, ())
        return MappedOp(name, category, "asic", asic_flops=flops, asic_units=units, asic_sram_bytes=sram_bytes,
                        asic_fn=fn or name, asic_elements=elements, asic_rows=rows)

    def _weight_ops(self, op, vectors: int = 1) -> list[MappedOp]:
        """A weight matmul as PIM GEMV(s) plus the ASIC's partial-sum reduction."""
        m = self.model
        n, k = op.out_features, op.in_features
        pieces = [(n, k)]
        if self.mapping.weights.split_heads and op.name in ("qkv_proj", "out_proj"):
            if op.name == "qkv_proj":  # one GEMV per q, k and v head
                pieces = [(m.head_dim, k)] * (m.heads + 2 * m.kv_heads)
            else:  # out_proj: the input of each head separately, partial sums added on the ASIC
                pieces = [(n, m.head_dim)] * m.heads
        elif not self.mapping.weights.fused_projections and op.name == "qkv_proj":  # q, k and v apart (CENT)
            pieces = [(m.q_features, k), (m.kv_features, k), (m.kv_features, k)]
        elif not self.mapping.weights.fused_projections and op.name == "gate_up_proj":  # gate and up apart
            pieces = [(n // 2, k), (n // 2, k)]
        out: list[MappedOp] = []
        reduce_flops = 0
        for pn, pk in pieces:
            prog = self.weight_program(pn, pk, name=op.name, vectors=vectors)
            out.append(MappedOp(op.name, "pim_mac", "pim", program=prog, vectors=vectors))
            tiles = len(self._tiles_cols(pk))
            if self.mapping.weights.partial_sums == "asic":
                reduce_flops += (tiles - 1) * pn
        if len(pieces) > 1 and op.name == "out_proj":
            reduce_flops += (len(pieces) - 1) * n
        if op.bias:
            reduce_flops += n
        if reduce_flops:
            out.append(self._asic(f"{op.name}.reduce", reduce_flops, fn="residual",
                                  sram_bytes=2 * reduce_flops * self.dtype_bytes))
        return out

    def _attention_ops(self, op, context: int, flops: int) -> list[MappedOp]:
        m = self.model
        if self.mapping.attention.placement == "asic":
            kv_bytes = m.kv_features * context * self.dtype_bytes
            return [MappedOp(f"{op.name}.read_kv", "link", "link", link_bytes=kv_bytes),
                    self._asic(op.name, flops, fn="residual", sram_bytes=kv_bytes, category="attention")]
        prog = self.score_program(context) if op.kind is OpKind.ATTN_SCORE else self.value_program(context)
        out = [MappedOp(op.name, "attention", "pim", program=prog, vectors=self.attn_vectors)]
        if op.kind is OpKind.ATTN_VALUE:
            if self.mapping.attention.value_split == "channels":
                ctx = ceil(context / self.value_split()[1])
                tiles = len(self._tiles_cols(ctx)) * self.value_split()[1]  # partial sums: tiles x channels
            else:
                tiles = len(self._tiles_cols(context))
            if tiles > 1:
                red = (tiles - 1) * m.heads * m.head_dim
                out.append(self._asic(f"{op.name}.reduce", red, fn="residual", sram_bytes=2 * red * self.dtype_bytes))
        return out

    def map_token(self, context: int, *, head: bool = True, vectors: int = 1) -> TokenStep:
        """Ops of one token whose cache holds `context` tokens after its own K/V are appended; with
        `vectors` > 1 its weight GEMVs serve that many sequences' tokens at once (multi-vector units: the
        other ops stay one sequence's).

        Ops whose shape does not depend on the context are built once and shared by every token
        (`TokenStep.layer_static`); the attention ops are built per context (`layer_dynamic`).
        """
        key = (context, head, vectors)
        step = self._tokens.get(key)
        if step is None:
            if vectors not in self._templates:
                self._templates[vectors] = self._build_template(vectors)
            pre, layer, post_with, post_without = self._templates[vectors]
            dynamic: list[MappedOp] = []
            full: list[MappedOp] = []
            for item in layer:
                if isinstance(item, MappedOp):
                    full.append(item)
                else:
                    ops = self._dynamic_ops(item, context)
                    dynamic += ops
                    full += ops
            static = tuple(op for op in layer if isinstance(op, MappedOp))
            if self.mapping.op_programs == "cent":
                full, static, dynamic = self._cent_layer(layer, context)
            step = self._tokens[key] = TokenStep(pre, tuple(full), self.model.layers,
                                                 post_with if head else post_without, static, tuple(dynamic))
        return step

    # ------------------------------------------------------------------ CENT's programs
    def _cent_layer(self, template, context: int) -> tuple[list[MappedOp], tuple[MappedOp, ...], list[MappedOp]]:
        """(layer, static, dynamic) with `op_programs: cent`: every PIM op of the block is CENT's own
        (pimsim.mapper.cent_programs, in CENT's order), beside this mapper's ASIC ops for the vector functions
        (their compute, timed by the hardware's ASIC timing model; CENT adds its accelerator's latency to the
        PIM trace's time, run_sim.py load_data_point). Contexts are CENT's simulated ones: a token whose cache
        holds `context` keys runs CENT's block at the next multiple of CENT_SEQLEN_GAP (run_sim.py
        --seqlen_gap 128, whose mean token latency over that grid times the tokens is CENT's total), so a
        4096-token run times 32 distinct blocks. Uniform ops (every channel the same instructions) run as
        channel-0 programs on the channels they use; the others as whole-device programs (unit pim_device).
        Devices: the group's channels over the channels beside one ASIC (asic.device_channels)."""
        from pimsim.mapper.cent_programs import cent_block_programs, channel0

        m, hw = self.model, self.hw
        per_device = hw.asic.device_channels or hw.dram.channels
        devices = hw.dram.channels // per_device
        grid = ceil(context / CENT_SEQLEN_GAP) * CENT_SEQLEN_GAP
        key = ("cent", grid)
        hit = self._cent.get(key)
        if hit is not None:
            return hit
        asic = {op.name: op for op in template if isinstance(op, MappedOp) and op.unit == "asic"}
        softmax = next(op for op in template if not isinstance(op, MappedOp) and op.kind is OpKind.SOFTMAX)
        asic["softmax"] = self._dynamic_ops(softmax, grid)[0]
        full: list[MappedOp] = []
        for c in cent_block_programs(m, grid, per_device, devices):
            copies = 1 if c.per_device else devices
            if c.uniform:
                active = c.channels_active * copies
                op = MappedOp(c.name, c.category, "pim", program=self._cent_static(c.name, channel0(c.program)),
                              channels_active=None if active == hw.dram.channels else active)
            else:
                op = MappedOp(c.name, c.category, "pim_device", program=self._cent_static(c.name, c.program),
                              device_copies=copies)
            full.append(op)
            if c.name in asic:
                full.append(asic[c.name])
        dynamic = [op for op in full if op.name in CENT_DYNAMIC]
        static = tuple(op for op in full if op.name not in CENT_DYNAMIC)
        out = self._cent[key] = (full, static, dynamic)
        return out

    def _check_cent(self) -> None:
        """CENT's generator writes Llama-style blocks (RMSNorm, rotary, SwiGLU, no biases, head_dim x heads =
        hidden) on AiM devices of at most 32 channels x 16 banks (its channel masks and memory map)."""
        m, hw = self.model, self.hw
        per_device = hw.asic.device_channels or hw.dram.channels
        problems = [what for bad, what in (
            (m.norm != "rmsnorm", f"norm {m.norm} (CENT: rmsnorm)"),
            (m.position != "rotary", f"position {m.position} (CENT: rotary)"),
            (m.mlp != "silu_gated", f"mlp {m.mlp} (CENT: silu_gated)"),
            (m.qkv_bias or m.linear_bias, "biased linears (CENT: none)"),
            (m.heads * m.head_dim != m.hidden, "heads x head_dim != hidden (CENT derives hidden from the heads)"),
            (hw.dram.standard != "gddr6-aim", f"DRAM standard {hw.dram.standard} (CENT: gddr6-aim)"),
            (per_device > 32 or hw.dram.banks != 16, f"{per_device} channels x {hw.dram.banks} banks per device "
                                                     "(CENT: at most 32 x 16)"),
            (hw.dram.channels % per_device, f"{hw.dram.channels} channels are not whole devices of {per_device}"),
        ) if bad]
        if problems:
            raise ConfigError(f"mapping {self.mapping.name} (op_programs: cent) runs CENT's Llama-style block on "
                              f"AiM devices; {m.name} on {hw.name} has {'; '.join(problems)}")

    def _cent_static(self, name: str, program: Program) -> Program:
        """The same Program object for the same op and lines (ops that do not change with the context keep one
        program, so their engine timing is computed once)."""
        key = (name, program.lines)
        hit = self._cent_programs.get(key)
        if hit is None:
            hit = self._cent_programs[key] = program
        return hit

    def _dynamic_ops(self, op, context: int) -> list[MappedOp]:
        """Ops of a context-dependent graph op (attention, softmax) at `context` keys."""
        m = self.model
        if op.kind is OpKind.SOFTMAX:
            flops = op.flops_per_elem * op.heads * context
            return [self._asic(op.name, flops, fn="softmax", sram_bytes=2 * op.heads * context * self.dtype_bytes,
                               elements=op.heads * context, rows=op.heads)]
        flops = 2 * op.heads * op.head_dim * context
        out: list[MappedOp] = []
        if op.kind is OpKind.ATTN_SCORE:
            if self.mapping.attention.placement == "pim":
                out += self.kv_append_ops()
            else:
                out.append(MappedOp("kv_append", "link", "link", link_bytes=2 * m.kv_features * self.dtype_bytes))
        return out + self._attention_ops(op, context, flops)

    def _build_template(self, vectors: int = 1):
        """Context-independent ops (pre, layer with attention placeholders, post with/without head)."""
        costs = {}
        for head in (True, False):
            for c in self.graph.step(1, 0, head_positions=1 if head else 0):
                costs[(c.op.name, c.op.layer, head)] = c
        dynamic_kinds = (OpKind.ATTN_SCORE, OpKind.ATTN_VALUE, OpKind.SOFTMAX)

        def map_ops(ops, head: bool) -> list:
            out: list = []
            for op in ops:
                c = costs[(op.name, op.layer, head)]
                if op.kind in dynamic_kinds:
                    out.append(op)  # placeholder, mapped per context
                elif op.kind is OpKind.WEIGHT_MATMUL:
                    if c.tokens:
                        out += self._weight_ops(op, vectors)
                        if op.name == "lm_head" and self.model.head == "lm":
                            out.append(self._asic("argmax", op.out_features, fn="relu"))
                elif op.kind is OpKind.EMBEDDING:
                    out.append(MappedOp(op.name, "link", "link", link_bytes=c.weight_bytes))
                elif c.flops:
                    fn = {"rotary": "rotary"}.get(op.name)
                    if fn is None:
                        fn = {OpKind.NORM: self.model.norm, OpKind.RESIDUAL: "residual",
                              OpKind.ELEMENTWISE: "pos_add"}.get(op.kind)
                    if fn is None:  # activations: gelu, silu_mul, relu (prm head)
                        fn = op.name if op.name in _SPECIAL_UNITS else "relu"
                    elements = c.flops // op.flops_per_elem if op.flops_per_elem else 0
                    out.append(self._asic(op.name, c.flops, fn=fn, sram_bytes=c.act_bytes, elements=elements))
            return out

        return (tuple(map_ops(self.graph.pre_ops(), True)), tuple(map_ops(self.graph.layer_ops(0), True)),
                tuple(map_ops(self.graph.post_ops(), True)), tuple(map_ops(self.graph.post_ops(), False)))
