"""HF text members at sentence level: one vector per text (or text pair), pooled over its tokens.

Loading is the LM track's (:func:`taskspace.lm.members.load_member`: hub id, local folder or
``package:NAME/FOLDER``, revision, safe weights, ``trust_remote_code`` only when asked, T5 through its
encoder, maximum length, precision). The checkpoint is loaded once for all members of a pass; each member
reads its ``layer`` (hidden state index, 0 = embeddings, default the last: ``last_hidden_state``) and pools:

- ``mean`` (default): the average over the text's real tokens, specials included, padding masked out;
- ``first``: the first token ([CLS] for BERT-like models);
- ``last``: the last real token (</s>, [SEP] or the last word piece, as the tokenizer ends a text).

Batches are padded on the right, so a text's vectors do not depend on the batch it is in. Texts longer than
the member's maximum length are cut there (``truncation``; pairs: longest first). Items are a ``str`` or a
``(text, pair)`` tuple; a batch holds one sort or the other.

The words are tokenised as the checkpoint's tokenizer tokenises running text: the LM track's word-level
change (every word as if a space preceded it) is not applied here, so a fast tokenizer is loaded afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..errors import TaskspaceError
from ..lm import members as lm_members
from ..provenance import library_versions
from .base import Embedded, Member, Pass, check_finite, entry_json, identity

log = logging.getLogger(__name__)
POOLINGS = ("mean", "first", "last")
LIBRARIES = ("torch", "transformers", "tokenizers")


class HFTextPass(Pass):
    kind = "hf_text"
    modality = "text"

    def __init__(self, entries: Sequence[Mapping], device: str = "auto", precision: str = "auto"):
        import torch

        first = dict(entries[0])
        # The LM loader checks the layer of the entry it loads: load at the last one, check each member's below.
        loaded = lm_members.load_member(
            {k: v for k, v in first.items() if k != "pooling"} | {"layer": -1}, device=device, precision=precision
        )
        self.loaded = loaded
        self.name = first["name"]
        self.device = loaded.device
        self.precision = str(loaded.dtype).replace("torch.", "")
        self.precision_setting = precision
        self.preprocess = identity
        self.tokenizer = _sentence_tokenizer(loaded)
        self.max_length = loaded.max_length
        n_states = loaded.n_layers + 1
        self.layers: dict[str, int] = {}
        self.poolings: dict[str, str] = {}
        members = []
        for entry in entries:
            name, layer, pooling = entry["name"], entry.get("layer", -1), entry.get("pooling", "mean")
            if layer is None or layer == "last":
                layer = -1
            if not -n_states <= layer < n_states:
                raise TaskspaceError(
                    f"member {name}: layer {layer} is out of range: the model has {n_states - 1} layers "
                    f"(0 = embeddings .. {n_states - 1}, or -1 .. -{n_states})"
                )
            if pooling not in POOLINGS:
                raise TaskspaceError(f"member {name}: pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
            self.layers[name], self.poolings[name] = layer % n_states, pooling
            provenance = {
                "member": name,
                "kind": self.kind,
                "entry": entry_json(entry),
                "source": loaded.spec.source,
                "revision": loaded.spec.revision or "",
                "commit": str(loaded.commit or ""),
                "layer": layer,
                "layer_index": layer % n_states,
                "n_layers": loaded.n_layers,
                "pooling": pooling,
                "stack": loaded.stack,
                "max_length": self.max_length or 0,
                "precision": self.precision,
                "precision_setting": precision,
                **library_versions(*LIBRARIES),
            }
            members.append(Member(name, loaded.width, provenance))
        self._attach(members)
        self._torch = torch
        log.info(
            "pass %s: %s, members %s",
            self.name,
            loaded.spec.source,
            ", ".join(f"{m.name} (layer {self.layers[m.name]}, {self.poolings[m.name]})" for m in members),
        )

    def encode(self, batch: Sequence) -> dict:
        """Tokenise a batch of texts or (text, pair) tuples: padded on the right, cut at the maximum length."""
        texts, pairs = _split_pairs(batch, self.name)
        limit = self.max_length
        encoded = self.tokenizer(
            texts,
            pairs,
            padding=True,
            truncation=("longest_first" if pairs else True) if limit else False,
            max_length=limit,
            return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in encoded.items() if k in self.loaded.input_names}

    def embed(self, batch) -> Embedded:
        torch = self._torch
        inputs = self.encode(batch)
        mask = inputs["attention_mask"]
        wanted = set(self.layers.values())
        with torch.inference_mode():
            states = _hidden_states(self.loaded, inputs, wanted)
            lengths = mask.sum(dim=1)
            rows = torch.arange(mask.shape[0], device=mask.device)
            weights = (mask / lengths.clamp(min=1)[:, None]).to(torch.float32)
            features = {}
            for name, index in self.layers.items():
                hidden = states[index]
                pooling = self.poolings[name]
                if pooling == "mean":
                    # float32 sums: half-precision vectors would lose digits over long texts
                    vectors = torch.einsum("bt,btd->bd", weights, hidden.float())
                elif pooling == "first":
                    vectors = hidden[:, 0]
                else:
                    vectors = hidden[rows, (lengths - 1).clamp(min=0)]
                features[name] = vectors.float().cpu().numpy()
        check_finite(self, features)
        return Embedded(features, None)


def _split_pairs(batch: Sequence, name: str) -> tuple[list[str], list[str] | None]:
    items = list(batch)
    if not items:
        raise TaskspaceError(f"pass {name}: an empty batch")
    if all(isinstance(item, str) for item in items):
        return items, None
    if all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
        return [str(a) for a, _ in items], [str(b) for _, b in items]
    raise TaskspaceError(f"pass {name}: a batch is texts or (text, pair) tuples, not a mix of both")


def _hidden_states(loaded, inputs: dict, wanted: set[int]) -> dict:
    """Hidden states (B, T, D) at each wanted index from one forward pass (the last from last_hidden_state,
    as :meth:`taskspace.lm.members.LoadedMember.hidden` reads it)."""
    want_all = bool(wanted - {loaded.n_layers})
    out = loaded.module(**inputs, output_hidden_states=want_all, return_dict=True)
    decoder = loaded.stack == "decoder"
    every = (out.decoder_hidden_states if decoder else out.hidden_states) if want_all else None
    return {i: out.last_hidden_state if i == loaded.n_layers else every[i] for i in wanted}


def _sentence_tokenizer(loaded):
    """The checkpoint's tokenizer as it ships (the loaded one may prefix every word with a space, which the
    LM track's pre-split words need), right padding, a pad token where the family has none."""
    tokenizer = loaded.tokenizer
    spec = loaded.spec
    if tokenizer.is_fast:  # the word-level change is made on fast tokenizers only
        from transformers import AutoTokenizer

        local = lm_members._local_folder(spec)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(local or spec.source), **lm_members._hub_kwargs(spec, local))
        except Exception as error:  # noqa: BLE001 - every cause becomes one line naming the member
            raise lm_members._load_error(spec, "the tokenizer", error) from None
        if tokenizer.pad_token is None:
            tokenizer.pad_token = loaded.tokenizer.pad_token  # the LM loader's choice (EOS, UNK or BOS)
    tokenizer.padding_side = "right"
    return tokenizer
