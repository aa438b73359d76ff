"""HF image members: ``AutoModel`` with its ``AutoImageProcessor``, from a hub id, a local folder or
``package:NAME/FOLDER`` (found and loaded safely as the LM track's members: safetensors first, pickles only
with ``weights_only=True``, no checkpoint code unless ``trust_remote_code``).

Per member: ``layer``, an index of the model's ``hidden_states`` (0 = embeddings, default the last, read
from ``last_hidden_state``, after the final norm where the model has one), and ``pooling``:

- ``pooler``: the model's pooled output (ConvNeXt, ResNet, Swin: a norm over the averaged map; ViT checkpoints
  with a pooling layer); only at the last layer;
- ``cls``: the first token (ViT-like models);
- ``mean``: the average over spatial positions of a conv feature map (B, C, H, W), over the tokens of a
  sequence (B, T, D).

Default: ``pooler`` at the last layer when the model has one, else ``cls`` for token sequences and ``mean``
for feature maps.

A checkpoint saved with a classification head (``config.architectures`` names ``...ForImageClassification``)
loads through ``AutoModelForImageClassification``: one forward pass gives both the features (from its base
model) and the head's softmax, the source head for LEEP and NCE (``head: false`` leaves it out). The head's
classes are ``config.id2label``.

Precision: ``auto`` computes in float16 on CUDA under ``torch.autocast`` (norms and softmax stay float32),
float32 on the CPU; ``float32``, ``float16`` and ``bfloat16`` are taken as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..errors import TaskspaceError
from ..lm import members as lm_members
from ..provenance import library_versions
from .base import Embedded, Member, Pass, check_finite, entry_json, softmax_rows
from .image_preprocess import ProcessorTransform, stack_images
from .torch_run import autocast, resolve

log = logging.getLogger(__name__)
POOLINGS = ("pooler", "cls", "mean")
LIBRARIES = ("torch", "transformers")


class HFImagePass(Pass):
    kind = "hf_image"
    modality = "image"

    def __init__(self, entries: Sequence[Mapping], device: str = "auto", precision: str = "auto"):
        import torch
        from PIL import Image
        from transformers.utils import logging as hf_logging

        first = dict(entries[0])
        self.name = first["name"]
        spec = lm_members.MemberSpec(
            self.name, first["source"], first.get("revision"), trust_remote_code=first.get("trust_remote_code", False)
        )
        self.device, self.dtype = resolve(device, precision, f"member {self.name}: extraction.precision")
        self.precision = str(self.dtype).replace("torch.", "")
        self.precision_setting = precision
        local = lm_members._local_folder(spec)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # keep job logs readable
        try:
            config = lm_members._load_config(spec, local)
            processor = _load_processor(spec, local)
            classifier = first.get("head", True) and any(
                a.endswith("ForImageClassification") for a in (getattr(config, "architectures", None) or ())
            )
            auto = _auto_class(classifier)
            model = lm_members._load_model(spec, local, torch.float32, auto_class=auto)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.model = model.eval().to(self.device)
        self.classifier = classifier
        self.preprocess = ProcessorTransform(processor)
        self._captured = {}
        if classifier:
            self.model.base_model.register_forward_hook(lambda module, args, out: self._captured.update(out=out))
            labels = getattr(config, "id2label", None) or {}
            self.source_classes = [str(labels.get(i, i)) for i in range(len(labels))]
        self._torch = torch

        # One forward pass on a blank image: the number of hidden states, their shapes, the pooler.
        probe = self.preprocess(Image.new("RGB", (64, 64)))[None].to(self.device)
        with torch.inference_mode():
            base, _ = self._forward(probe)
        states, pooled = base.hidden_states, getattr(base, "pooler_output", None)
        if not states:
            raise TaskspaceError(
                f"member {self.name}: {type(model).__name__} does not return hidden states, so no layer can be read"
            )
        n_states = len(states)
        self.reads: dict[str, tuple[int, str]] = {}
        members = []
        for entry in entries:
            name, layer = entry["name"], entry.get("layer", -1)
            if not -n_states <= layer < n_states:
                raise TaskspaceError(
                    f"member {name}: layer {layer} is out of range: the model has {n_states - 1} layers "
                    f"(0 = embeddings .. {n_states - 1}, or -1 .. -{n_states})"
                )
            index = layer % n_states
            last = index == n_states - 1
            shape = tuple((base.last_hidden_state if last else states[index]).shape)
            pooling = entry.get("pooling") or ("pooler" if last and pooled is not None else _default(shape))
            if pooling == "pooler" and not (last and pooled is not None):
                why = "the model has no pooled output" if pooled is None else "it is the last layer's only"
                raise TaskspaceError(f"member {name}: pooling pooler at layer {layer}: {why}; use cls or mean")
            if pooling == "cls" and len(shape) != 3:
                raise TaskspaceError(
                    f"member {name}: pooling cls needs a token sequence, layer {layer} is a feature map {shape}; "
                    "use mean"
                )
            if pooling not in POOLINGS:
                raise TaskspaceError(f"member {name}: pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
            self.reads[name] = (index, pooling)
            width = int(pooled.shape[-1]) if pooling == "pooler" else int(shape[1] if len(shape) == 4 else shape[-1])
            provenance = {
                "member": name,
                "kind": self.kind,
                "entry": entry_json(entry),
                "source": spec.source,
                "revision": spec.revision or "",
                "commit": str(getattr(config, "_commit_hash", None) or ""),
                "model_type": str(getattr(config, "model_type", "")),
                "layer": layer,
                "layer_index": index,
                "n_layers": n_states - 1,
                "pooling": pooling,
                "source_head": bool(classifier),
                "precision": self.precision,
                "precision_setting": precision,
                **library_versions(*LIBRARIES),
            }
            members.append(Member(name, width, provenance, bool(classifier)))
        self._attach(members)
        log.info(
            "pass %s: %s (%s) on %s in %s, members %s%s",
            self.name,
            spec.source,
            getattr(config, "model_type", "?"),
            self.device,
            self.precision,
            ", ".join(f"{n} (layer {i}, {p})" for n, (i, p) in self.reads.items()),
            f", source head of {len(self.source_classes)} classes" if classifier else "",
        )

    def _forward(self, pixels):
        """(base model output, logits or None) of one forward pass (hidden states cost nothing extra to return)."""
        with autocast(self.device, self.dtype):
            out = self.model(pixel_values=pixels, output_hidden_states=True, return_dict=True)
        if self.classifier:
            base = self._captured.pop("out")
            base.hidden_states = out.hidden_states
            return base, out.logits
        return out, None

    def embed(self, batch) -> Embedded:
        torch = self._torch
        pixels = stack_images(self, batch).to(self.device, non_blocking=True)
        with torch.inference_mode():
            base, logits = self._forward(pixels)
            last = len(base.hidden_states) - 1
            features = {}
            for name, (index, pooling) in self.reads.items():
                if pooling == "pooler":
                    vectors = base.pooler_output
                else:
                    hidden = base.last_hidden_state if index == last else base.hidden_states[index]
                    vectors = _pool(hidden, pooling)
                features[name] = vectors.reshape(len(vectors), -1).float().cpu().numpy()
            probs = softmax_rows(logits) if logits is not None else None
        check_finite(self, features)
        return Embedded(features, probs)


def _default(shape: tuple) -> str:
    return "mean" if len(shape) == 4 else "cls"


def _pool(hidden, pooling: str):
    if pooling == "cls":
        return hidden[:, 0]
    if hidden.dim() == 4:  # (B, C, H, W): average over the map
        return hidden.float().mean(dim=(2, 3))
    return hidden.float().mean(dim=1)  # (B, T, D): average over the tokens


def _auto_class(classifier: bool):
    from transformers import AutoModel, AutoModelForImageClassification

    return AutoModelForImageClassification if classifier else AutoModel


def _load_processor(spec, local):
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(str(local or spec.source), **lm_members._hub_kwargs(spec, local))
    except Exception as error:  # noqa: BLE001 - every cause becomes one line naming the member
        raise lm_members._load_error(spec, "the image processor", error) from None
