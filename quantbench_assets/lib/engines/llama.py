"""`LlamaCppEngine`: the inference seam (base.Engine) on llama-cpp-python, in process.

Why not llama-cpp-python's echo logprobs: in 0.3.36 they read each prompt token's logprob one
position late (docs/PLATFORM_NOTES.md; quantbench_tests/test_engine.py checks our alignment against a hand
computation). Here a token's logprob is row_log_softmax(logits at position i-1)[token i].
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np

# Engine, EngineSettings and row_log_softmax are also imported from here by callers of the engine
from .base import Engine, EngineSettings, Generation, LoglikelihoodResult, row_log_softmax  # noqa: F401
from .decoding import MIN_BATCH, decode_rows


@contextmanager
def model_params(use_extra_bufts: bool):
    """Llama() exposes no switch for use_extra_bufts: set it on the defaults it starts from."""
    import llama_cpp.llama_cpp as C

    original = C.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = use_extra_bufts
        return p

    C.llama_model_default_params = params
    try:
        yield
    finally:
        C.llama_model_default_params = original


def engine_build_string() -> str:
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    flags = sorted({p.split("=")[0].strip() for p in info.split("|") if p.strip().endswith("= 1")})
    gpu = "cuda" if llama_cpp.llama_supports_gpu_offload() else "cpu"
    return f"llama-cpp-python {llama_cpp.__version__} ({gpu}; {','.join(flags)})"


class LlamaCppEngine(Engine):
    name = "llama_cpp"

    def __init__(self, model_path: Path | str, settings: EngineSettings = EngineSettings()):
        from llama_cpp import Llama

        self.model_path = Path(model_path)
        self.settings = settings
        t0 = time.perf_counter()
        try:
            with model_params(use_extra_bufts=settings.extra_buffers):
                self.llm = Llama(
                    model_path=str(self.model_path), n_ctx=settings.n_ctx, n_batch=settings.n_batch,
                    n_threads=settings.threads(), n_threads_batch=settings.threads(), seed=settings.seed,
                    use_mmap=settings.use_mmap, n_gpu_layers=settings.n_gpu_layers, main_gpu=settings.main_gpu,
                    logits_all=settings.logits_all, verbose=False,
                )
        except (ValueError, RuntimeError) as e:
            # llama.cpp gives its reason only in its C log ("Failed to load model from file"); the
            # header check says what is wrong with the file (truncated, not GGUF, unknown architecture).
            from ..gguf.info import GGUFError, read_gguf

            try:
                read_gguf(self.model_path)
                reason = ""
            except GGUFError as bad:
                reason = f" ({bad})"
            raise RuntimeError(f"llama.cpp could not load {self.model_path}: {e}{reason}") from e
        self.load_ms = (time.perf_counter() - t0) * 1000
        self._build = engine_build_string()
        self._vocab = self.llm.n_vocab()
        self._evaluated = 0
        self._last_row = None  # (context tokens, log-softmax of the row after them, its argmax)

    @property
    def build(self) -> str:
        return self._build

    @property
    def last_evaluated_tokens(self) -> int:
        """Tokens the last prompt evaluation or loglikelihood call (all its requests) ran through the
        model; the rest came from the context's cache (prefix reuse)."""
        return self._evaluated

    # --- tokens -----------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.llm.detokenize(list(tokens)).decode("utf-8", errors="replace")

    def metadata(self) -> dict:
        return dict(self.llm.metadata)

    def chat_prompt(self, messages: list[dict]) -> str:
        from ..engines.chat import render_chat

        template = self.llm.metadata.get("tokenizer.chat_template")
        bos = self.detokenize([self.llm.token_bos()]) if self.llm.token_bos() >= 0 else ""
        eos = self.detokenize([self.llm.token_eos()]) if self.llm.token_eos() >= 0 else ""
        return render_chat(template, messages, bos_token=bos, eos_token=eos)

    # --- generation ---------------------------------------------------------------------------
    def _perf(self):
        import llama_cpp

        llama_cpp.llama_synchronize(self.llm._ctx.ctx)  # counters fill only after a sync (docs/PLATFORM_NOTES.md)
        return llama_cpp.llama_perf_context(self.llm._ctx.ctx)

    def generate(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (), temperature: float = 0.0,
                 seed: int | None = None, grammar: str | None = None) -> Generation:
        import llama_cpp
        from llama_cpp import LlamaGrammar

        gram = LlamaGrammar.from_string(grammar, verbose=False) if grammar else None
        prompt_tokens = self.tokenize(prompt)
        if len(prompt_tokens) + max_tokens > self.settings.n_ctx:
            max_tokens = max(1, self.settings.n_ctx - len(prompt_tokens))
        if max_tokens < 1 or len(prompt_tokens) >= self.settings.n_ctx:
            raise ValueError(f"prompt of {len(prompt_tokens)} tokens does not fit n_ctx={self.settings.n_ctx}")
        t0 = time.perf_counter()
        # Evaluate the prompt ourselves (reusing any cached prefix) and synchronize, so the prompt time
        # is measured; create_completion then finds the prompt cached and starts sampling at once.
        self._eval_reusing_prefix(prompt_tokens)
        llama_cpp.llama_synchronize(self.llm._ctx.ctx)
        prompt_ms = (time.perf_counter() - t0) * 1000
        evaluated = self._evaluated
        llama_cpp.llama_perf_context_reset(self.llm._ctx.ctx)
        ttft = None
        pieces: list[str] = []
        finish = "length"
        stream = self.llm.create_completion(
            prompt_tokens, max_tokens=max_tokens, stop=list(stop) or None, temperature=temperature,
            top_k=1 if temperature == 0 else 40, seed=self.settings.seed if seed is None else seed,
            grammar=gram, stream=True,
        )
        # Count the tokens the sampler produced. Neither stream chunks (one per token, plus a final
        # empty one, merged around multi-byte characters) nor perf.n_eval (reported as max(1, n), and
        # one short only when the last token is not end-of-generation) give the count: both were seen
        # off by one, e.g. 2 tokens for an empty output (quantbench_tests/test_reliability.py).
        sampled: list[int] = []
        real_generate = self.llm.generate

        def recording_generate(*args, **kwargs):
            for token in real_generate(*args, **kwargs):
                sampled.append(token)
                yield token

        self.llm.generate = recording_generate  # create_completion looks it up on the instance
        try:
            for chunk in stream:
                if ttft is None:
                    ttft = (time.perf_counter() - t0) * 1000
                choice = chunk["choices"][0]
                pieces.append(choice.get("text") or "")
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        finally:
            del self.llm.generate
        wall = (time.perf_counter() - t0) * 1000
        perf = self._perf()
        ended_by_eog = bool(sampled) and llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, sampled[-1])
        return Generation(
            text="".join(pieces), finish_reason=finish, prompt_tokens=len(prompt_tokens),
            completion_tokens=len(sampled) - int(ended_by_eog),  # the end-of-generation token is not output
            wall_ms=wall, ttft_ms=ttft, prompt_eval_ms=prompt_ms, eval_ms=float(perf.t_eval_ms),
            prompt_tokens_evaluated=evaluated,
        )

    # --- scoring ------------------------------------------------------------------------------
    def _eval_reusing_prefix(self, tokens: list[int]) -> None:
        """Evaluate `tokens`, keeping whatever leading part the context already holds. At least the
        last MIN_BATCH tokens are evaluated again even when cached: the context's current logits then
        belong to the last token (sampling starts from them) and come from a decode as long as a cold
        one's, so a greedy output does not depend on what the cache held (docs/PLATFORM_NOTES.md)."""
        llm = self.llm
        held = llm.n_tokens
        common = 0
        if held:
            prev = llm.input_ids[:held]
            limit = min(held, len(tokens))
            while common < limit and prev[common] == tokens[common]:
                common += 1
        common = min(common, len(tokens) - 1, max(0, len(tokens) - MIN_BATCH))
        self._evaluated = len(tokens) - common
        llm.n_tokens = common
        llm.eval(tokens[common:])

    def _row(self, i: int) -> np.ndarray:
        """Logits after position i (i.e. the distribution of token i+1)."""
        if self.settings.logits_all:
            return self.llm.scores[i]
        if i != self.llm.n_tokens - 1:
            raise RuntimeError("only the last position's logits are kept without logits_all")
        return np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self._vocab,))

    def _fit(self, ctx: list[int], cont: list[int]) -> list[int]:
        """Left-truncate so context + continuation fit the window (lm-eval's convention)."""
        full = ctx + cont
        over = len(full) - self.settings.n_ctx
        return full[over:] if over > 0 else full

    def request_overflow(self, context: str, continuation: str) -> int:
        """How many tokens a loglikelihood request's context loses from its start to fit n_ctx (lm-eval's
        convention; its hf backend cuts at the model's own context length, so a cut request is scored on
        a different prompt there). 0 when it fits."""
        ctx, cont = self._request_tokens(context, continuation, fit=False)
        return max(0, len(ctx) + len(cont) - self.settings.n_ctx)

    def _request_tokens(self, context: str, continuation: str, fit: bool = True) -> tuple[list[int], list[int]]:
        """(conditioning tokens, continuation tokens) of one request, fitted to the window."""
        # lm-eval moves trailing spaces of the context onto the continuation
        n_spaces = len(context) - len(context.rstrip(" "))
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        ctx = self.tokenize(context, add_bos=True)
        whole = self.tokenize(context + continuation, add_bos=True)
        if not ctx:
            # An empty context (models that add no BOS) would leave nothing to condition on:
            # condition on BOS, else EOS, as lm-eval's prefix_token_id does.
            prefix = self.llm.token_bos() if self.llm.token_bos() >= 0 else self.llm.token_eos()
            ctx, whole = [prefix], [prefix] + whole
        cont = whole[len(ctx):] if whole[: len(ctx)] == ctx else self.tokenize(continuation, add_bos=False)
        if not cont:
            raise ValueError(f"empty continuation for context ending {context[-40:]!r}")
        if not fit:
            return ctx, cont
        full = self._fit(ctx, cont)
        if len(full) <= len(cont):
            raise ValueError(f"a continuation of {len(cont)} tokens leaves no context in n_ctx={self.settings.n_ctx}")
        return full[: len(full) - len(cont)], cont

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        """log p(continuation | context) per request. A context shared with the previous request (a
        multiple-choice item's choices) stays in the KV cache, and llama.cpp computes an output row
        only where a continuation token is predicted (logits_all would compute a vocabulary-wide row
        at every position: ~21% of SmolLM2's work per token).

        Each request is evaluated on the same KV cells as a cold evaluation, in decodes of at least
        MIN_BATCH tokens (where it has that many): llama.cpp's CPU kernels change for short decodes,
        and on these models a 1-token decode moved a loglikelihood by 0.1-0.3 nats. So a request's number
        does not depend on which requests came before it or were scored with it."""
        out, evaluated = [], 0
        for context, continuation in requests:
            out.append(self._score(*self._request_tokens(context, continuation)))
            evaluated += self._evaluated
        self._evaluated = evaluated  # the call's total
        return out

    def _score(self, prefix: list[int], cont: list[int]) -> LoglikelihoodResult:
        llm = self.llm
        if len(cont) == 1 and self._last_row is not None and self._last_row[0] == prefix:
            # a one-token choice after a sibling (MMLU's letters): the row that predicts it is at hand
            _, lp, top = self._last_row
            self._evaluated = 0
            return LoglikelihoodResult(float(lp[cont[0]]), top == cont[0], 1, [float(lp[cont[0]])])
        held, common = llm.n_tokens, 0
        while common < min(held, len(prefix)) and llm.input_ids[common] == prefix[common]:
            common += 1
        # the context's last row is not kept: evaluate it again, with enough context for a full batch
        start = max(0, min(common, len(prefix) - 1, len(prefix) + len(cont) - 1 - MIN_BATCH))
        tokens = prefix[start:] + cont[:-1]  # a continuation's last token predicts nothing: not decoded
        first_row = len(prefix) - 1 - start  # the row predicting the continuation's first token
        llm._ctx.kv_cache_seq_rm(-1, start, -1)
        lps: list[float] = []
        greedy = True
        for rows in decode_rows(llm, tokens, start, first_row, len(tokens), min_last=MIN_BATCH):
            for row in rows:
                tok, lp, top = cont[len(lps)], row_log_softmax(row), int(np.argmax(row))
                if not lps:
                    self._last_row = (prefix, lp, top)
                lps.append(float(lp[tok]))
                greedy = greedy and top == tok
        llm.input_ids[start: start + len(tokens)] = tokens
        llm.n_tokens = start + len(tokens)
        self._evaluated = len(tokens)
        return LoglikelihoodResult(sum(lps), greedy, len(cont), lps)

    def next_token_logprobs(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        """One forward pass over the prompt; log p(first token of each candidate)."""
        tokens = self.tokenize(prompt)
        self._eval_reusing_prefix(tokens[-self.settings.n_ctx:])
        lp = row_log_softmax(self._row(self.llm.n_tokens - 1))
        ids = [self.tokenize(c, add_bos=False)[0] for c in candidates]
        return [float(lp[i]) for i in ids]

    def token_logprobs(self, tokens: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate `tokens` from scratch; return (logprob of each token 1..n-1, full logit rows)."""
        if not self.settings.logits_all:
            raise RuntimeError("token_logprobs needs logits_all=True")
        self.llm.reset()
        self.llm.eval(tokens)
        rows = self.llm.scores[: len(tokens) - 1]
        return rows, np.asarray(tokens[1:])

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
