"""Phases: a workload expanded into forward passes with exact token accounting.

A `Phase` is a run of `steps` identical-shape forward steps of one model: each of `batch` sequences
processes `new_tokens` tokens with `past_context` tokens already cached at the first step, and the
cache grows by `new_tokens` per step (a decode run has new_tokens=1; a prefill has steps=1). Costs
(FLOPs, weight bytes, KV-cache bytes read and written) come from `ModelGraph.step`. Every cost of a
step is affine in its past context (attention and KV terms grow linearly with context, the rest is
constant), so a run of steps is summed exactly in closed form; `Phase.totals` checks the affinity.

Token conventions (stated so results are checkable):
- generate: the prefill of P prompt tokens emits the first new token; G-1 decode steps follow, at
  contexts P .. P+G-2. Forward tokens per sequence: P + G - 1.
- PRM input: the question, then each step's tokens followed by one separator/tag token
  (models.md: Qwen2.5-Math-PRM separators, Skywork step tokens, Math-Shepherd tags).
- best-of-n: the shared question is prefilled once (batch 1); all N samples then decode.
- beam-search: every search step generates `step_tokens` for beam_width x expansions candidates; the PRM
  scores each candidate's new step, re-reading the whole prefix unless `prefix_reuse`.
- lookahead, dvts, omega-annotate, rl-rollout: pimsim.workloads.search.

Lengths that differ (a token count drawn from a distribution, spec.py): `shrinking_decode` runs sequences
that start together as batches that shrink as they finish; `_prm_ragged` scores solutions of several
lengths as one prefill per length, held together (`Phase.kv_group`). Streaming best-of-N
(`streaming_best_of_n`) tags the policy's step k+1 and the PRM's scoring of step k with one
`Phase.overlap` group, which the placement engine may run at once on two devices.

KV sharing (`Phase.shared_kv`): the leading tokens of a phase's past context that groups of its sequences
hold once (a question's KV shared by all N samples, a kept beam prefix by its expansions); what it saves
is counted by pimsim.workloads.residency. It changes no FLOP or byte of a step: every phase computes the
same whether or not its prefix is shared, since a shared prefix is one that was computed once already.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable, Iterator

from pimsim.errors import ConfigError, PimsimError
from pimsim.models import ModelConfig, ModelGraph, load_model
from pimsim.workloads.spec import (BeamSearchSpec, BestOfNSpec, GenerateSpec, McAnnotateSpec, PrmScoreSpec,
                                    check_scoring_head, draws)

COST_KEYS = ("flops", "weight_bytes", "kv_read_bytes", "kv_write_bytes")


@lru_cache(maxsize=64)
def _graph(model: ModelConfig) -> ModelGraph:
    return ModelGraph(model)


@dataclass(frozen=True)
class Phase:
    """`steps` consecutive forward steps of `model` over `batch` sequences (see module docstring)."""

    name: str
    role: str  # policy | prm | verifier | reference
    kind: str  # prefill | decode
    model: ModelConfig
    batch: int
    new_tokens: int
    past_context: int
    steps: int = 1
    head_positions: int | None = None  # positions per sequence that run the head; None: the last one
    # KV sharing of the past context, outermost first: (groups, tokens) says the next `tokens` tokens of the
    # context are held once per group of sequences (groups <= batch, non-decreasing); the rest of each
    # sequence's context is its own. () : nothing shared. Read by pimsim.workloads.residency only.
    shared_kv: tuple[tuple[int, int], ...] = ()
    # parts of one batch of sequences of different lengths run as separate phases (one per length): phases
    # with the same non-empty kv_group hold their KV cache at once (pimsim.workloads.residency). "" : alone.
    kv_group: str = ""
    kv_group_prefix: int = 0  # leading context tokens every part of the kv_group holds once for all (a question)
    # streaming: consecutive phases with the same non-empty overlap tag may run at once on distinct devices
    # (pimsim.engine.placement: the group's wall time is the max over devices of each device's serial sum).
    overlap: str = ""

    def __post_init__(self) -> None:
        for f in ("batch", "new_tokens", "steps"):
            if getattr(self, f) <= 0:
                raise ConfigError(f"phase {self.name}: {f} must be positive, got {getattr(self, f)}")
        if self.past_context < 0:
            raise ConfigError(f"phase {self.name}: past_context must be >= 0, got {self.past_context}")
        groups = [g for g, _ in self.shared_kv]
        if (any(g < 1 or n < 1 for g, n in self.shared_kv) or groups != sorted(groups)
                or sum(n for _, n in self.shared_kv) > self.past_context):
            raise ConfigError(f"phase {self.name}: shared_kv {self.shared_kv} must be (groups >= 1, tokens >= 1) "
                              f"levels with non-decreasing groups inside the past context ({self.past_context})")
        if not 0 <= self.kv_group_prefix <= self.past_context or (self.kv_group_prefix and not self.kv_group):
            raise ConfigError(f"phase {self.name}: kv_group_prefix {self.kv_group_prefix} must be inside the past "
                              f"context ({self.past_context}) of a phase with a kv_group")
        end = self.end_context
        if end > self.model.max_context:
            raise ConfigError(
                f"phase {self.name}: context reaches {end} tokens but {self.model.name} supports "
                f"at most {self.model.max_context}"
            )

    @property
    def weight_copy(self) -> str:
        """Which copy of `model`'s weights this phase runs on: "reference" for the implicit PRM's
        reference-model passes (models.md, "How PRMs score": 2 prefills, PRM and reference model, so two
        sets of weights are resident), "main" for every other role (policy, PRM and a generative verifier
        of the same model share one copy)."""
        return "reference" if self.role == "reference" else "main"

    @property
    def end_context(self) -> int:
        """Tokens in each sequence's cache after the last step."""
        return self.past_context + self.steps * self.new_tokens

    @property
    def tokens(self) -> int:
        """Tokens processed by forward passes (all sequences, all steps)."""
        return self.batch * self.steps * self.new_tokens

    def step_costs(self, step: int, dtype_bytes: int = 2):
        """Per-op costs (`OpCost` list) of step `step` (0-based) of this phase."""
        return _graph(self.model).step(
            self.new_tokens,
            self.past_context + step * self.new_tokens,
            batch=self.batch,
            dtype_bytes=dtype_bytes,
            head_positions=self.head_positions,
        )

    def _step_totals(self, step: int, dtype_bytes: int) -> dict[str, int]:
        out = dict.fromkeys(COST_KEYS, 0)
        for c in self.step_costs(step, dtype_bytes):
            for k in COST_KEYS:
                out[k] += getattr(c, k)
        return out

    def totals(self, dtype_bytes: int = 2) -> dict[str, int]:
        """Exact sums over all steps: FLOPs, weight bytes, KV bytes read/written, tokens."""
        first = self._step_totals(0, dtype_bytes)
        out = dict(first)
        if self.steps > 1:
            second = self._step_totals(1, dtype_bytes)
            last = self._step_totals(self.steps - 1, dtype_bytes)
            n = self.steps
            for k in COST_KEYS:
                slope = second[k] - first[k]
                if first[k] + (n - 1) * slope != last[k]:
                    raise AssertionError(f"{k} of {self.name} is not affine in context; closed form invalid")
                out[k] = n * first[k] + slope * n * (n - 1) // 2
        out["tokens"] = self.tokens
        return out


@dataclass(frozen=True)
class ResidentCopy:
    """One copy of a model's weights resident for the whole workload, and the KV cache it needs: for the
    most sequences (`sequences`) and the longest context (`context`) any of its phases holds."""

    model: ModelConfig
    copy: str  # Phase.weight_copy: "main" or "reference"
    sequences: int
    context: int

    @property
    def label(self) -> str:
        return self.model.name if self.copy == "main" else f"{self.model.name} ({self.copy} copy)"


@dataclass(frozen=True)
class Workload:
    """A workload spec expanded into phases, in execution order."""

    spec: object
    phases: tuple[Phase, ...]
    generated_tokens: int  # new tokens a user would count (policy outputs; verifier CoT for generative)
    problems: int = 1
    notes: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[Phase]:
        return iter(self.phases)

    @property
    def result_tokens(self) -> int:
        """Tokens per-token figures divide by (every machine the same): the generated tokens; for pure
        PRM scoring (none generated) the scored solution tokens, solutions x steps x step_tokens
        (question and separator tokens excluded); failing both, the forward tokens of all phases."""
        if self.generated_tokens:
            return int(self.generated_tokens)
        spec = self.spec
        sols = getattr(spec, "solutions", None) or getattr(spec, "n", None)
        if sols and getattr(spec, "steps", None) and getattr(spec, "step_tokens", None):
            return int(sols * spec.steps * spec.step_tokens)
        return int(sum(p.tokens for p in self.phases))

    def resident_copies(self) -> tuple[ResidentCopy, ...]:
        """Every distinct weight copy the workload holds at once (one per model and `Phase.weight_copy`,
        in order of first use), each with its most sequences and longest context. Capacity checks on every
        machine (PIM, baselines, placement) count each copy's weights and its resident KV cache
        (`pimsim.workloads.residency.resident_kv`), so an implicit PRM's reference model is not missed."""
        seen: dict[tuple[ModelConfig, str], ResidentCopy] = {}
        for ph in self.phases:
            key = (ph.model, ph.weight_copy)
            prev = seen.get(key)
            seqs = max(ph.batch, prev.sequences if prev else 0)
            ctx = max(ph.end_context, prev.context if prev else 0)
            seen[key] = ResidentCopy(ph.model, ph.weight_copy, seqs, ctx)
        return tuple(seen.values())

    def totals(self, dtype_bytes: int = 2) -> dict[str, int]:
        out = dict.fromkeys(COST_KEYS + ("tokens",), 0)
        for p in self.phases:
            for k, v in p.totals(dtype_bytes).items():
                out[k] += v
        return out


Resolver = Callable[[str], ModelConfig]


def shared(batch: int, *levels: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """`Phase.shared_kv` from (groups, tokens) levels, dropping empty ones and ones held by every sequence
    alone (groups >= batch: nothing shared), merging neighbours held by the same groups."""
    out: list[tuple[int, int]] = []
    for g, n in levels:
        if n > 0 and g < batch:
            out[-1:] = [(g, out[-1][1] + n)] if out and out[-1][0] == g else out[-1:] + [(g, n)]
    return tuple(out)


def shrinking_decode(name: str, role: str, model: ModelConfig, past: int, steps_per_sequence: list[int],
                     levels: tuple[tuple[int, int], ...] = ()) -> list[Phase]:
    """Decode runs of sequences that start together at context `past` and decode `steps_per_sequence[i]`
    steps each, the batch shrinking as sequences finish. With the distinct positive step counts
    v_1 < ... < v_m (v_0 = 0), run k is batch #{i : d_i >= v_k} for v_k - v_{k-1} steps from context
    past + v_{k-1} (named `name`, or `name.batch{b}` when there are several): exactly sum_i d_i decode
    tokens, each sequence's steps at its own contexts past .. past + d_i - 1. `levels`: the shared prefix
    of every run (`shared`, re-applied at each run's batch)."""
    values = sorted({d for d in steps_per_sequence if d > 0})
    out, prev = [], 0
    for v in values:
        b = sum(1 for d in steps_per_sequence if d >= v)
        out.append(Phase(name if len(values) == 1 else f"{name}.batch{b}", role, "decode", model, b, 1, past + prev,
                         steps=v - prev, shared_kv=shared(b, *levels)))
        prev = v
    return out


def _prm_ragged(model: ModelConfig, step_tokens: list[int], q: int, steps: int, scoring: str,
                verify_tokens: int | None, kind: str, **kw) -> list[Phase]:
    """`_prm_phases` for solutions whose step lengths differ: solution i has `steps` steps of
    `step_tokens[i]` tokens. One length: `_prm_phases` itself. Several: the question prefill once (with
    reuse), then per distinct length t (ascending) the scoring phases of its solutions, named `NAME.t{t}`,
    one `Phase.kv_group` per scoring phase (the batch's parts held at once). A prefill's FLOPs and KV bytes
    are those of one ragged batch; its weights are read once per length (an upper bound on weight traffic).
    Generative scoring is refused: its chains would decode from prompts of different lengths in one batch,
    which one run of uniform steps cannot state."""
    counts: dict[int, int] = {}
    for t in step_tokens:
        counts[t] = counts.get(t, 0) + 1
    if len(counts) == 1:
        return _prm_phases(model, len(step_tokens), q, steps, step_tokens[0], scoring, verify_tokens, kind, **kw)
    if scoring == "generative":
        raise ConfigError(f"workload {kind}: step_tokens (--step-tokens): a distribution with scoring generative is "
                          "not modelled (verification chains of different prompt lengths in one batch); use a "
                          "fixed step_tokens or another scoring")
    question, out = [], []
    for i, (t, n) in enumerate(sorted(counts.items())):
        for ph in _prm_phases(model, n, q, steps, t, scoring, verify_tokens, kind, **kw):
            if ph.name.endswith("prefill.question"):  # the same for every length: kept once
                if i == 0:
                    question.append(ph)
                continue
            # with reuse and one question, every length's solutions follow the one cached question (after C)
            prefix = ph.past_context if kw.get("reuse") and kw.get("questions", 1) == 1 else 0
            out.append(replace(ph, name=f"{ph.name}.t{t}", kv_group=ph.name, kv_group_prefix=prefix))
    return question + out


def _prm_phases(model: ModelConfig, solutions: int, q: int, steps: int, t: int, scoring: str,
                verify_tokens: int | None, kind: str, prefix: str = "prm", *, critique_tokens: int | None = None,
                verify_chains: int | None = None, reference: ModelConfig | None = None, reuse: bool = False,
                questions: int = 1) -> list[Phase]:
    """PRM scoring of `solutions` whole solutions (models.md, "How PRMs score") in a `kind` workload.

    Solutions come in `questions` equal groups sharing a question. Without `reuse` each solution is scored
    from scratch (its question prefilled again). With `reuse` the question (after the critique prompt, for
    generative scoring) is prefilled once per group, its last position not read out (head 0), and every
    solution's tokens follow from its KV cache. Per scoring, per solution of S steps x T tokens:
    - single-pass: one prefill of Q + S(T+1) (a separator after each step), head at the S separators;
    - per-step-prefix: S prefills of Q + s(T+1), s = 1..S, head at the last one (no reuse possible);
    - implicit: one prefill of the plain Q + ST by the PRM and one by `reference` (default the PRM's own
      config: a second weight copy), head at the ST answer positions (their log-likelihoods);
    - generative: a prefill of C + Q + ST (C critique-prompt tokens), then `verify_chains` K chains decode
      from it, V - 1 steps each (the first token comes from the prefill): K x V verification tokens.
    """
    check_scoring_head(scoring, model, kind)
    length = q + steps * (t + 1)
    if scoring == "single-pass":
        if reuse:
            return [Phase(f"{prefix}.prefill.question", "prm", "prefill", model, questions, q, 0, head_positions=0),
                    Phase(f"{prefix}.score", "prm", "prefill", model, solutions, steps * (t + 1), q,
                          head_positions=steps, shared_kv=shared(solutions, (questions, q)))]
        return [Phase(f"{prefix}.score", "prm", "prefill", model, solutions, length, 0, head_positions=steps)]
    if scoring == "per-step-prefix":
        return [
            Phase(f"{prefix}.score.step{s}", "prm", "prefill", model, solutions, q + s * (t + 1), 0, head_positions=1)
            for s in range(1, steps + 1)
        ]
    if scoring == "implicit":
        ref = reference or model
        answer = steps * t
        plain = q + answer
        if reuse:
            lv = shared(solutions, (questions, q))
            return [
                Phase(f"{prefix}.prefill.question", "prm", "prefill", model, questions, q, 0, head_positions=0),
                Phase(f"{prefix}.reference.prefill.question", "reference", "prefill", ref, questions, q, 0,
                      head_positions=0),
                Phase(f"{prefix}.score", "prm", "prefill", model, solutions, answer, q, head_positions=answer,
                      shared_kv=lv),
                Phase(f"{prefix}.reference", "reference", "prefill", ref, solutions, answer, q,
                      head_positions=answer, shared_kv=lv),
            ]
        return [
            Phase(f"{prefix}.score", "prm", "prefill", model, solutions, plain, 0, head_positions=answer),
            Phase(f"{prefix}.reference", "reference", "prefill", ref, solutions, plain, 0, head_positions=answer),
        ]
    if scoring == "generative":
        c, k = critique_tokens or 0, verify_chains or 1
        prompt = c + q + steps * t
        chains = solutions * k
        if reuse:
            phases = [Phase(f"{prefix}.verify.prefill.question", "verifier", "prefill", model, questions, c + q, 0,
                            head_positions=0),
                      Phase(f"{prefix}.verify.prefill", "verifier", "prefill", model, solutions, steps * t, c + q,
                            shared_kv=shared(solutions, (questions, c + q)))]
            lv = shared(chains, (questions, c + q), (solutions, steps * t))
        else:
            phases = [Phase(f"{prefix}.verify.prefill", "verifier", "prefill", model, solutions, prompt, 0)]
            lv = shared(chains, (solutions, prompt))
        if verify_tokens > 1:
            phases.append(Phase(f"{prefix}.verify.decode", "verifier", "decode", model, chains, 1, prompt,
                                steps=verify_tokens - 1, shared_kv=lv))
        return phases
    raise ConfigError(f"unknown scoring {scoring!r}")


def streaming_best_of_n(spec, policy: ModelConfig, prm: ModelConfig, resolve: Resolver) -> Workload:
    """Best-of-N with streaming PRM scoring (spec.streaming): the PRM scores each step as the policy emits
    it, from each solution's cached prefix, instead of after the whole solution.

    Phases (Q question tokens, S steps of T tokens, N samples; b_k samples at step k: N, or N - floor(f N)
    after `prune_after_steps` s_p with `prune_fraction` f: the lowest-scoring samples stop):
    - policy.prefill: the question once (batch 1); its last position emits every sample's first token;
    - policy.decode.step{k}: b_k samples decode step k from the shared question: T - 1 passes for k = 1
      (from context Q), T for k > 1 (from Q + (k-1)T - 1);
    - with prefix_reuse, the PRM (and for implicit the reference model) prefills the question once, head 0;
    - prm.score.step{k} (and prm.reference.step{k}): b_k solutions prefill step k's tokens against their
      cached prefix: single-pass T + 1 tokens (the step and its separator) at Q + (k-1)(T+1), head 1;
      implicit T tokens at Q + (k-1)T, head T (their log-likelihoods). Without prefix_reuse step 1 also
      prefills each solution's own question (Q + T + 1, resp. Q + T, at context 0).
    Overlap (`Phase.overlap`, placement engine): policy.decode.step{k+1} and the scoring of step k share the
    tag `stream.{k+1}` (and step 1 with the question prefills `stream.1`): the PRM scores step k while the
    policy emits step k+1, on distinct devices at once. At the prune boundary the policy waits for step
    s_p's scores (`stream.{s_p+1}.scores` then `stream.{s_p+1}`: no overlap there).
    Totals: policy Q + N(s_p T - 1) + b (S - s_p) T forward tokens (s_p = S, b = N without pruning);
    PRM (single-pass, reuse) Q + (N s_p + b (S - s_p))(T + 1); generated N s_p T + b (S - s_p) T. Without
    pruning every total equals the non-streaming best-of-N's with prefix_reuse (the same tokens at the same
    contexts, in other runs). KV sharing: the question is held once by the policy's samples, and by the
    PRM's with reuse."""
    check_scoring_head(spec.scoring, prm, spec.kind)
    q, big_s, t, n = spec.question_tokens, spec.steps, spec.step_tokens, spec.n
    after = spec.prune_after_steps or big_s
    kept = n - (int(spec.prune_fraction * n) if spec.prune_fraction else 0)
    implicit = spec.scoring == "implicit"
    ref = (reference_model(spec, prm, resolve) or prm) if implicit else None
    seg = t if implicit else t + 1  # PRM tokens per step
    head = t if implicit else 1
    reuse = spec.prefix_reuse

    def batch(k: int) -> int:
        return n if k <= after else kept

    def policy_step(k: int, tag: str) -> list[Phase]:
        if k == 1:
            return [] if t == 1 else [Phase("policy.decode.step1", "policy", "decode", policy, n, 1, q, steps=t - 1,
                                            shared_kv=shared(n, (1, q)), overlap=tag)]
        return [Phase(f"policy.decode.step{k}", "policy", "decode", policy, batch(k), 1, q + (k - 1) * t - 1,
                      steps=t, shared_kv=shared(batch(k), (1, q)), overlap=tag)]

    def score_step(k: int, tag: str) -> list[Phase]:
        b = batch(k)
        if reuse or k > 1:
            shape = dict(new_tokens=seg, past_context=q + (k - 1) * seg, head_positions=head,
                         shared_kv=shared(b, (1, q)) if reuse else ())
        else:
            shape = dict(new_tokens=q + seg, past_context=0, head_positions=head)
        out = [Phase(f"prm.score.step{k}", "prm", "prefill", prm, b, overlap=tag, **shape)]
        if implicit:
            out.append(Phase(f"prm.reference.step{k}", "reference", "prefill", ref, b, overlap=tag, **shape))
        return out

    tag = "stream.1"
    phases = [Phase("policy.prefill", "policy", "prefill", policy, 1, q, 0)] + policy_step(1, tag)
    if reuse:
        phases.append(Phase("prm.prefill.question", "prm", "prefill", prm, 1, q, 0, head_positions=0, overlap=tag))
        if implicit:
            phases.append(Phase("prm.reference.prefill.question", "reference", "prefill", ref, 1, q, 0,
                                head_positions=0, overlap=tag))
    for k in range(2, big_s + 2):
        tag = f"stream.{k}"
        if k - 1 == after and k <= big_s:  # prune: the policy goes on only once step k-1 is scored
            phases += score_step(k - 1, f"{tag}.scores")
        else:
            phases += score_step(k - 1, tag)
        if k <= big_s:
            phases += policy_step(k, tag)
    generated = n * after * t + kept * (big_s - after) * t
    return Workload(spec, tuple(phases), generated_tokens=generated)


def reference_model(spec, prm: ModelConfig, resolve: Resolver) -> ModelConfig | None:
    """The implicit PRM's reference model: `spec.reference` (a zoo name), else None (the PRM's own config).
    It reads log-likelihoods of the PRM's tokens, so it needs a full LM head and the PRM's vocabulary."""
    name = getattr(spec, "reference", None)
    if not name:
        return None
    try:
        ref = resolve(name)
    except PimsimError as exc:
        raise ConfigError(f"workload {spec.kind}: reference (--reference) {name}: {exc}") from None
    if ref.head != "lm":
        raise ConfigError(f"workload {spec.kind}: reference (--reference) {ref.name} has a {ref.head} head; the "
                          "implicit PRM's reference model needs a full LM head (its log-likelihoods)")
    if ref.vocab != prm.vocab:
        raise ConfigError(f"workload {spec.kind}: reference (--reference) {ref.name} has a vocabulary of "
                          f"{ref.vocab} tokens but prm {prm.name} has {prm.vocab}; the log-likelihood ratio needs "
                          "one tokenizer")
    return ref


def scoring_kwargs(spec, prm: ModelConfig, resolve: Resolver) -> dict:
    """Keyword arguments of `_prm_phases` / `search.Scorer` taken from a scored spec."""
    return dict(critique_tokens=spec.critique_tokens, verify_chains=spec.verify_chains,
                reference=reference_model(spec, prm, resolve))


def expand(spec, model: ModelConfig | None = None, resolve: Resolver = lambda n: load_model(n)) -> Workload:
    """Expand a validated spec into phases. `model` serves kinds with one model (generate, prm-score)."""

    def one_model() -> ModelConfig:
        if model is not None:
            return model
        if getattr(spec, "model", None):
            return resolve(spec.model)
        raise ConfigError(f"workload {spec.kind}: no model given (use --model NAME or --model-config FILE)")

    if isinstance(spec, GenerateSpec):
        m = one_model()
        lengths = draws(spec.generate, spec.batch)  # one per sequence, in batch order
        phases = [Phase("prefill", "policy", "prefill", m, spec.batch, spec.prompt, 0)]
        phases += shrinking_decode("decode", "policy", m, spec.prompt, [g - 1 for g in lengths])
        return Workload(spec, tuple(phases), generated_tokens=sum(lengths))

    if isinstance(spec, PrmScoreSpec):
        m = one_model()
        phases = _prm_phases(m, spec.solutions, spec.question_tokens, spec.steps, spec.step_tokens,
                             spec.scoring, spec.verify_tokens, spec.kind, **scoring_kwargs(spec, m, resolve))
        gen = spec.solutions * spec.verify_chains * spec.verify_tokens if spec.scoring == "generative" else 0
        return Workload(spec, tuple(phases), generated_tokens=gen)

    if isinstance(spec, BestOfNSpec):
        policy, prm = resolve(spec.policy), resolve(spec.prm)
        if spec.streaming:
            return streaming_best_of_n(spec, policy, prm, resolve)
        ts = draws(spec.step_tokens, spec.n)  # sample i's step length, in sample order
        q = spec.question_tokens
        phases = [Phase("policy.prefill", "policy", "prefill", policy, 1, q, 0)]
        phases += shrinking_decode("policy.decode", "policy", policy, q, [spec.steps * t - 1 for t in ts], ((1, q),))
        phases += _prm_ragged(prm, ts, q, spec.steps, spec.scoring, spec.verify_tokens, spec.kind,
                              reuse=spec.prefix_reuse, **scoring_kwargs(spec, prm, resolve))
        return Workload(spec, tuple(phases), generated_tokens=spec.steps * sum(ts))

    if isinstance(spec, BeamSearchSpec):
        from pimsim.workloads.search import tree_search
        return tree_search(spec, resolve(spec.policy), resolve(spec.prm), spec.beam_width, spec.expansions, 0,
                           resolve)

    if isinstance(spec, McAnnotateSpec):
        # Math-Shepherd: per boundary s the prefix (question + s steps) is prefilled once, its last position's
        # logits give every rollout's first token (as generate's prefill does), and the rollouts share the
        # prefix's KV while each decodes its remaining (S - s) x T - 1 tokens
        # (a step_tokens distribution: draw 0 is the annotated solution's step length, then K draws per boundary
        # s = 1..S-1 in order, rollout j of boundary s decoding (S - s) x its own step length)
        policy = resolve(spec.policy)
        q, big_s, k = spec.question_tokens, spec.steps, spec.rollouts
        ts = draws(spec.step_tokens, 1 + (big_s - 1) * k)
        t, phases, generated = ts[0], [], 0
        for s in range(1, big_s):
            prefix = q + s * t
            rests = [(big_s - s) * tr for tr in ts[1 + (s - 1) * k: 1 + s * k]]
            phases.append(Phase(f"policy.prefill.boundary{s}", "policy", "prefill", policy, 1, prefix, 0))
            phases += shrinking_decode(f"policy.rollout.boundary{s}", "policy", policy, prefix,
                                       [r - 1 for r in rests], ((1, prefix),))
            generated += sum(rests)
        return Workload(spec, tuple(phases), generated_tokens=generated)

    from pimsim.workloads import search
    if spec.kind in search.EXPANDERS:
        return search.EXPANDERS[spec.kind](spec, model, resolve)
    raise ConfigError(f"unknown workload spec {type(spec).__name__}")
