"""Search and annotation workloads of the PRM papers as phases: beam search, lookahead search, DVTS,
OmegaPRM annotation and the rollout half of a PRIME / PURE RL step (issue 14).

Conventions (those of pimsim.workloads.phases): a question of Q tokens, steps of T tokens; a search step's
decode is T forward passes per candidate from its kept prefix (the first token fed is the last one the
previous pass emitted); the PRM input puts one separator after each step (single-pass, per-step-prefix),
the implicit PRM and a generative verifier read plain text (a verifier after C critique-prompt tokens).

Tree search (`tree_search`: beam-search, lookahead, dvts). W kept nodes, each expanded E ways: C = W x E
candidates per step, for S steps; at step s every candidate decodes T tokens from the context Q + (s-1)T,
then rolls out a' = min(k, S - s) further steps (lookahead k, greedy; Snell et al. 2024, section 5.2: the
PRM's score at the rollout's end scores the candidate; the rollout is then dropped). The PRM scores, per
candidate and step (prefix_reuse keeps the kept prefix's PRM KV cache, else every prefix is re-read):
- single-pass: reuse: (1 + a')(T+1) new tokens at context Q + (s-1)(T+1), head at the last separator;
                no reuse: Q + (s + a')(T+1) tokens, head at all s + a' separators (open search code's
                use_cache=False re-scoring, models.md);
- per-step-prefix: Q + (s + a')(T+1) tokens, head at the last separator (no reuse by definition);
- implicit: PRM and reference model each: reuse: (1 + a')T new tokens at context Q + (s-1)T, head at
            those positions; no reuse: Q + (s + a')T tokens, head at all (s + a')T answer positions;
- generative: a prefill of the prompt P = C + Q + (s + a')T (reuse: only its (1 + a')T new tokens, at
              C + Q + (s-1)T), then K chains per candidate decode V - 1 tokens from it.
With reuse the question (after C for generative) is prefilled once first, by each scoring model.
Policy tokens generated: C x T x sum_s (1 + a'_s); lookahead 0 gives C x S x T (beam search).

KV sharing: the question is held once by all candidates and each kept node's steps once by its E
expansions (an upper bound: kept nodes are taken to share nothing past the question, as DVTS's subtrees
never do; beam search's kept beams may share more).
"""

from __future__ import annotations

from dataclasses import dataclass

from pimsim.errors import ConfigError
from pimsim.models import ModelConfig
from pimsim.workloads.phases import (Phase, Resolver, Workload, _prm_ragged, check_scoring_head, scoring_kwargs,
                                     shared, shrinking_decode)
from pimsim.workloads.spec import draws


def named_models(spec, model: ModelConfig | None, resolve: Resolver, *fields: str) -> list[ModelConfig]:
    """The models of `spec.<field>` (zoo names), each defaulting to the command's `model` (--model).
    A `model` that names none of them while every field is given would be ignored: ConfigError."""
    out = []
    for field in fields:
        name = getattr(spec, field)
        if name:
            out.append(resolve(name))
        elif model is not None:
            out.append(model)
        else:
            raise ConfigError(f"workload {spec.kind}: no {field} given (use --{field} NAME, or --model NAME for "
                              f"every model of the workload)")
    if model is not None and all(getattr(spec, f) for f in fields) and model.name not in {m.name for m in out}:
        given = ", ".join(f"{f} {getattr(spec, f)}" for f in fields)
        raise ConfigError(f"workload {spec.kind}: --model {model.name} is none of its models ({given}) and would "
                          f"be ignored; drop it or name it as one of them")
    return out


@dataclass(frozen=True)
class Scorer:
    """How the PRM scores a search step's candidates (module docstring)."""

    prm: ModelConfig
    scoring: str
    reuse: bool
    verify_tokens: int | None
    critique_tokens: int | None
    verify_chains: int | None
    reference: ModelConfig | None

    def question(self, q: int) -> list[Phase]:
        """With reuse: the question prefilled once by every scoring model, no read-out (head 0)."""
        if not self.reuse:
            return []
        if self.scoring == "single-pass":
            return [Phase("prm.prefill.question", "prm", "prefill", self.prm, 1, q, 0, head_positions=0)]
        if self.scoring == "implicit":
            return [Phase("prm.prefill.question", "prm", "prefill", self.prm, 1, q, 0, head_positions=0),
                    Phase("prm.reference.prefill.question", "reference", "prefill", self.reference or self.prm,
                          1, q, 0, head_positions=0)]
        if self.scoring == "generative":
            return [Phase("prm.verify.prefill.question", "verifier", "prefill", self.prm, 1,
                          (self.critique_tokens or 0) + q, 0, head_positions=0)]
        raise ConfigError(f"scoring {self.scoring} cannot reuse a prefix")  # excluded by the spec's rules

    def step(self, s: int, ahead: int, cand: int, kept: int, q: int, t: int) -> list[Phase]:
        """Scoring of search step `s` for `cand` candidates of `kept` nodes, `ahead` rolled-out steps past it."""
        new, upto = 1 + ahead, s + ahead
        if self.scoring in ("single-pass", "per-step-prefix"):
            if self.reuse:
                past = q + (s - 1) * (t + 1)
                return [Phase(f"prm.score.step{s}", "prm", "prefill", self.prm, cand, new * (t + 1), past,
                              head_positions=1, shared_kv=shared(cand, (1, q), (kept, (s - 1) * (t + 1))))]
            heads = upto if self.scoring == "single-pass" else 1
            return [Phase(f"prm.score.step{s}", "prm", "prefill", self.prm, cand, q + upto * (t + 1), 0,
                          head_positions=heads)]
        if self.scoring == "implicit":
            ref = self.reference or self.prm
            if self.reuse:
                lv = shared(cand, (1, q), (kept, (s - 1) * t))
                shape = dict(new_tokens=new * t, past_context=q + (s - 1) * t, head_positions=new * t, shared_kv=lv)
            else:
                shape = dict(new_tokens=q + upto * t, past_context=0, head_positions=upto * t)
            return [Phase(f"prm.score.step{s}", "prm", "prefill", self.prm, cand, **shape),
                    Phase(f"prm.reference.step{s}", "reference", "prefill", ref, cand, **shape)]
        if self.scoring == "generative":
            c, k = self.critique_tokens or 0, self.verify_chains or 1
            prompt = c + q + upto * t
            if self.reuse:
                phases = [Phase(f"prm.verify.prefill.step{s}", "verifier", "prefill", self.prm, cand, new * t,
                                c + q + (s - 1) * t, shared_kv=shared(cand, (1, c + q), (kept, (s - 1) * t)))]
                lv = shared(cand * k, (1, c + q), (kept, (s - 1) * t), (cand, new * t))
            else:
                phases = [Phase(f"prm.verify.prefill.step{s}", "verifier", "prefill", self.prm, cand, prompt, 0)]
                lv = shared(cand * k, (cand, prompt))
            if self.verify_tokens > 1:
                phases.append(Phase(f"prm.verify.decode.step{s}", "verifier", "decode", self.prm, cand * k, 1,
                                    prompt, steps=self.verify_tokens - 1, shared_kv=lv))
            return phases
        raise ConfigError(f"unknown scoring {self.scoring!r}")


def scorer(spec, prm: ModelConfig, resolve: Resolver) -> Scorer:
    check_scoring_head(spec.scoring, prm, spec.kind)
    return Scorer(prm, spec.scoring, spec.prefix_reuse, spec.verify_tokens,
                  **scoring_kwargs(spec, prm, resolve))


def tree_search(spec, policy: ModelConfig, prm: ModelConfig, kept: int, expansions: int, lookahead: int,
                resolve: Resolver) -> Workload:
    """`kept` nodes x `expansions` candidates per step, `lookahead` steps rolled out before scoring
    (module docstring). Phases per step s: policy.decode.step{s}, policy.lookahead.step{s} (a' > 0), then
    the scoring phases; first policy.prefill of the question (batch 1) and, with reuse, the PRM's."""
    sc = scorer(spec, prm, resolve)
    q, t, big_s, cand = spec.question_tokens, spec.step_tokens, spec.steps, kept * expansions
    phases = [Phase("policy.prefill", "policy", "prefill", policy, 1, q, 0)] + sc.question(q)
    generated = 0
    for s in range(1, big_s + 1):
        ahead = min(lookahead, big_s - s)
        lv = shared(cand, (1, q), (kept, (s - 1) * t))
        phases.append(Phase(f"policy.decode.step{s}", "policy", "decode", policy, cand, 1, q + (s - 1) * t,
                            steps=t, shared_kv=lv))
        if ahead:
            phases.append(Phase(f"policy.lookahead.step{s}", "policy", "decode", policy, cand, 1, q + s * t,
                                steps=ahead * t, shared_kv=lv))
        phases += sc.step(s, ahead, cand, kept, q, t)
        generated += cand * (1 + ahead) * t
    return Workload(spec, tuple(phases), generated_tokens=generated)


def lookahead(spec, model: ModelConfig | None, resolve: Resolver) -> Workload:
    """Lookahead search (Snell et al. 2024, section 5.2): beam search whose candidates each roll out
    min(k, S - s) more steps before the PRM scores the rollout's end; lookahead 0 is beam search."""
    return tree_search(spec, *named_models(spec, model, resolve, "policy", "prm"), spec.beam_width,
                       spec.expansions, spec.lookahead, resolve)


def dvts(spec, model: ModelConfig | None, resolve: Resolver) -> Workload:
    """DVTS (Hugging Face, "Scaling test-time compute with open models", 2024): N / M independent subtrees,
    each keeping its best node and expanding it M = beam_width ways per step: a tree search of N / M kept
    nodes x M expansions whose kept nodes share nothing past the question."""
    return tree_search(spec, *named_models(spec, model, resolve, "policy", "prm"), spec.n // spec.beam_width,
                       spec.beam_width, 0, resolve)


def binary_search_probes(steps: int, first_error: int) -> list[int]:
    """Step boundaries OmegaPRM probes to find the first error of a solution of `steps` steps whose first
    wrong step is `first_error` (1-based): the empty prefix is known correct (the question's own rollouts)
    and the whole solution known wrong; each probe m (m steps kept) is correct iff m < first_error.
    ceil(log2 steps) probes when first_error = steps (always to the larger, right half), fewer for some others."""
    lo, hi, out = 0, steps, []
    while hi - lo > 1:
        m = (lo + hi) // 2
        out.append(m)
        lo, hi = (m, hi) if m < first_error else (lo, m)
    return out


def omega_annotate(spec, model: ModelConfig | None, resolve: Resolver) -> Workload:
    """OmegaPRM (Luo et al. 2024, "Improve mathematical reasoning in language models by automated process
    supervision"): binary search for the first error of wrong solutions with K rollouts per probe.

    MCTS reuse model used here: (1) the question is prefilled once and its K rollouts (S x T tokens each,
    one decode of S x T - 1 steps from the shared question) are the tree's first solutions, giving the
    root's Monte Carlo value; (2) `searches` of them (wrong ones) are each binary-searched
    (`binary_search_probes`), the searches batched; (3) a probe's prefix is a prefix of a rollout already in
    the tree, so its KV cache is reused: only its last token is recomputed for the logits the K new
    rollouts start from (a prefix-cache hit); (4) each probe's K rollouts decode the remaining (S - m) x T
    tokens. Not modelled: the tree's later selections (searches started from the probes' own rollouts).
    Generated tokens = K S T + searches x K T sum over probes of (S - m)."""
    (policy,) = named_models(spec, model, resolve, "policy")
    q, t, big_s, k, n = spec.question_tokens, spec.step_tokens, spec.steps, spec.rollouts, spec.searches
    e = spec.first_error or big_s
    phases = [Phase("policy.prefill.question", "policy", "prefill", policy, 1, q, 0),
              Phase("policy.rollout.question", "policy", "decode", policy, k, 1, q, steps=big_s * t - 1,
                    shared_kv=shared(k, (1, q)))]
    generated = k * big_s * t
    for i, m in enumerate(binary_search_probes(big_s, e), start=1):
        prefix, rest = q + m * t, (big_s - m) * t
        phases.append(Phase(f"policy.prefill.probe{i}", "policy", "prefill", policy, n, 1, prefix - 1,
                            shared_kv=shared(n, (1, q))))
        if rest > 1:
            phases.append(Phase(f"policy.rollout.probe{i}", "policy", "decode", policy, n * k, 1, prefix,
                                steps=rest - 1, shared_kv=shared(n * k, (1, q), (n, m * t))))
        generated += n * k * rest
    return Workload(spec, tuple(phases), generated_tokens=generated)


def rl_rollout(spec, model: ModelConfig | None, resolve: Resolver) -> Workload:
    """The rollout half of one PRIME (Cui et al. 2025, implicit PRM, reference = the SFT model) or PURE
    (Cheng et al. 2025, discriminative PRM, min-form credit) RL step: P prompts (prefilled together), G
    rollouts each decoded from its prompt's shared KV (S x T - 1 steps), then the PRM scores all P x G
    rollouts (`_prm_phases`: implicit scoring adds the reference model's prefill; prefix_reuse prefills each
    prompt once per group). Generated tokens = P x G x S x T. Out of scope (training): the trainer's own
    log-probability passes (old policy, KL reference), every backward pass and optimizer step, and the
    PRM's online update."""
    policy, prm = named_models(spec, model, resolve, "policy", "prm")
    p, g, q = spec.prompts, spec.group, spec.question_tokens
    ts = draws(spec.step_tokens, p * g)  # rollout i's step length (prompt by prompt)
    phases = [Phase("policy.prefill", "policy", "prefill", policy, p, q, 0)]
    phases += shrinking_decode("policy.decode", "policy", policy, q, [spec.steps * t - 1 for t in ts], ((p, q),))
    phases += _prm_ragged(prm, ts, q, spec.steps, spec.scoring, spec.verify_tokens, spec.kind,
                          reuse=spec.prefix_reuse, questions=p, **scoring_kwargs(spec, prm, resolve))
    return Workload(spec, tuple(phases), generated_tokens=spec.steps * sum(ts))


EXPANDERS = {"lookahead": lookahead, "dvts": dvts, "omega-annotate": omega_annotate, "rl-rollout": rl_rollout}
