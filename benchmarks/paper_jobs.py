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
  images a class, Krizhevsky 2009).
* ``vision_features``: ``Agent.features`` of that trained agent.
* ``vision_heads``, ``vision_peek``, ``lm_probes``: ``taskspace.head.train_heads`` on random features of the
  members' widths, with the heads the real selection code makes (MMI, random rounds, peek or single baselines)
  from a random kappa. Epoch times from its progress log: the first epoch dropped, the last one (the only one
  with an evaluation) gives the evaluation time. Unless ``--head-rounds`` says otherwise, a CPU run trains one
  random round (one random subset per k) instead of all; job times are scaled by member blocks (a head on k
  members is k blocks), to which the work of every step and evaluation is proportional.

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
    "albert-base-v2": BASE, "albert-large-v2": LARGE,
    "facebook/bart-base": Shape(6, 768, 3072, decoder_layers=6),
    "facebook/bart-large": Shape(12, 1024, 4096, decoder_layers=12),
    "facebook/bart-large-cnn": Shape(12, 1024, 4096, decoder_layers=12),
    "bert-base-cased": BASE, "bert-base-uncased": BASE, "bert-large-cased": LARGE, "bert-large-uncased": LARGE,
    "distilbert-base-cased": DISTIL, "distilbert-base-multilingual-cased": DISTIL, "distilbert-base-uncased": DISTIL,
    "openai-gpt": BASE, "gpt2": BASE, "gpt2-medium": LARGE, "gpt2-large": Shape(36, 1280, 5120),
    "allenai/longformer-base-4096": Shape(12, 768, 3072, pads_to=512),
    "roberta-base": BASE, "roberta-large": LARGE, "roberta-large-mnli": LARGE,
    "t5-small": Shape(6, 512, 2048), "t5-base": BASE, "t5-large": LARGE,
    "t5-3b": Shape(24, 1024, 16384, attention=4096),
    "xlm-clm-ende-1024": XLM_1024, "xlm-mlm-ende-1024": XLM_1024, "xlm-mlm-enfr-1024": XLM_1024,
    "xlm-mlm-enro-1024": XLM_1024, "xlm-mlm-17-1280": XL_1280, "xlm-mlm-100-1280": XL_1280,
    "xlm-roberta-base": BASE, "xlm-roberta-large": LARGE, "xlnet-base-cased": BASE, "xlnet-large-cased": LARGE,
}

PTB_WORDS = (1_046_829, "published: PTB WSJ sections 02-21 + 22 + 23 tokens (the standard split)")
# Words of train + dev + test by task format, used only where the files are absent and --words is not given.
PUBLISHED_WORDS = {
    "probe": (2_088_628, "upper bound: every token of wikitext-2 train (Merity et al. 2016, Table 1); "
                         "the probe drops lines under min_words"),
    "chunking": (259_104, "published: CoNLL-2000 train + test tokens (Tjong Kim Sang & Buchholz 2000)"),
    "ner": (301_418, "published: CoNLL-2003 English train + dev + test tokens (Tjong Kim Sang & De Meulder 2003)"),
    "pos": PTB_WORDS, "parent": PTB_WORDS, "grandparent": PTB_WORDS, "great_grandparent": PTB_WORDS,
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


def selection_heads(members, selection, seed, extra_tables) -> list[list[str]]:
    """The (method, seed, k) member lists the workflow's selection table would hold, from a random kappa."""
    import pandas as pd

    from taskspace.selection import selection_table, subsets

    table = selection_table(random_kappa(len(members)), members, k_max=selection["k_max"],
                            hub_first=selection["hub_first"], random_rounds=selection["random_rounds"], seed=seed)
    return list(subsets(pd.concat([table, *extra_tables], ignore_index=True)).values())


# --- measurements ----------------------------------------------------------------------------------------


def measure_extraction(reference: str, sentences, device: str, batch_tokens, repeats: int, workdir: Path) -> dict:
    """Seconds per 1,000 words of ``extract_features`` on a member of the reference's shape (random weights).

    ``batch_tokens``: the config's (None: the per-device default), as the rule passes it.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from taskspace.lm.extract import extract_features
    from taskspace.lm.members import load_member

    shape, heads = REFERENCES[reference]
    folder = workdir / reference
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=shape.hidden, num_hidden_layers=shape.layers,
                        num_attention_heads=heads, intermediate_size=shape.ffn, max_position_embeddings=512)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    member = load_member({"name": reference, "source": str(folder)}, device=device)
    sync = torch.cuda.synchronize if member.device == "cuda" else (lambda: None)
    extract_features(member, {"probe": sentences[:32]}, workdir / "warm-up.h5", batch_tokens=batch_tokens)  # warm-up
    seconds, stats = [], None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        stats = extract_features(member, {"probe": sentences}, workdir / f"{reference}.h5",
                                 batch_tokens=batch_tokens)["probe"]
        sync()
        seconds.append(time.perf_counter() - start)
    dtype = str(member.dtype).replace("torch.", "")
    del member
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    shutil.rmtree(folder)
    return {
        "rate": Rate(f"lm_features, {reference} shape ({shape.layers} x {shape.hidden}), {dtype}", "s / 1,000 words",
                     [1000 * s / stats.n_words for s in seconds]),
        "shape": shape, "words": stats.n_words, "sentences": stats.n_sentences, "tokens": stats.n_tokens,
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
    from taskspace.vision.agents import train_agent

    n_images = train_config.batch_size * steps
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n_images) % classes
    config = dataclasses.replace(train_config, epochs=repeats + 1, milestones=())
    with captured("taskspace.vision.agents") as records:
        agent = train_agent(images, labels, range(classes), config, name="timing", device=device)
    per_epoch = epoch_seconds(records, config.epochs)[1:]  # the first epoch warms up
    name = (f"vision_agent, {train_config.architecture} 32 x 32, batch {train_config.batch_size}, "
            f"{'bfloat16 autocast' if device == 'cuda' and train_config.amp else 'float32'}")
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

    ``heads``: member indices into ``widths``; ``sizes``: items of train, dev and test. Only the members some
    head uses get features (the others cost nothing per epoch). The run has one chunk of heads and evaluates
    once, in its last epoch; the first epoch warms up and is dropped.
    """
    from taskspace.head import Split, accuracy, train_heads

    used = sorted({m for head in heads for m in head})
    position = {m: i for i, m in enumerate(used)}
    used_widths = [widths[m] for m in used]
    rng = np.random.default_rng(0)
    splits = []
    for part, n in zip(("train", "dev", "test"), sizes):
        features = rng.standard_normal((n, sum(used_widths)), dtype=np.float32)
        splits.append(Split(features, np.arange(n) % n_classes, None if groups is None else groups[part]))
    blocks = sum(len(h) for h in heads)
    one_chunk = 2 * 16 * (blocks * max(used_widths) + len(heads)) * n_classes / 2**20  # see taskspace.head._chunks
    timing = dataclasses.replace(config, eval_every=config.epochs, log_every_s=0.0,
                                 memory_budget_mb=max(config.memory_budget_mb, one_chunk))
    with captured("taskspace.head") as records:
        train_heads(*splits, used_widths, [[position[m] for m in h] for h in heads], config=timing,
                    n_classes=n_classes, metric=metric or accuracy,
                    metric_input="flat" if groups is None else "sentences")
    per_epoch = epoch_seconds(records, config.epochs)
    train = per_epoch[1:-1]
    return {"train": train, "eval": max(float(per_epoch[-1] - np.median(train)), 0.0), "blocks": blocks}


# --- counts from the configs -------------------------------------------------------------------------------


def lm_datasets(lm: dict) -> tuple[dict[str, dict], dict[str, str]]:
    """Datasets (format and files) and the dataset of every task: tasks reading the same files share one,
    named after the first of them (as rules/common.smk does)."""
    from taskspace.config import SPLITS

    datasets, dataset_of, by_files = {}, {}, {}
    for task, entry in lm["tasks"].items():
        files = tuple(entry[part] for part in SPLITS)
        dataset_of[task] = by_files.setdefault(files, task)
        if dataset_of[task] == task:
            datasets[task] = {"format": entry["format"], "files": dict(zip(SPLITS, files))}
    return datasets, dataset_of


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

    data = ImageDataset("cifar100", pool(CIFAR100_TRAIN_PER_CLASS), pool(CIFAR100_TEST_PER_CLASS),
                        tuple(f"class {c}" for c in range(CIFAR100_CLASSES)))
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
        self.device_name = (torch.cuda.get_device_name() if self.device == "cuda"
                            else f"CPU, {args.threads} torch threads")
        self.measured: list[Rate] = []
        self.jobs: list[dict] = []  # config, rule, group, job, seconds, basis
        self.memory: list[tuple] = []  # config, job, what, GB
        self.extraction_note = ""
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


def estimate_lm(run: Run, config: dict) -> dict:
    """lm_features and lm_probes of the LM config; returns the word counts."""
    from taskspace.head import HeadConfig
    from taskspace.lm.metrics import word_accuracy as sentence_accuracy
    from taskspace.selection import single_table

    lm, seed = config["lm"], config["seed"]
    args, kind = run.args, run.kind
    members = lm["members"]
    for member in members:
        if member["source"] not in PUBLISHED_SHAPES:
            sys.exit(f"member {member['name']}: no published shape for {member['source']} in PUBLISHED_SHAPES")
    shapes = [PUBLISHED_SHAPES[m["source"]] for m in members]

    min_words = lm["probe"].get("min_words", 1)
    n_sentences = args.sentences or DEFAULT_SENTENCES[kind]
    sentences = [s for s in lee_sentences(4 * n_sentences) if len(s) >= min_words][:n_sentences]
    references = {}
    with tempfile.TemporaryDirectory() as tmp:
        for reference in REFERENCES:
            references[reference] = measure_extraction(reference, sentences, run.device,
                                                       lm["extraction"]["batch_tokens"], args.repeats, Path(tmp))
            run.record(references[reference]["rate"])
    base = references["bert-base"]
    run.extraction_note = (f"{base['sentences']} Lee sentences of >= {min_words} words, {base['words']:,} words, "
                           f"{base['tokens'] / base['words']:.2f} bert-base-uncased tokens a word")

    overrides = parse_words(args.words)
    datasets, dataset_of = lm_datasets(lm)
    words = {"probe": dataset_words("probe", "probe", {"text": lm["probe"]["text"]}, overrides, lm["probe"])}
    for name, entry in datasets.items():
        words[name] = dataset_words(name, entry["format"], entry["files"], overrides)
    for member, shape in zip(members, shapes):
        per_word, reference = member_seconds_per_word(shape, references)
        for name, (count, _) in words.items():
            if count is not None:
                run.job("paper-lm", "lm_features", name, f"{member['name']}/{name}", count * per_word,
                        f"{reference} scaled by FLOPs")

    # lm_probes: the paper's heads on random features of the members' widths, a POS-sized task.
    names = [m["name"] for m in members]
    widths = [shape.hidden for shape in shapes]
    index = {name: i for i, name in enumerate(names)}
    baselines = single_table(lm.get("baselines", []), names)
    heads_full = selection_heads(names, lm["selection"], seed, [baselines])
    heads = selection_heads(names, {**lm["selection"], "random_rounds": run.rounds(lm["selection"])}, seed, [baselines])
    vocabulary = [f"tag{i}" for i in range(PROBE_CLASSES)]

    def metric(gold, pred):  # as taskspace.lm.evaluate does: class ids back to labels, then the task's metric
        return sentence_accuracy([[vocabulary[i] for i in s] for s in gold], [[vocabulary[i] for i in s] for s in pred])

    n_train = DEFAULT_PROBE_SENTENCES[kind]
    lengths = [len(s) for s in lee_sentences(n_train)]
    groups = {part: np.repeat(np.arange(n), lengths[:n]) for part, n in
              (("train", n_train), ("dev", n_train // 2), ("test", n_train // 2))}
    probes = HeadConfig.from_mapping({"seed": seed, "device": run.device, **lm["probes"]})
    timing = measure_heads(widths, [[index[m] for m in h] for h in heads], PROBE_CLASSES,
                           [len(groups[p]) for p in ("train", "dev", "test")],
                           dataclasses.replace(probes, epochs=run.head_epochs), groups, metric)
    train_words, eval_words = len(groups["train"]), len(groups["dev"]) + len(groups["test"])
    run.record(Rate(f"lm_probes, train ({len(heads)} heads, {timing['blocks']} member blocks, {PROBE_CLASSES} classes)",
                    "s / 1,000 word-epochs", list(1000 * timing["train"] / train_words),
                    f"one evaluation: {1000 * timing['eval'] / eval_words:.3g} s / 1,000 words"))
    blocks_full = sum(len(h) for h in heads_full)
    scale = blocks_full / timing["blocks"]
    train_word = float(np.median(timing["train"])) / train_words * scale
    eval_word = timing["eval"] / eval_words * scale
    evaluations = n_evaluations(probes.epochs, probes.eval_every)
    for task in lm["tasks"]:
        count = words[dataset_of[task]][0]
        if count is not None:
            # An upper bound: every word of the task's files is trained on and evaluated.
            run.job("paper-lm", "lm_probes", "", task, count * (probes.epochs * train_word + evaluations * eval_word),
                    f"{len(heads_full)} heads ({blocks_full} blocks); every word trained on and evaluated")
    columns = sum(widths)
    for dataset in datasets:
        count = words[dataset][0]
        if count is not None:
            tasks = ", ".join(task for task in lm["tasks"] if dataset_of[task] == dataset)
            run.memory.append(("paper-lm", f"lm_probes {tasks}", "features of all members, float32",
                               count * columns * 4 / 1e9))
    run.memory.append(("paper-lm", "kappa lm", f"D x D float64 accumulator, D = {columns:,}", columns ** 2 * 8 / 1e9))
    return words


def estimate_vision(run: Run, config: dict) -> None:
    """vision_agent, vision_features, vision_heads and vision_peek of every experiment of the vision config."""
    from taskspace.head import HeadConfig
    from taskspace.selection import ranked_table
    from taskspace.vision.agents import TrainConfig
    from taskspace.vision.extract import PROBE_ROTATIONS

    seed, kind, repeats = config["seed"], run.kind, run.args.repeats
    agent_rates, head_timings, feature_rate = {}, {}, None
    for name, experiment in config["vision"]["experiments"].items():
        train_config = TrainConfig.from_mapping({"seed": seed, **experiment["agents"]})
        split = cifar100_split(experiment, seed)
        step_cost = dataclasses.replace(train_config, epochs=1, milestones=())  # what a step's time depends on
        if step_cost not in agent_rates:
            rate, agent = measure_agent(train_config, experiment["split"]["agent_classes"],
                                        run.args.agent_steps or DEFAULT_AGENT_STEPS[kind], repeats, run.device)
            agent_rates[step_cost] = (run.record(rate), agent.meta["feature_width"])
            if feature_rate is None:
                feature_rate = run.record(
                    measure_agent_features(agent, DEFAULT_FEATURE_IMAGES[kind], repeats, run.device))
            del agent
        rate, width = agent_rates[step_cost]
        per_image_epoch, per_image = rate.median / 1000, feature_rate.median / 1000
        feature_images = (len(split.probe_ids) * (1 + len(PROBE_ROTATIONS)) + len(split.admin_ids("train")[0])
                          + len(split.admin_ids("test")[0]))
        for agent_name in split.agent_names:
            n_train, n_held = len(split.agent_ids(agent_name, "train")), len(split.agent_ids(agent_name, "test"))
            # training, then one accuracy pass over its training and held-out images
            run.job("paper-vision", "vision_agent", name, f"{name}/{agent_name}",
                    n_train * train_config.epochs * per_image_epoch + (n_train + n_held) * per_image,
                    f"{n_train:,} images x {train_config.epochs} epochs an agent")
            run.job("paper-vision", "vision_features", name, f"{name}/{agent_name}", feature_images * per_image,
                    f"{feature_images:,} forward passes an agent")

        agents = split.agent_names
        selection, evaluation = experiment["selection"], experiment["evaluation"]
        ranking = [str(a) for a in np.random.default_rng(seed).permutation(agents)]
        peek = ranked_table("peek", ranking, agents, selection["k_max"])
        heads_full = selection_heads(agents, selection, seed, [peek])
        heads = selection_heads(agents, {**selection, "random_rounds": run.rounds(selection)}, seed, [peek])
        classes = len(split.task_classes(0))
        n_task, n_val = len(split.task_data(0, "train")[1]), evaluation["val_per_class"] * classes
        sizes = (n_task - n_val, n_val, len(split.task_data(0, "test")[1]))
        head_config = HeadConfig.from_mapping({"seed": seed, "device": run.device, **evaluation["heads"]})
        key = (sizes, width, classes, head_config, tuple(map(tuple, heads)))
        if key not in head_timings:
            index = {a: i for i, a in enumerate(agents)}
            timing = measure_heads([width] * len(agents), [[index[a] for a in h] for h in heads], classes, sizes,
                                   dataclasses.replace(head_config, epochs=run.head_epochs))
            run.record(Rate(f"vision_heads, train epoch ({len(heads)} heads, {timing['blocks']} member blocks of "
                            f"{width}, {classes} classes)", "s / epoch", list(timing["train"]),
                            f"one evaluation ({sizes[1] + sizes[2]:,} images): {timing['eval']:.3g} s"))
            head_timings[key] = timing
        timing = head_timings[key]
        per_block = (head_config.epochs * float(np.median(timing["train"]))
                     + n_evaluations(head_config.epochs, head_config.eval_every) * timing["eval"]) / timing["blocks"]
        blocks_full = sum(len(h) for h in heads_full)
        for task in split.task_names:
            run.job("paper-vision", "vision_heads", name, f"{name}/{task}", per_block * blocks_full,
                    f"{len(heads_full)} heads ({blocks_full} blocks), {head_config.epochs} epochs")
        run.job("paper-vision", "vision_peek", name, name, per_block * len(agents),
                f"{len(agents)} single-agent heads, {head_config.epochs} epochs")
        columns = len(agents) * width
        if name == next(iter(config["vision"]["experiments"])):
            run.memory.append(("paper-vision", "vision_heads (one task)", "features of all agents, float32",
                               (n_task + sizes[2]) * columns * 4 / 1e9))
            run.memory.append(("paper-vision", "kappa vision/<experiment>",
                               f"D x D float64 accumulator, D = {columns:,}", columns ** 2 * 8 / 1e9))


def report(run: Run, words: dict, load_before, elapsed: float) -> None:
    import pandas as pd
    import torch

    load_after = os.getloadavg()
    table = pd.DataFrame(run.jobs)

    def summary(keys):
        rows = []
        for values, group in table.groupby(keys, sort=False):
            longest = group.loc[group["seconds"].idxmax()]
            rows.append(dict(zip(keys, values), jobs=len(group), median_s=float(group["seconds"].median()),
                             max_s=float(longest["seconds"]), max_job=longest["job"],
                             hours=float(group["seconds"].sum() / 3600),
                             basis="; ".join(group["basis"].unique()) if group["basis"].nunique() < 3 else "varies"))
        return rows

    by_rule = summary(["config", "rule"])
    by_experiment = summary(["config", "rule", "group"])
    load = " / ".join(" ".join(f"{x:.1f}" for x in loads) for loads in (load_before, load_after))
    print(f"machine: {describe()}")
    print(f"device: {run.device_name}; torch {torch.__version__}; load average (1, 5, 15 min) before / after: {load}; "
          f"the run took {elapsed / 60:.1f} min\n")
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
    print(f"\nEstimated device time on {run.device_name}:\n")
    print("| config | rule | jobs | per job (median) | longest job | device-hours | basis |")
    print("| --- | --- | ---: | ---: | --- | ---: | --- |")
    for row in by_rule:
        print(f"| {row['config']} | {row['rule']} | {row['jobs']} | {human(row['median_s'])} | "
              f"{human(row['max_s'])} ({row['max_job']}) | {row['hours']:,.1f} | {row['basis']} |")
    for config in table["config"].unique():
        print(f"| {config} | all of the above | | | | {table[table.config == config].seconds.sum() / 3600:,.1f} | |")
    print("\nvision_agent by experiment:\n")
    print("| experiment | agents | per agent | device-hours | basis |")
    print("| --- | ---: | ---: | ---: | --- |")
    for row in by_experiment:
        if row["rule"] == "vision_agent":
            print(f"| {row['group']} | {row['jobs']} | {human(row['median_s'])} | {row['hours']:,.1f} | "
                  f"{row['basis']} |")
    unknown = [name for name, (count, _) in words.items() if count is None]
    if unknown:
        print(f"\nLeft out of the totals: the lm_features jobs of {', '.join(unknown)} and the lm_probes tasks "
              f"reading them (no files here, no --words, no published size; pass --words NAME=COUNT).")
    print("\nMemory a job holds by construction (from the configs and the code, not measured; copies come on top):\n")
    print("| config | job | what | GB |")
    print("| --- | --- | --- | ---: |")
    for config, job, what, gigabytes in run.memory:
        print(f"| {config} | {job} | {what} | {gigabytes:,.1f} |")

    run.args.out.mkdir(parents=True, exist_ok=True)
    stem = run.args.out / f"paper_jobs-{run.kind}"
    table.to_csv(f"{stem}-jobs.tsv", sep="\t", index=False)
    Path(f"{stem}.json").write_text(json.dumps({
        "machine": describe(), "device": run.device_name, "torch": str(torch.__version__),
        "load_before": load_before, "load_after": load_after, "seconds": elapsed,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(run.args).items()},
        "measured": [dataclasses.asdict(r) | {"median": r.median} for r in run.measured],
        "words": {name: {"words": count, "from": source} for name, (count, source) in words.items()},
        "by_rule": by_rule, "by_experiment": by_experiment,
        "memory_gb": [dict(config=c, job=j, what=w, gb=g) for c, j, w, g in run.memory],
    }, indent=1) + "\n")
    print(f"\nwritten: {stem}.json, {stem}-jobs.tsv", file=sys.stderr)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="measured repeats of every unit (after a warm-up)")
    parser.add_argument("--sentences", type=int, help="sentences per extraction repeat (default: 200 CPU, 4000 GPU)")
    parser.add_argument("--agent-steps", type=int,
                        help="training steps per measured agent epoch (default: 1 CPU, 40 GPU)")
    parser.add_argument("--head-rounds", type=int,
                        help="random rounds among the measured heads (default: 1 on CPU, the configs' on GPU)")
    parser.add_argument("--words", action="append", default=[], metavar="NAME=COUNT",
                        help="words of an LM dataset whose files are not here: probe, or the first task reading them")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        sys.exit("--repeats: at least 1")

    import torch

    from taskspace.config import load_config

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # saving the reference members
    torch.set_num_threads(args.threads)
    run = Run(args)
    load_before = os.getloadavg()
    started = time.perf_counter()
    print(f"measuring on {run.device_name} ...", file=sys.stderr, flush=True)
    words = estimate_lm(run, load_config(CONFIGS["paper-lm"]))
    estimate_vision(run, load_config(CONFIGS["paper-vision"]))
    report(run, words, load_before, time.perf_counter() - started)


if __name__ == "__main__":
    main()
