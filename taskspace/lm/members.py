"""Zoo members of the LM track: load a checkpoint from its config entry, safely, ready to embed words.

A member's config entry::

    name: bert-base-uncased        # used in paths and figures
    source: bert-base-uncased      # hub id or local folder
    revision: main                 # optional, hub only (branch, tag or commit)
    layer: -1                      # optional: hidden state index, 0 = embeddings, negative from the top
    pooling: last                  # optional: first | last | mean of a word's sub-word vectors
    trust_remote_code: false       # optional: run the checkpoint's own Python code (only if you trust it)
    stack: auto                    # optional, encoder-decoder models: encoder | decoder (see below)
    max_length: 512                # optional: override the model's maximum number of tokens

Loading never executes code from a checkpoint unless the entry sets ``trust_remote_code``: weights come
from safetensors when the checkpoint has them, otherwise through ``torch.load(weights_only=True)``, which
refuses pickles that would call anything but tensor constructors.

Encoder-decoder models: the encoder by default (T5 and the rest), with one exception that reproduces the
paper: for BART (``model_type == "bart"``) the paper's code took ``last_hidden_state`` of the full
``BartModel``, which is the *decoder* output (the decoder reads the sentence shifted right by one token and
attends to the encoder), so ``stack: auto`` means ``decoder`` for BART. Set ``stack: encoder`` to use
BART's encoder instead.

Maximum length, as the paper's extraction (``LMs/data.py``: ``truncation=True``, i.e. the tokenizer's
``model_max_length``): a member is cut at its tokenizer's limit, and at its position table's size when it
has one (a model cannot read past it); a member with neither (XLNet, and T5 checkpoints whose tokenizer
sets no limit) has no maximum and is never cut. Transformers marks "no limit" with a huge sentinel
``model_max_length`` (``int(1e30)``), which counts as none.

Precision (``lm.extraction.precision``): ``auto`` computes in float16 on CUDA (bfloat16 for the families
that overflow in float16, T5's) and float32 on the CPU; ``float32`` is the paper's
(``LMs/ckpt.py`` loads every model in the default float32); ``float16`` and ``bfloat16`` load the
weights in that type on any device.

Tokenisation follows what every word looks like in running text: byte-level BPE tokenizers (GPT-2,
RoBERTa, BART) get ``add_prefix_space`` and SentencePiece-style ones prefix every word with "▁", so each
word of a pre-split sentence is tokenised as if a space preceded it. Slow (Python) tokenizers, such as
XLM's, are used as they are: extraction tokenises each word on its own (see :mod:`taskspace.lm.extract`).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..device import resolve_device, resolve_precision
from ..errors import TaskspaceError

log = logging.getLogger(__name__)

POOLINGS = ("first", "last", "mean")
STACKS = ("auto", "encoder", "decoder")
ENTRY_KEYS = {"name", "source", "revision", "layer", "pooling", "trust_remote_code", "stack", "max_length"}

# Model types whose features the paper took from the decoder (see the module docstring).
DECODER_BY_DEFAULT = {"bart"}
# Families that number positions from pad_token_id + 1: two rows of the position table are never used.
POSITION_OFFSET_TWO = {
    "roberta",
    "xlm-roberta",
    "xlm-roberta-xl",
    "camembert",
    "longformer",
    "data2vec-text",
    "roberta-prelayernorm",
    "ibert",
    "luke",
    "mpnet",
}
# Families whose activations overflow in float16 (T5 was trained in bfloat16).
NO_FLOAT16 = {"t5", "mt5", "umt5", "longt5", "switch_transformers"}
# A tokenizer's model_max_length at or above this is transformers' "no limit" sentinel (int(1e30)).
NO_LIMIT = 1_000_000
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
SAFE_WEIGHT_FILES = WEIGHT_FILES[:2]
# Checkpoint weights a base model may lack without its features changing.
HARMLESS_MISSING = ("pooler.",)


@dataclass(frozen=True)
class MemberSpec:
    """One zoo member as the config describes it (validated)."""

    name: str
    source: str
    revision: str | None = None
    layer: int = -1
    pooling: str = "last"
    trust_remote_code: bool = False
    stack: str = "auto"
    max_length: int | None = None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any] | MemberSpec) -> MemberSpec:
        if isinstance(entry, MemberSpec):
            return entry
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise TaskspaceError(f"member entry {dict(entry)!r}: 'name' must be a non-empty string")
        unknown = sorted(set(entry) - ENTRY_KEYS)
        if unknown:
            allowed = ", ".join(sorted(ENTRY_KEYS))
            raise TaskspaceError(f"member {name}: unknown key {unknown[0]!r} (allowed: {allowed})")
        source = entry.get("source")
        if not isinstance(source, (str, os.PathLike)) or not str(source):
            raise TaskspaceError(f"member {name}: 'source' must be a hub id or a local folder")
        revision = entry.get("revision")
        if revision is not None and not isinstance(revision, str):
            raise TaskspaceError(f"member {name}: 'revision' must be a string, got {revision!r}")
        layer = entry.get("layer", -1)
        if layer is None or layer == "last":
            layer = -1
        if isinstance(layer, bool) or not isinstance(layer, int):
            raise TaskspaceError(
                f"member {name}: 'layer' must be an integer (negative counts from the top), got {layer!r}"
            )
        pooling = entry.get("pooling", "last")
        if pooling not in POOLINGS:
            raise TaskspaceError(f"member {name}: pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
        trust = entry.get("trust_remote_code", False)
        if not isinstance(trust, bool):
            raise TaskspaceError(f"member {name}: 'trust_remote_code' must be true or false, got {trust!r}")
        stack = entry.get("stack", "auto")
        if stack not in STACKS:
            raise TaskspaceError(f"member {name}: stack {stack!r} is not one of {', '.join(STACKS)}")
        max_length = entry.get("max_length")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2
        ):
            raise TaskspaceError(f"member {name}: 'max_length' must be an integer >= 2, got {max_length!r}")
        return cls(name, str(source), revision, layer, pooling, trust, stack, max_length)


@dataclass
class LoadedMember:
    """A member ready to embed: call :meth:`hidden` on padded token batches.

    ``layer_index`` is the resolved hidden-state index (0 = embeddings, ``n_layers`` = last layer).
    """

    spec: MemberSpec
    tokenizer: Any
    module: Any  # the torch module that is called: the whole model, or an encoder-decoder's encoder
    stack: str  # "model" (decoder-only or encoder-only), "encoder" or "decoder"
    model_type: str
    device: str
    dtype: Any  # torch dtype of the computation
    max_length: int | None  # None: no maximum, sentences are never cut
    n_layers: int
    layer_index: int
    width: int
    commit: str | None = None  # the hub commit the files came from, when known
    input_names: tuple = field(default=("input_ids", "attention_mask"))
    # Whether left-padded batches get explicit position ids (see extract._to_device): the module takes
    # them and counts absolute positions from 0 (RoBERTa-like families derive them from the ids).
    takes_position_ids: bool = False
    precision: str = "auto"  # the config's setting (lm.extraction.precision); ``dtype`` is what it resolved to

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_last_layer(self) -> bool:
        return self.layer_index == self.n_layers

    def hidden(self, inputs: Mapping[str, Any]):
        """Hidden states of the member's layer for a padded batch: tensor (batch, tokens, width).

        Call under ``torch.inference_mode()``. ``inputs`` holds ``input_ids``, ``attention_mask`` and,
        when the tokenizer makes them, ``token_type_ids`` (tensors on ``self.device``).
        """
        return pass_hidden([self], inputs)[0]

    def read_layer(self, out):
        """The member's layer from the module's output (``output_hidden_states`` set unless it is the last)."""
        if self.is_last_layer:
            # The last layer is read from last_hidden_state (what the paper used; for BART the decoder's);
            # for families that apply a final norm it equals hidden_states[-1] anyway.
            return out.last_hidden_state
        states = out.decoder_hidden_states if self.stack == "decoder" else out.hidden_states
        return states[self.layer_index]

    def for_member(self, entry) -> LoadedMember:
        """This loaded checkpoint as another member of its pass (another layer or pooling; see
        :func:`taskspace.members.group_passes`): the same tokenizer and module, the other member's spec."""
        spec = MemberSpec.from_entry(entry)
        if replace(spec, name="", layer=0, pooling="") != replace(self.spec, name="", layer=0, pooling=""):
            raise TaskspaceError(
                f"members {self.spec.name}, {spec.name}: not one pass (their entries differ in more than name, "
                f"layer, pooling)"
            )
        return replace(self, spec=spec, layer_index=_layer_index(spec, self.n_layers + 1))


def pass_hidden(members: Sequence[LoadedMember], inputs: Mapping[str, Any]) -> list:
    """Hidden states of every member of one pass (one loaded checkpoint, :meth:`LoadedMember.for_member`) for a
    padded batch, from one forward pass: a (batch, tokens, width) tensor per member, in order."""
    want_all = not all(member.is_last_layer for member in members)
    out = members[0].module(**inputs, output_hidden_states=want_all, return_dict=True)
    return [member.read_layer(out) for member in members]


def load_member(entry, *, device: str = "auto", precision: str = "auto") -> LoadedMember:
    """Load a member's tokenizer and model from its config entry (a mapping or a :class:`MemberSpec`).

    ``device``: auto | cpu | cuda (see :func:`taskspace.device.resolve_device`). ``precision`` (the
    config's ``lm.extraction.precision``): auto (float16 on CUDA, bfloat16 for families that overflow in
    float16, float32 on CPU), float32 (the paper's), float16 or bfloat16: the type of the weights and of
    the computation. Every failure is a one-line :class:`TaskspaceError` that names the member.
    """
    from transformers.utils import logging as hf_logging

    spec = MemberSpec.from_entry(entry)
    device = resolve_device(device)
    local = _local_folder(spec)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # keep job logs readable
    try:
        config = _load_config(spec, local)
        tokenizer = _load_tokenizer(spec, local)
        torch_dtype = _compute_dtype(spec, config, device, precision)
        model = _load_model(spec, local, torch_dtype)
    finally:
        if bars:
            hf_logging.enable_progress_bar()

    model_type = getattr(config, "model_type", "") or ""
    stack = spec.stack
    if getattr(config, "is_encoder_decoder", False):
        if stack == "auto":
            stack = "decoder" if model_type in DECODER_BY_DEFAULT else "encoder"
        if stack == "decoder":
            module = model  # the full model: its last_hidden_state is the decoder output
        else:
            module = model.get_encoder()  # the decoder is dropped with `model`
    else:
        if stack != "auto":
            raise TaskspaceError(
                f"member {spec.name}: 'stack: {stack}' applies to encoder-decoder models only ({model_type} is not one)"
            )
        stack, module = "model", model
    del model
    if hasattr(module, "config"):
        module.config.use_cache = False  # no key/value caches: one forward pass per batch
    module.eval().to(device)

    member = LoadedMember(
        spec=spec,
        tokenizer=tokenizer,
        module=module,
        stack=stack,
        model_type=model_type,
        device=device,
        dtype=torch_dtype,
        max_length=_max_length(spec, tokenizer, config),
        n_layers=0,
        layer_index=0,
        width=0,
        commit=getattr(config, "_commit_hash", None),
        input_names=tuple(
            n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names
        ),
        takes_position_ids=stack != "decoder"
        and model_type not in POSITION_OFFSET_TWO
        and "position_ids" in inspect.signature(module.forward).parameters,
        precision=precision,
    )
    _probe(member)
    return member


# --- pieces of load_member -------------------------------------------------------------------------


PACKAGE_PREFIX = "package:"


def _package_folder(spec: MemberSpec) -> Path | None:
    """``package:NAME/SUBFOLDER``: a checkpoint shipped inside an installed Python package (no download)."""
    if not spec.source.startswith(PACKAGE_PREFIX):
        return None
    package, _, folder = spec.source[len(PACKAGE_PREFIX) :].partition("/")
    found = importlib.util.find_spec(package) if package else None
    if found is None or not found.submodule_search_locations:
        raise TaskspaceError(f"member {spec.name}: Python package {package!r} of source {spec.source} is not installed")
    return Path(list(found.submodule_search_locations)[0]) / folder


def _local_folder(spec: MemberSpec) -> Path | None:
    """The member's local folder after checking it holds a config and weights; None for a hub id."""
    path = _package_folder(spec) or Path(spec.source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise TaskspaceError(f"member {spec.name}: source {spec.source} is a file, not a checkpoint folder")
        if not (path / "config.json").is_file():
            raise TaskspaceError(f"member {spec.name}: folder {spec.source} has no config.json")
        if not any((path / f).is_file() for f in WEIGHT_FILES):
            files = " or ".join(WEIGHT_FILES)
            raise TaskspaceError(f"member {spec.name}: folder {spec.source} holds no weights ({files})")
        if spec.revision:
            log.warning("member %s: revision %r is ignored for the local folder %s", spec.name, spec.revision, path)
        return path
    if spec.source.startswith(("/", "./", "../", "~")) or os.sep + os.sep in spec.source:
        raise TaskspaceError(f"member {spec.name}: folder {spec.source} not found")
    return None


def _hub_kwargs(spec: MemberSpec, local: Path | None) -> dict:
    kwargs = {"trust_remote_code": spec.trust_remote_code}
    if local is None and spec.revision:
        kwargs["revision"] = spec.revision
    return kwargs


def _load_error(spec: MemberSpec, what: str, error: Exception) -> TaskspaceError:
    """Turn a transformers/hub exception into one line naming the member and the likely cause."""
    text = " ".join(str(error).split())
    if "trust_remote_code" in text:
        return TaskspaceError(
            f"member {spec.name}: {spec.source} needs its own Python code to load; set trust_remote_code: true "
            f"for this member only if you trust its source"
        )
    from huggingface_hub import constants

    offline = constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE", "") in {"1", "ON", "YES", "TRUE"}
    where = f"{spec.source}" + (f" (revision {spec.revision})" if spec.revision else "")
    if offline and not Path(spec.source).exists():
        return TaskspaceError(
            f"member {spec.name}: cannot load {what} of {where}: not in the local Hugging Face cache and the hub "
            f"is offline (HF_HUB_OFFLINE); download it once online or point source at a local folder"
        )
    first = text[:300]
    return TaskspaceError(f"member {spec.name}: cannot load {what} of {where}: {type(error).__name__}: {first}")


def _load_config(spec: MemberSpec, local: Path | None):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(local or spec.source), **_hub_kwargs(spec, local))
    except Exception as error:  # noqa: BLE001 - every cause becomes one line naming the member
        raise _load_error(spec, "the config", error) from None


def _load_tokenizer(spec: MemberSpec, local: Path | None):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(local or spec.source), **_hub_kwargs(spec, local))
    except Exception as error:  # noqa: BLE001
        raise _load_error(spec, "the tokenizer", error) from None
    if tokenizer.is_fast:
        _words_as_in_running_text(tokenizer)
    if tokenizer.pad_token is None:
        # GPT-2 and kin have no pad token. Padded positions are masked out of attention, so any existing
        # token serves; reusing EOS avoids growing the embedding table.
        fallback = tokenizer.eos_token or tokenizer.unk_token or tokenizer.bos_token
        if fallback is None:
            raise TaskspaceError(f"member {spec.name}: tokenizer has no pad, eos, unk or bos token to pad with")
        tokenizer.pad_token = fallback
    return tokenizer


def _words_as_in_running_text(tokenizer) -> None:
    """Make each word of a pre-split sentence tokenise as it does after a space in running text.

    Byte-level BPE marks word starts with a leading space ("Ġ"); without ``add_prefix_space`` every word
    of a pre-split sentence would be tokenised as a sentence-initial word. SentencePiece's "first"
    scheme has the same effect. The change is made on the backend's pre-tokenizer, whatever the
    tokenizer's Python class.
    """
    from tokenizers import Tokenizer

    backend = tokenizer.backend_tokenizer
    state = json.loads(backend.to_str())
    changed = _prefix_every_word(state.get("pre_tokenizer"))
    if changed:
        backend.pre_tokenizer = Tokenizer.from_str(json.dumps(state)).pre_tokenizer
        if hasattr(tokenizer, "add_prefix_space"):
            tokenizer.add_prefix_space = True


def _prefix_every_word(node) -> bool:
    if isinstance(node, list):
        return any([_prefix_every_word(n) for n in node])
    if not isinstance(node, dict):
        return False
    changed = False
    if node.get("type") == "ByteLevel" and not node.get("add_prefix_space", False):
        node["add_prefix_space"] = True
        changed = True
    if node.get("type") == "Metaspace" and node.get("prepend_scheme") == "first":
        node["prepend_scheme"] = "always"
        changed = True
    for child in ("pretokenizers",):
        if child in node:
            changed = _prefix_every_word(node[child]) or changed
    return changed


def _compute_dtype(spec: MemberSpec, config, device: str, precision: str):
    """The torch dtype of a member's weights and computation (see the module docstring)."""
    import torch

    half = "float16"
    if device == "cuda" and getattr(config, "model_type", "") in NO_FLOAT16 and torch.cuda.is_bf16_supported():
        half = "bfloat16"
    # auto on the CPU: float32, as half precision is slow and inexact there.
    name = resolve_precision(precision, device, half=half, where=f"member {spec.name}: lm.extraction.precision")
    return getattr(torch, name)


def _load_model(spec: MemberSpec, local: Path | None, torch_dtype, auto_class=None):
    """``auto_class`` (default ``AutoModel``): e.g. ``AutoModelForImageClassification`` for image members."""
    from transformers import AutoModel

    auto_class = auto_class or AutoModel
    kwargs = _hub_kwargs(spec, local)
    if local is not None:
        # Prefer safetensors; a pickle is only read with weights_only=True (tensors, nothing callable).
        kwargs["use_safetensors"] = any((local / f).is_file() for f in SAFE_WEIGHT_FILES)
    try:
        model, info = auto_class.from_pretrained(
            str(local or spec.source), dtype=torch_dtype, weights_only=True, output_loading_info=True, **kwargs
        )
    except pickle.UnpicklingError:
        raise TaskspaceError(
            f"member {spec.name}: refused to load the weights of {spec.source}: the pickle holds more than tensors "
            f"(loading it could run code); convert the checkpoint to safetensors"
        ) from None
    except Exception as error:  # noqa: BLE001
        if "weights only load failed" in str(error).lower() or "weights_only" in str(error):
            raise TaskspaceError(
                f"member {spec.name}: refused to load the weights of {spec.source}: the pickle holds more than "
                f"tensors (loading it could run code); convert the checkpoint to safetensors"
            ) from None
        raise _load_error(spec, "the model", error) from None
    missing = [k for k in info.get("missing_keys", ()) if not any(h in k for h in HARMLESS_MISSING)]
    if missing:
        raise TaskspaceError(
            f"member {spec.name}: {spec.source} lacks {len(missing)} weights of its model (e.g. {missing[0]}); "
            f"its features would be random"
        )
    return model


def _max_length(spec: MemberSpec, tokenizer, config) -> int | None:
    """The most tokens (specials included) the member reads in one sentence; None: no maximum.

    The entry's ``max_length``, else the tokenizer's ``model_max_length`` (what the paper's
    ``truncation=True`` cut at, ``LMs/data.py``), capped by the position table when the model has one;
    a member with neither limit (relative positions and no tokenizer limit: XLNet) is never cut.
    """
    if spec.max_length is not None:
        return spec.max_length
    limits = []
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 1 < tokenizer_limit < NO_LIMIT:
        limits.append(tokenizer_limit)
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 1:
            if getattr(config, "model_type", "") in POSITION_OFFSET_TWO:
                value -= 2
            limits.append(value)
            break
    return min(limits) if limits else None


def _layer_index(spec: MemberSpec, n_states: int) -> int:
    """The hidden-state index of the member's layer in a model with ``n_states`` of them (embeddings first)."""
    if not -n_states <= spec.layer < n_states:
        raise TaskspaceError(
            f"member {spec.name}: layer {spec.layer} is out of range: the model has {n_states - 1} layers "
            f"(0 = embeddings .. {n_states - 1}, or -1 .. -{n_states})"
        )
    return spec.layer % n_states


def _probe(member: LoadedMember) -> None:
    """One tiny forward pass: count the hidden states, resolve the layer, check the model runs."""
    import torch

    spec = member.spec
    encoded = member.tokenizer([["probe"]], is_split_into_words=True, return_tensors="pt")
    inputs = {k: v.to(member.device) for k, v in encoded.items() if k in member.input_names}
    try:
        with torch.inference_mode():
            out = member.module(**inputs, output_hidden_states=True, return_dict=True)
    except Exception as error:  # noqa: BLE001
        text = " ".join(str(error).split())[:300]
        raise TaskspaceError(
            f"member {spec.name}: a test forward pass failed: {type(error).__name__}: {text}"
        ) from None
    states = out.decoder_hidden_states if member.stack == "decoder" else getattr(out, "hidden_states", None)
    if not states:
        raise TaskspaceError(
            f"member {spec.name}: {type(member.module).__name__} does not return hidden states, so no layer can be read"
        )
    n_states = len(states)
    member.n_layers = n_states - 1
    member.layer_index = _layer_index(spec, n_states)
    member.width = int(states[-1].shape[-1])
    log.info(
        "member %s: %s (%s, %s) layer %d of %d, width %d, %s, %s on %s",
        spec.name,
        spec.source,
        member.model_type,
        member.stack,
        member.layer_index,
        member.n_layers,
        member.width,
        f"max {member.max_length} tokens" if member.max_length else "no maximum length (never cut)",
        str(member.dtype).replace("torch.", ""),
        member.device,
    )
