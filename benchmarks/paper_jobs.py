"""Device time of the paper configs' heavy jobs: per-unit times measured through the project's code, then totals.

Each rule's work is measured on the device of ``--device`` through the code the rule runs, on inputs of the
real shapes built here (compute time does not depend on weight or pixel values):

* ``lm_features``: ``taskspace.lm.extract.extract_features`` (feature file included) on members loaded with
  ``load_member`` from folders saved here: BERT-base (12 x 768) and BERT-large (24 x 1024) with random
  weights and the real bert-base-uncased tokenizer that the MiniLM-L6 package ships. Sentences: the Lee news
  corpus (gensim's copy), those with at least the probe's ``min_words`` words. Every other member is scaled
  from the nearer of the two by forward FLOPs per word (``PUBLISHED_SHAPES``: layers and widths of the
  checkpoints' published configs; the same sub-words per word as BERT's tokenizer).
* ``vision_agent``: ``taskspace.vision.agents.train_agent`` with the config's training settings on random
  32 x 32 images; epoch times from its own epoch log lines, the first epoch dropped (warm-up). Images per
  agent come from the real split code (``make_split``) run on CIFAR-100's class sizes (500 train and 100 test
  images a class, Krizhevsky 2009). With ``keep: best_test`` every epoch also classifies the agent's
  held-out images, timed as forward passes (``vision_features``' rate).
* ``vision_features``: ``Agent.features`` of that trained agent.
* ``vision_heads``, ``vision_peek``, ``lm_probes``: ``taskspace.heads.train_heads`` on random features of the
  members' widths, once per protocol of the config (its own optimiser, batch size and images), with the heads
  a task's job trains (``taskspace.selection.head_subsets``: the selection table's MMI, random rounds and
  peek, every member alone) from a random kappa. Epoch times from its progress log: the first epoch dropped,
  the last one (the only one with an evaluation) gives the evaluation time. Unless ``--head-rounds`` says
  otherwise, a CPU run trains one random round (one random subset per k) instead of all; job times are scaled
  by member blocks (a head on k members is k blocks), to which the work of every step and evaluation is
  proportional, and by each method's epochs (the paper protocol's ``method_epochs``).

Jobs, members, datasets (tasks reading the same files share one extraction), task names and the lm_probes
memory request come from ``taskspace.plan``, as the workflow builds them.

Word counts: counted from the config's files where they exist, else ``--words NAME=N``, else the published
sizes in ``PUBLISHED_WORDS`` (labelled with their source in the output). Datasets with none of these are left
out of the totals and named. Output: markdown on stdout, JSON and per-job TSV under ``benchmarks/out/``.

    .venv/bin/python benchmarks/paper_jobs.py                  # CPU, a few minutes on 2 cores
    .venv/bin/python benchmarks/paper_jobs.py --device cuda    # on a GPU node: GPU-hours
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _machine import describe
from extraction import lee_sentences, minilm_folder

from taskspace.config import PROBE_DATASET
from taskspace.plan import Plan

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"paper-lm": REPO / "configs" / "paper-lm.yaml", "paper-vision": REPO / "configs" / "paper-vision.yaml"}

# CIFAR-100: 100 classes of 500 train and 100 test images (Krizhevsky 2009).
CIFAR100_CLASSES, CIFAR100_TRAIN_PER_CLASS, CIFAR100_TEST_PER_CLASS = 100, 500, 100
# Classes of the measured LM probe: the Penn Treebank's 45 part-of-speech tags.
PROBE_CLASSES = 45

# Measurement sizes per device: small on a CPU (minutes), large enough on a GPU to fill it.
DEFAULT_SENTENCES = {"cpu": 200, "cuda": 4000}
DEFAULT_AGENT_STEPS = {"cpu": 1, "cuda": 40}
DEFAULT_PROBE_SENTENCES = {"cpu": 64, "cuda": 640}
DEFAULT_FEATURE_IMAGES = {"cpu": 128, "cuda": 8192}


@dataclass(frozen=True)
class Shape:
    """A transformer stack as feature extraction runs it (values of the checkpoint's published config)."""

    layers: int
    hidden: int
    ffn: int
    attention: int | None = None  # heads x head size where it is not ``hidden`` (T5-3B)
    decoder_layers: int = 0  # BART: the full model runs the encoder, then the decoder with cross-attention
    pads_to: int | None = None  # Longformer pads every batch to a multiple of its attention window

    def flops_per_token(self, context: float) -> float:
        """Forward FLOPs of a token: 2 x the multiply-adds of the linear layers and of attention over ``context``."""
        inner = self.attention or self.hidden
        projections = 4 * self.hidden * inner  # q, k, v, output
        scores = 2 * context * inner  # q.k and the weighted sum of values
        encoder = projections + 2 * self.hidden * self.ffn + scores
        decoder = encoder + projections + scores  # + cross-attention
        return 2.0 * (self.layers * encoder + self.decoder_layers * decoder)


BASE, LARGE = Shape(12, 768, 3072), Shape(24, 1024, 4096)
DISTIL, XLM_1024, XL_1280 = Shape(6, 768, 3072), Shape(6, 1024, 4096), Shape(16, 1280, 5120)
# The measured references: shape and attention heads of a BertConfig.
REFERENCES = {"bert-base": (BASE, 12), "bert-large": (LARGE, 16)}
# The paper's members by hub id. ALBERT shares weights across its layers, not compute; T5 runs its encoder.
PUBLISHED_SHAPES = {
    "albert-base-v2": BASE,
    "albert-large-v2": LARGE,
    "facebook/bart-base": Shape(6, 768, 3072, decoder_layers=6),
    "facebook/bart-large": Shape(12, 1024, 4096, decoder_layers=12),
    "facebook/bart-large-cnn": Shape(12, 1024, 4096, decoder_layers=12),
    "bert-base-cased": BASE,
    "bert-base-uncased": BASE,
    "bert-large-cased": LARGE,
    "bert-large-uncased": LARGE,
    "distilbert-base-cased": DISTIL,
    "distilbert-base-multilingual-cased": DISTIL,
    "distilbert-base-uncased": DISTIL,
    "openai-gpt": BASE,
    "gpt2": BASE,
    "gpt2-medium": LARGE,
    "gpt2-large": Shape(36, 1280, 5120),
    "allenai/longformer-base-4096": Shape(12, 768, 3072, pads_to=512),
    "roberta-base": BASE,
    "roberta-large": LARGE,
    "roberta-large-mnli": LARGE,
    "t5-small": Shape(6, 512, 2048),
    "t5-base": BASE,
    "t5-large": LARGE,
    "t5-3b": Shape(24, 1024, 16384, attention=4096),
    "xlm-clm-ende-1024": XLM_1024,
    "xlm-mlm-ende-1024": XLM_1024,
    "xlm-mlm-enfr-1024": XLM_1024,
    "xlm-mlm-enro-1024": XLM_1024,
    "xlm-mlm-17-1280": XL_1280,
    "xlm-mlm-100-1280": XL_1280,
    "xlm-roberta-base": BASE,
    "xlm-roberta-large": LARGE,
    "xlnet-base-cased": BASE,
    "xlnet-large-cased": LARGE,
}

PTB_WORDS = (1_046_829, "published: PTB WSJ sections 02-21 + 22 + 23 tokens (the standard split)")
# Words of train + dev + test by task format, used only where the files are absent and --words is not given.
PUBLISHED_WORDS = {
    "probe": (
        2_088_628,
        "upper bound: every token of wikitext-2 train (Merity et al. 2016, Table 1); "
        "the probe drops lines under min_words",
    ),
    "chunking": (259_104, "published: CoNLL-2000 train + test tokens (Tjong Kim Sang & Buchholz 2000)"),
    "ner": (301_418, "published: CoNLL-2003 English train + dev + test tokens (Tjong Kim Sang & De Meulder 2003)"),
    "pos": PTB_WORDS,
    "parent": PTB_WORDS,
    "grandparent": PTB_WORDS,
    "great_grandparent": PTB_WORDS,
}


# --- helpers ---------------------------------------------------------------------------------------------


@dataclass
class Rate:
    """Repeated measurements of one unit cost."""

    name: str
    unit: str
    values: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        return float(np.median(self.values))

    def text(self) -> str:
        low, high = min(self.values), max(self.values)
        return f"{self.median:.4g} ({low:.4g}-{high:.4g})"


@contextlib.contextmanager
def captured(logger_name: str):
    """The INFO records one of taskspace's loggers emits inside the block, with their timestamps."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def epoch_seconds(records: list[logging.LogRecord], epochs: int) -> np.ndarray:
    """Duration of every epoch from a start line, one line per epoch and a final line (agents, heads)."""
    if len(records) != epochs + 2:
        sys.exit(f"expected a start line, {epochs} epoch lines and an end line in the log, got {len(records)} lines")
    return np.diff([r.created for r in records[: epochs + 1]])


def n_evaluations(epochs: int, eval_every: int) -> int:
    """Evaluations ``train_heads`` runs: every ``eval_every`` epochs and after the last."""
    return len(set(range(eval_every, epochs + 1, eval_every)) | {epochs})


def human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def random_kappa(m: int, seed: int = 0) -> np.ndarray:
    """A random correlation matrix: the heads' shapes, not their members, matter for timing."""
    x = np.random.default_rng(seed).standard_normal((m, 3 * m))
    covariance = x @ x.T
    scale = np.sqrt(np.diag(covariance))
    return covariance / np.outer(scale, scale)


def task_heads(members, selection, seed, extra_tables) -> dict[tuple[str, int, int], list[str]]:
    """{(method, round, k): members} of the heads one task's job trains, from a random kappa's selection table."""
    import pandas as pd

    from taskspace.selection import head_subsets, selection_table

    table = selection_table(
        random_kappa(len(members)),
        members,
        k_max=selection["k_max"],
        hub_first=selection["hub_first"],
        random_rounds=selection["random_rounds"],
        seed=seed,
    )
    return head_subsets(pd.concat([table, *extra_tables], ignore_index=True), members)


def protocol_seconds(protocol, heads: dict, train_block: float, eval_block: float) -> float:
    """Seconds of one protocol's heads: every group of methods at its epochs (the paper's MMI has its own),
    from the seconds of one member block's training epoch and evaluation."""
    keys = list(heads)
    seconds = 0.0
    for config, positions in protocol.epoch_groups([key[0] for key in keys]).items():
        blocks = sum(len(heads[keys[i]]) for i in positions)
        evaluations = n_evaluations(config.epochs, config.eval_every)
        seconds += blocks * (config.epochs * train_block + evaluations * eval_block)
    return seconds


# --- measurements ----------------------------------------------------------------------------------------


def measure_extraction(reference: str, sentences, device: str, extraction: dict, repeats: int, workdir: Path) -> dict:
    """Seconds per 1,000 words of ``extract_features`` on a member of the reference's shape (random weights).

    ``extraction``: the config's ``lm.extraction`` (batch_tokens, precision), as the rule passes it.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from taskspace.lm.extract import extract_features
    from taskspace.lm.members import load_member

    shape, heads = REFERENCES[reference]
    folder = workdir / reference
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    member = load_member({"name": reference, "source": str(folder)}, device=device, precision=extraction["precision"])
    batch_tokens = extraction["batch_tokens"]
    sync = torch.cuda.synchronize if member.device == "cuda" else (lambda: None)
    extract_features(member, {"probe": sentences[:32]}, workdir / "warm-up.h5", batch_tokens=batch_tokens)  # warm-up
    seconds, stats = [], None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        stats = extract_features(member, {"probe": sentences}, workdir / f"{reference}.h5", batch_tokens=batch_tokens)[
            "probe"
        ]
        sync()
        seconds.append(time.perf_counter() - start)
    dtype = str(member.dtype).replace("torch.", "")
    del member
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    shutil.rmtree(folder)
    return {
        "rate": Rate(
            f"lm_features, {reference} shape ({shape.layers} x {shape.hidden}), {dtype}",
            "s / 1,000 words",
            [1000 * s / stats.n_words for s in seconds],
        ),
        "shape": shape,
        "words": stats.n_words,
        "sentences": stats.n_sentences,
        "tokens": stats.n_tokens,
        "padded_tokens": stats.n_padded_tokens,
    }


def member_seconds_per_word(shape: Shape, references: dict) -> tuple[float, str]:
    """A member's seconds per word: the reference nearest in FLOPs per word, scaled by the FLOPs ratio."""

    def flops_per_sentence(s: Shape, measured) -> float:
        length = measured["padded_tokens"] / measured["sentences"]  # tokens a sentence takes up, padding included
        tokens = s.pads_to or length
        return s.flops_per_token(context=tokens) * tokens

    ratios = {name: flops_per_sentence(shape, m) / flops_per_sentence(m["shape"], m) for name, m in references.items()}
    nearest = min(ratios, key=lambda name: abs(math.log(ratios[name])))
    return references[nearest]["rate"].median / 1000 * ratios[nearest], nearest


def measure_agent(train_config, classes: int, steps: int, repeats: int, device: str):
    """Seconds per image-epoch of ``train_agent`` (epoch log lines), and the trained agent."""
    from taskspace.device import resolve_precision
    from taskspace.vision.agents import train_agent

    n_images = train_config.batch_size * steps
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n_images) % classes
    config = dataclasses.replace(train_config, epochs=repeats + 1, milestones=(), keep="final")
    with captured("taskspace.vision.agents") as records:
        agent = train_agent(images, labels, range(classes), config, name="timing", device=device)
    per_epoch = epoch_seconds(records, config.epochs)[1:]  # the first epoch warms up
    precision = resolve_precision(train_config.precision, device, half="bfloat16")
    name = (
        f"vision_agent, {train_config.architecture} 32 x 32, batch {train_config.batch_size}, "
        f"{precision if precision == 'float32' else precision + ' autocast'}"
    )
    return Rate(name, "s / 1,000 image-epochs", list(1000 * per_epoch / n_images)), agent


def measure_agent_features(agent, n_images: int, repeats: int, device: str) -> Rate:
    """Seconds per image of ``Agent.features`` (the rule's forward passes)."""
    import torch

    images = torch.rand(n_images, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    agent.features(images[:64])  # warm-up
    seconds = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        agent.features(images)
        sync()
        seconds.append(time.perf_counter() - start)
    return Rate("vision_features, forward passes", "s / 1,000 images", [1000 * s / n_images for s in seconds])


def measure_heads(widths, heads, n_classes, sizes, config, groups=None, metric=None) -> dict:
    """Seconds of every training epoch of ``train_heads`` on random features of ``widths``, and of one evaluation.

    ``heads``: member indices into ``widths``; ``sizes``: items of train, dev and test (dev 0: no dev split, as
    the paper's vision protocol). Only the members some head uses get features (the others cost nothing per
    epoch). The run has one chunk of heads and evaluates once, in its last epoch; the first epoch warms up and
    is dropped.
    """
    from taskspace.heads import Split, accuracy, train_heads

    used = sorted({m for head in heads for m in head})
    position = {m: i for i, m in enumerate(used)}
    used_widths = [widths[m] for m in used]
    rng = np.random.default_rng(0)
    splits = []
    for part, n in zip(("train", "dev", "test"), sizes):
        features = rng.standard_normal((n, sum(used_widths)), dtype=np.float32)
        splits.append(
            Split(features, np.arange(n) % n_classes, None if groups is None else groups[part]) if n else None
        )
    # one chunk: parameters, gradients and two optimiser moments of every head (taskspace.heads.train._chunks)
    one_chunk = sum(16 * (sum(widths[m] for m in head) + 1) * n_classes for head in heads) / 2**20
    timing = dataclasses.replace(
        config, eval_every=config.epochs, log_every_s=0.0, memory_budget_mb=max(config.memory_budget_mb, one_chunk)
    )
    with captured("taskspace.heads") as records:
        train_heads(
            *splits,
            used_widths,
            [[position[m] for m in h] for h in heads],
            config=timing,
            n_classes=n_classes,
            metric=metric or accuracy,
            metric_input="flat" if groups is None else "sentences",
        )
    per_epoch = epoch_seconds(records, config.epochs)
    train = per_epoch[1:-1]
    blocks = sum(len(h) for h in heads)
    return {"train": train, "eval": max(float(per_epoch[-1] - np.median(train)), 0.0), "blocks": blocks}


# --- counts from the configs -------------------------------------------------------------------------------


def dataset_words(name: str, fmt: str, files: dict, overrides: dict, probe: dict | None = None) -> tuple:
    """(words of one dataset or None, where the count comes from)."""
    from taskspace.lm.tasks import read_sentences
    from taskspace.lm.text import read_probe_text

    paths = [REPO / p for p in files.values()]
    if all(p.exists() for p in paths):
        if probe is not None:
            sentences = read_probe_text(paths[0], probe.get("min_words", 1), probe.get("max_sentences"))
        else:
            sentences = [s for p in paths for s in read_sentences(fmt, p)]
        return sum(len(s) for s in sentences), "counted in the config's files"
    if name in overrides:
        return overrides[name], "--words"
    if fmt in PUBLISHED_WORDS:
        return PUBLISHED_WORDS[fmt]
    return None, "unknown: files absent, no --words, no published default"


def cifar100_split(experiment: dict, seed: int):
    """The experiment's split on CIFAR-100's class sizes (labels only: images do not decide the split)."""
    from taskspace.vision.data import ImageDataset, ImagePool
    from taskspace.vision.split import SplitConfig, make_split

    def pool(per_class):
        labels = np.repeat(np.arange(CIFAR100_CLASSES), per_class)
        return ImagePool(np.zeros((len(labels), 1, 1, 3), np.uint8), labels)

    data = ImageDataset(
        "cifar100",
        pool(CIFAR100_TRAIN_PER_CLASS),
        pool(CIFAR100_TEST_PER_CLASS),
        tuple(f"class {c}" for c in range(CIFAR100_CLASSES)),
    )
    return make_split(data, SplitConfig.from_mapping({"seed": seed, **experiment["split"]}))


# --- the run -------------------------------------------------------------------------------------------------


def parse_words(items: list[str]) -> dict[str, int]:
    words = {}
    for item in items:
        name, _, count = item.partition("=")
        if not count.replace(",", "").isdigit():
            sys.exit(f"--words {item}: expected NAME=COUNT, e.g. semtag=120000")
        words[name] = int(count.replace(",", ""))
    return words


class Run:
    """One run's settings, what it measured and the jobs it estimated."""

    def __init__(self, args):
        import torch

        from taskspace.device import resolve_device

        self.args = args
        self.device = resolve_device(args.device)
        self.kind = "cuda" if self.device == "cuda" else "cpu"
        self.device_name = (
            torch.cuda.get_device_name() if self.device == "cuda" else f"CPU, {args.threads} torch threads"
        )
        self.measured: list[Rate] = []
        self.jobs: list[dict] = []  # config, rule, group, job, seconds, basis
        self.memory: list[tuple] = []  # config, job, what, GB
        self.extraction_note = ""
        self.cache: dict = {}  # rates measured once and reused: agents by training cost, heads by shape
        # Head runs: a warm-up epoch, the measured ones, and one that also evaluates; a GPU epoch is short.
        self.head_epochs = args.repeats + 2 if self.kind == "cpu" else max(20, args.repeats + 2)

    def record(self, rate: Rate) -> Rate:
        self.measured.append(rate)
        print(f"  {rate.name}: {rate.text()} {rate.unit}", file=sys.stderr, flush=True)
        return rate

    def job(self, config, rule, group, job, seconds, basis) -> None:
        self.jobs.append(dict(config=config, rule=rule, group=group, job=job, seconds=seconds, basis=basis))

    def rounds(self, selection: dict) -> int:
        """Random rounds among the measured heads: all of them on a GPU, one on a CPU, unless told."""
        if self.args.head_rounds is not None:
            return min(self.args.head_rounds, selection["random_rounds"])
        return selection["random_rounds"] if self.kind == "cuda" else min(1, selection["random_rounds"])


def lm_shapes(plan: Plan) -> dict[str, Shape]:
    """Every member's published shape, by the source its loader entry names."""
    shapes = {}
    for name in plan.lm_members:
        source = plan.lm_member_entry(name)["source"]
        if source not in PUBLISHED_SHAPES:
            sys.exit(f"member {name}: no published shape for {source} in PUBLISHED_SHAPES")
        shapes[name] = PUBLISHED_SHAPES[source]
    return shapes


def measure_lm_extraction(run: Run, lm: dict) -> dict:
    """Both references' extraction rates on Lee sentences of at least the probe's min_words words."""
    min_words = lm["probe"].get("min_words", 1)
    n_sentences = run.args.sentences or DEFAULT_SENTENCES[run.kind]
    sentences = [s for s in lee_sentences(4 * n_sentences) if len(s) >= min_words][:n_sentences]
    references = {}
    with tempfile.TemporaryDirectory() as tmp:
        for reference in REFERENCES:
            references[reference] = measure_extraction(
                reference, sentences, run.device, lm["extraction"], run.args.repeats, Path(tmp)
            )
            run.record(references[reference]["rate"])
    base = references["bert-base"]
    run.extraction_note = (
        f"{base['sentences']} Lee sentences of >= {min_words} words, {base['words']:,} words, "
        f"{base['tokens'] / base['words']:.2f} bert-base-uncased tokens a word"
    )
    return references


def lm_words(run: Run, plan: Plan) -> dict[str, tuple]:
    """(words, where the count comes from) of the probe text and of every dataset with its own extraction."""
    overrides = parse_words(run.args.words)
    probe = plan.lm["probe"]
    words = {PROBE_DATASET: dataset_words(PROBE_DATASET, "probe", {"text": probe["text"]}, overrides, probe)}
    for dataset in plan.lm_datasets:
        words[dataset] = dataset_words(
            dataset, plan.lm_tasks[dataset]["format"], plan.lm_task_paths(dataset), overrides
        )
    return words


def estimate_lm(run: Run, plan: Plan) -> dict:
    """lm_features and lm_probes of the LM config, and the memory its jobs hold; returns the word counts."""
    shapes = lm_shapes(plan)
    references = measure_lm_extraction(run, plan.lm)
    words = lm_words(run, plan)
    per_word = {name: member_seconds_per_word(shape, references) for name, shape in shapes.items()}
    for member, dataset in plan.lm_extractions():
        count = words[dataset][0]
        if count is not None:
            seconds, reference = per_word[member]
            run.job(
                "paper-lm",
                "lm_features",
                dataset,
                f"{member}/{dataset}",
                count * seconds,
                f"{reference} scaled by FLOPs",
            )
    estimate_lm_probes(run, plan, [shape.hidden for shape in shapes.values()], words)
    lm_memory(run, plan, [shape.hidden for shape in shapes.values()], words)
    return words


def estimate_lm_probes(run: Run, plan: Plan, widths: list[int], words: dict) -> None:
    """lm_probes: every protocol's heads on random features of the members' widths, a POS-sized task."""
    from taskspace.heads import protocols_from_config

    lm, seed = plan.lm, plan.config["seed"]
    names = list(plan.lm_members)
    index = {name: i for i, name in enumerate(names)}
    full = task_heads(names, lm["selection"], seed, [])
    heads = task_heads(names, {**lm["selection"], "random_rounds": run.rounds(lm["selection"])}, seed, [])
    protocols = protocols_from_config(lm["evaluation"], seed, run.device)
    seconds_per_word = 0.0
    for protocol in protocols:
        per_block_word = measure_probes(run, protocol, widths, [[index[m] for m in h] for h in heads.values()])
        seconds_per_word += protocol_seconds(protocol, full, *per_block_word)
    blocks_full = sum(len(h) for h in full.values())
    basis = (
        f"{len(full)} heads ({blocks_full} blocks) x {len(protocols)} protocols; every word trained on and evaluated"
    )
    for task in plan.lm_tasks:
        count = words[plan.lm_dataset_of[task]][0]
        if count is not None:  # an upper bound: every word of the task's files is trained on and evaluated
            run.job("paper-lm", "lm_probes", "", task, count * seconds_per_word, basis)


def measure_probes(run: Run, protocol, widths: list[int], heads: list[list[int]]) -> tuple[float, float]:
    """Seconds of one member block's training epoch and evaluation, per word, under one protocol's heads."""
    from taskspace.lm.metrics import word_accuracy

    vocabulary = [f"tag{i}" for i in range(PROBE_CLASSES)]

    def metric(gold, pred):  # as taskspace.lm.evaluate does: class ids back to labels, then the task's metric
        return word_accuracy([[vocabulary[i] for i in s] for s in gold], [[vocabulary[i] for i in s] for s in pred])

    n_train = DEFAULT_PROBE_SENTENCES[run.kind]
    lengths = [len(s) for s in lee_sentences(n_train)]
    parts = (("train", n_train), ("dev", n_train // 2), ("test", n_train // 2))
    groups = {part: np.repeat(np.arange(n), lengths[:n]) for part, n in parts}
    sizes = [len(groups[part]) for part, _ in parts]
    config = dataclasses.replace(protocol.heads, epochs=run.head_epochs)
    timing = measure_heads(widths, heads, PROBE_CLASSES, sizes, config, groups, metric)
    train_words, eval_words = sizes[0], sizes[1] + sizes[2]
    name = (
        f"lm_probes, {protocol.name} protocol, train ({len(heads)} heads, {timing['blocks']} member blocks, "
        f"{PROBE_CLASSES} classes)"
    )
    note = f"one evaluation: {1000 * timing['eval'] / eval_words:.3g} s / 1,000 words"
    run.record(Rate(name, "s / 1,000 word-epochs", list(1000 * timing["train"] / train_words), note))
    blocks = timing["blocks"]
    return float(np.median(timing["train"])) / train_words / blocks, timing["eval"] / eval_words / blocks


def lm_memory(run: Run, plan: Plan, widths: list[int], words: dict) -> None:
    """What lm_probes and kappa hold by construction, and what lm_probes asks for (the plan's request)."""
    columns = sum(widths)
    for dataset in plan.lm_datasets:
        count = words[dataset][0]
        if count is not None:
            job = f"lm_probes {', '.join(plan.lm_dataset_tasks(dataset))}"
            run.memory.append(("paper-lm", job, "features of all members, float32", count * columns * 4 / 1e9))
            request = plan.lm_probes_mem_mb(count * width * 4 for width in widths)  # float32 vectors of the files
            run.memory.append(
                (
                    "paper-lm",
                    job,
                    "its request: mem_mb / 1000 (the widest head's feature files within FEATURE_SHARE)",
                    request / 1000,
                )
            )
    run.memory.append(("paper-lm", "kappa lm", f"D x D float64 accumulator, D = {columns:,}", columns**2 * 8 / 1e9))


def estimate_vision(run: Run, plan: Plan) -> None:
    """vision_agent, vision_features, vision_heads and vision_peek of every experiment of the vision config."""
    seed = plan.config["seed"]
    for experiment in plan.vision.values():
        split = cifar100_split(experiment.settings, seed)
        width = estimate_vision_agents(run, experiment, split, seed)
        estimate_vision_heads(run, experiment, split, width, seed)
    first = next(iter(plan.vision.values()))
    split = cifar100_split(first.settings, seed)
    columns = len(first.agents) * run.cache[("width", first.name)]
    images = len(split.task_data(0, "train")[1]) + len(split.task_data(0, "test")[1])
    run.memory.append(
        ("paper-vision", "vision_heads (one task)", "features of all agents, float32", images * columns * 4 / 1e9)
    )
    run.memory.append(
        (
            "paper-vision",
            "kappa vision/<experiment>",
            f"D x D float64 accumulator, D = {columns:,}",
            columns**2 * 8 / 1e9,
        )
    )


def estimate_vision_agents(run: Run, experiment, split, seed: int) -> int:
    """vision_agent and vision_features of one experiment; returns the agents' feature width."""
    from taskspace.vision.agents import TrainConfig
    from taskspace.vision.extract import PROBE_ROTATIONS

    settings, kind, repeats = experiment.settings, run.kind, run.args.repeats
    train_config = TrainConfig.from_mapping({"seed": seed, **settings["agents"]})
    step_cost = dataclasses.replace(train_config, epochs=1, milestones=(), keep="final")  # what a step costs
    if step_cost not in run.cache:
        rate, agent = measure_agent(
            train_config,
            settings["split"]["agent_classes"],
            run.args.agent_steps or DEFAULT_AGENT_STEPS[kind],
            repeats,
            run.device,
        )
        run.cache[step_cost] = (run.record(rate), agent.meta["feature_width"])
        if "features" not in run.cache:
            run.cache["features"] = run.record(
                measure_agent_features(agent, DEFAULT_FEATURE_IMAGES[kind], repeats, run.device)
            )
        del agent
    rate, width = run.cache[step_cost]
    run.cache[("width", experiment.name)] = width
    per_image_epoch, per_image = rate.median / 1000, run.cache["features"].median / 1000
    feature_images = (
        len(split.probe_ids) * (1 + len(PROBE_ROTATIONS))
        + len(split.admin_ids("train")[0])
        + len(split.admin_ids("test")[0])
    )
    # keep: best_test classifies the held-out images after every epoch
    held_passes = 1 + (train_config.epochs if train_config.keep == "best_test" else 0)
    held_note = ", held-out images classified every epoch" if held_passes > 1 else ""
    for agent_name in experiment.agents:
        n_train, n_held = len(split.agent_ids(agent_name, "train")), len(split.agent_ids(agent_name, "test"))
        # training, then one accuracy pass over its training images and held_passes over its held-out ones
        run.job(
            "paper-vision",
            "vision_agent",
            experiment.name,
            f"{experiment.name}/{agent_name}",
            n_train * train_config.epochs * per_image_epoch + (n_train + held_passes * n_held) * per_image,
            f"{n_train:,} images x {train_config.epochs} epochs an agent{held_note}",
        )
        run.job(
            "paper-vision",
            "vision_features",
            experiment.name,
            f"{experiment.name}/{agent_name}",
            feature_images * per_image,
            f"{feature_images:,} forward passes an agent",
        )
    return width


def estimate_vision_heads(run: Run, experiment, split, width: int, seed: int) -> None:
    """vision_heads (every protocol of the experiment) and vision_peek (the validated protocol's heads)."""
    from taskspace.heads import protocol_from_config
    from taskspace.selection import ranked_table

    agents, settings = list(experiment.agents), experiment.settings
    selection, evaluation = settings["selection"], settings["evaluation"]
    ranking = [str(a) for a in np.random.default_rng(seed).permutation(agents)]
    peek = ranked_table("peek", ranking, agents, selection["k_max"])
    full = task_heads(agents, selection, seed, [peek])
    heads = task_heads(agents, {**selection, "random_rounds": run.rounds(selection)}, seed, [peek])
    index = {a: i for i, a in enumerate(agents)}
    classes = len(split.task_classes(0))
    n_task, n_test = len(split.task_data(0, "train")[1]), len(split.task_data(0, "test")[1])
    heads_seconds = peek_seconds = 0.0
    for name in dict.fromkeys([*evaluation["protocols"], "validated"]):  # vision_peek trains validated heads
        protocol = protocol_from_config(name, evaluation, seed, run.device)
        n_val = (protocol.val_per_class or 0) * classes
        sizes = (n_task - n_val, n_val, n_test)
        config = dataclasses.replace(protocol.heads, epochs=run.head_epochs)
        key = (sizes, width, classes, config, tuple(map(tuple, heads.values())))
        if key not in run.cache:
            run.cache[key] = timing = measure_heads(
                [width] * len(agents), [[index[a] for a in h] for h in heads.values()], classes, sizes, config
            )
            run.record(
                Rate(
                    f"vision_heads, {name} protocol, train epoch ({len(heads)} heads, {timing['blocks']} "
                    f"member blocks of {width}, {classes} classes)",
                    "s / epoch",
                    list(timing["train"]),
                    f"one evaluation ({sizes[1] + sizes[2]:,} images): {timing['eval']:.3g} s",
                )
            )
        timing = run.cache[key]
        blocks = (float(np.median(timing["train"])) / timing["blocks"], timing["eval"] / timing["blocks"])
        if name in evaluation["protocols"]:
            heads_seconds += protocol_seconds(protocol, full, *blocks)
        if name == "validated":
            peek_seconds = protocol_seconds(protocol, {("peek", i, 1): [a] for i, a in enumerate(agents)}, *blocks)
    blocks_full = sum(len(h) for h in full.values())
    for task in experiment.tasks:
        run.job(
            "paper-vision",
            "vision_heads",
            experiment.name,
            f"{experiment.name}/{task}",
            heads_seconds,
            f"{len(full)} heads ({blocks_full} blocks) x {len(evaluation['protocols'])} protocols",
        )
    run.job(
        "paper-vision",
        "vision_peek",
        experiment.name,
        experiment.name,
        peek_seconds,
        f"{len(agents)} single-agent heads, validated protocol",
    )


def summary(table, keys: list[str]) -> list[dict]:
    """Jobs, median and longest job, device-hours and basis of every group of the job table."""
    rows = []
    for values, group in table.groupby(keys, sort=False):
        longest = group.loc[group["seconds"].idxmax()]
        rows.append(
            dict(
                zip(keys, values),
                jobs=len(group),
                median_s=float(group["seconds"].median()),
                max_s=float(longest["seconds"]),
                max_job=longest["job"],
                hours=float(group["seconds"].sum() / 3600),
                basis="; ".join(group["basis"].unique()) if group["basis"].nunique() < 3 else "varies",
            )
        )
    return rows


def print_measurements(run: Run, words: dict, load: str, elapsed: float) -> None:
    import torch

    print(f"machine: {describe()}")
    print(
        f"device: {run.device_name}; torch {torch.__version__}; load average (1, 5, 15 min) before / after: {load}; "
        f"the run took {elapsed / 60:.1f} min\n"
    )
    print(f"Measured ({run.args.repeats} repeats after a warm-up):\n")
    print("| measurement | unit | median (min-max) | note |")
    print("| --- | --- | ---: | --- |")
    for rate in run.measured:
        print(f"| {rate.name} | {rate.unit} | {rate.text()} | {rate.note} |")
    print(f"\nExtraction: {run.extraction_note}.\n")
    print("Words per LM dataset (train + dev + test):\n")
    print("| dataset | words | from |")
    print("| --- | ---: | --- |")
    for name, (count, source) in words.items():
        print(f"| {name} | {'-' if count is None else f'{count:,}'} | {source} |")


def print_estimates(run: Run, table, by_rule: list[dict], by_experiment: list[dict], words: dict) -> None:
    print(f"\nEstimated device time on {run.device_name}:\n")
    print("| config | rule | jobs | per job (median) | longest job | device-hours | basis |")
    print("| --- | --- | ---: | ---: | --- | ---: | --- |")
    for row in by_rule:
        print(
            f"| {row['config']} | {row['rule']} | {row['jobs']} | {human(row['median_s'])} | "
            f"{human(row['max_s'])} ({row['max_job']}) | {row['hours']:,.1f} | {row['basis']} |"
        )
    for config in table["config"].unique():
        print(f"| {config} | all of the above | | | | {table[table.config == config].seconds.sum() / 3600:,.1f} | |")
    print("\nvision_agent by experiment:\n")
    print("| experiment | agents | per agent | device-hours | basis |")
    print("| --- | ---: | ---: | ---: | --- |")
    for row in by_experiment:
        if row["rule"] == "vision_agent":
            print(
                f"| {row['group']} | {row['jobs']} | {human(row['median_s'])} | {row['hours']:,.1f} | {row['basis']} |"
            )
    unknown = [name for name, (count, _) in words.items() if count is None]
    if unknown:
        print(
            f"\nLeft out of the totals: the lm_features jobs of {', '.join(unknown)} and the lm_probes tasks "
            f"reading them (no files here, no --words, no published size; pass --words NAME=COUNT)."
        )
    print("\nMemory a job holds by construction (from the configs and the code, not measured; copies come on top):\n")
    print("| config | job | what | GB |")
    print("| --- | --- | --- | ---: |")
    for config, job, what, gigabytes in run.memory:
        print(f"| {config} | {job} | {what} | {gigabytes:,.1f} |")


def report(run: Run, words: dict, load_before, elapsed: float) -> None:
    """Markdown tables on stdout; the job table (TSV) and everything measured (JSON) under --out."""
    import pandas as pd
    import torch

    load_after = os.getloadavg()
    table = pd.DataFrame(run.jobs)
    by_rule = summary(table, ["config", "rule"])
    by_experiment = summary(table, ["config", "rule", "group"])
    load = " / ".join(" ".join(f"{x:.1f}" for x in loads) for loads in (load_before, load_after))
    print_measurements(run, words, load, elapsed)
    print_estimates(run, table, by_rule, by_experiment, words)

    run.args.out.mkdir(parents=True, exist_ok=True)
    stem = run.args.out / f"paper_jobs-{run.kind}"
    table.to_csv(f"{stem}-jobs.tsv", sep="\t", index=False)
    record = {
        "machine": describe(),
        "device": run.device_name,
        "torch": str(torch.__version__),
        "load_before": load_before,
        "load_after": load_after,
        "seconds": elapsed,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(run.args).items()},
        "measured": [dataclasses.asdict(r) | {"median": r.median} for r in run.measured],
        "words": {name: {"words": count, "from": source} for name, (count, source) in words.items()},
        "by_rule": by_rule,
        "by_experiment": by_experiment,
        "memory_gb": [dict(config=c, job=j, what=w, gb=g) for c, j, w, g in run.memory],
    }
    Path(f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"\nwritten: {stem}.json, {stem}-jobs.tsv", file=sys.stderr)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="measured repeats of every unit (after a warm-up)")
    parser.add_argument("--sentences", type=int, help="sentences per extraction repeat (default: 200 CPU, 4000 GPU)")
    parser.add_argument(
        "--agent-steps", type=int, help="training steps per measured agent epoch (default: 1 CPU, 40 GPU)"
    )
    parser.add_argument(
        "--head-rounds",
        type=int,
        help="random rounds among the measured heads (default: 1 on CPU, the configs' on GPU)",
    )
    parser.add_argument(
        "--words",
        action="append",
        default=[],
        metavar="NAME=COUNT",
        help="words of an LM dataset whose files are not here: probe, or the first task reading them",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        sys.exit("--repeats: at least 1")

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # saving the reference members
    torch.set_num_threads(args.threads)
    run = Run(args)
    load_before = os.getloadavg()
    started = time.perf_counter()
    print(f"measuring on {run.device_name} ...", file=sys.stderr, flush=True)
    words = estimate_lm(run, Plan.from_file(CONFIGS["paper-lm"]))
    estimate_vision(run, Plan.from_file(CONFIGS["paper-vision"]))
    report(run, words, load_before, time.perf_counter() - started)


if __name__ == "__main__":
    main()
