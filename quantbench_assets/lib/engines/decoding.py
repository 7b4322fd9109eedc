"""Asking llama.cpp for logit rows: a decode that computes output rows only where they are read, and
the shortest decode whose numbers equal a longer one's (docs/PLATFORM_NOTES.md, "A loglikelihood
depends on the decode that computed it")."""
from __future__ import annotations

from typing import Sequence

import numpy as np

# Fewest tokens a scoring decode runs (LlamaCppEngine.loglikelihood): decodes of 1 token (and of up
# to 6 on some quant types) take other CPU matmul paths, whose numbers differ; 16 leaves a margin.
MIN_BATCH = 16


def decode_rows(llm, tokens: Sequence[int], n_past: int, lo: int, hi: int, min_last: int = 1):
    """Decode `tokens` at positions n_past.. of sequence 0 in chunks of n_batch, asking llama.cpp for
    the logit rows of tokens lo <= i < hi only (not a vocabulary-wide row at every position, as
    Llama.eval with logits_all computes). Yields each chunk's rows in order: a view of llama.cpp's
    output buffer, valid until the next decode. The last chunk holds at least `min_last` tokens."""
    bounds = list(range(0, len(tokens), llm.n_batch))
    if len(bounds) > 1 and len(tokens) - bounds[-1] < min_last:
        bounds[-1] = len(tokens) - min_last
    n_vocab = llm.n_vocab()
    for at, end in zip(bounds, bounds[1:] + [len(tokens)]):
        chunk = list(tokens[at:end])
        llm._batch.set_batch(chunk, n_past=n_past + at, logits_all=False)
        wanted = [lo <= at + j < hi for j in range(len(chunk))]
        for j, w in enumerate(wanted):
            llm._batch.batch.logits[j] = w
        llm._ctx.decode(llm._batch)
        if any(wanted):
            yield np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(sum(wanted), n_vocab))
