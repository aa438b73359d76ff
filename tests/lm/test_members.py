"""Loading zoo members: every family, layer choice, encoder-decoder stacks, precision, safe loading, errors."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from taskspace.errors import TaskspaceError
from taskspace.lm.members import MemberSpec, load_member
from taskspace.lm.tiny import FAMILIES, build_tiny_member

torch.set_num_threads(1)


def _folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("family", ["bert", "t5", "xlm"])
def test_tiny_members_are_deterministic(tmp_path, tiny_train_text, family):
    """Same text and seed -> byte-identical tokenizer and weights; another seed -> other weights."""
    if family == "xlm":
        pytest.importorskip("sacremoses", reason="XLMTokenizer needs sacremoses")
    a = build_tiny_member(family, tmp_path / "a", tiny_train_text, seed=3, vocab_size=200)
    b = build_tiny_member(family, tmp_path / "b", tiny_train_text, seed=3, vocab_size=200)
    c = build_tiny_member(family, tmp_path / "c", tiny_train_text, seed=4, vocab_size=200)
    assert _folder_bytes(a) == _folder_bytes(b)
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    weights = {"model.safetensors", "config.json"}
    assert {f: b for f, b in _folder_bytes(a).items() if f not in weights} == {
        f: b for f, b in _folder_bytes(c).items() if f not in weights
    }  # the tokenizer's files


def test_tiny_bert_vocabulary_is_a_function_of_the_text():
    """gensim's polarity sentences have ties between equally frequent pairs at the vocabulary's edge, where the
    `tokenizers` WordPiece trainer's picks changed from build to build (8 vocabularies in 8 builds of 500)."""
    from taskspace.lm.tiny import _bert_tokenizer, _wordpiece_vocab
    from taskspace.sources.demo import polarity_sentences

    texts = [sentence for sentence, _ in polarity_sentences()]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    builds = [_wordpiece_vocab(texts, 500, specials) for _ in range(4)]
    assert all(build == builds[0] for build in builds)
    vocab = builds[0]
    assert len(vocab) == 500 and vocab[:5] == specials and len(set(vocab)) == 500
    # every word of the text splits into pieces of the vocabulary (its characters are all there)
    tokenizer = _bert_tokenizer(texts, 500, 128)
    assert not any(tokenizer.unk_token in tokenizer.tokenize(text) for text in texts)


def test_tiny_member_unknown_family(tmp_path):
    with pytest.raises(TaskspaceError, match="family 'lstm'"):
        build_tiny_member("lstm", tmp_path, ["some text"])


def test_each_family_loads_as_a_hub_checkpoint_would(zoo):
    expected_stack = {
        "bert": "model",
        "gpt2": "model",
        "roberta": "model",
        "bart": "decoder",
        "t5": "encoder",
        "xlnet": "model",
        "minilm": "model",
    }
    for name, member in zoo.items():
        assert member.stack == expected_stack[name], name
        assert member.tokenizer.is_fast
        assert member.tokenizer.pad_token is not None, name  # GPT-2 gets one
        assert member.layer_index == member.n_layers == (6 if name == "minilm" else 2)
        assert member.width == (384 if name == "minilm" else 64)
    assert zoo["gpt2"].tokenizer.pad_token == zoo["gpt2"].tokenizer.eos_token
    assert zoo["xlnet"].tokenizer.padding_side == "left"
    assert zoo["minilm"].max_length == 512
    assert zoo["roberta"].max_length == 128  # the tokenizer's limit; the position table has 2 extra rows
    assert set(FAMILIES) - {"xlm"} <= set(zoo)  # XLM's slow tokenizer: its own fixture (tests/lm/conftest.py)


def test_byte_level_words_are_tokenised_as_in_running_text(zoo):
    """Each word of a pre-split sentence gets the leading-space marker it has after a space in text."""
    for family, marker in (("gpt2", "Ġ"), ("roberta", "Ġ"), ("t5", "▁"), ("xlnet", "▁")):
        tokenizer = zoo[family].tokenizer
        encoded = tokenizer([["fire", "near", "Sydney"]], is_split_into_words=True)
        tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
        word_ids = encoded.word_ids(0)
        starts = [tokens[word_ids.index(w)] for w in range(3)]
        assert all(t.startswith(marker) for t in starts), (family, tokens)


def test_fp32_on_cpu(zoo):
    for member in zoo.values():
        assert member.device == "cpu"
        assert member.dtype == torch.float32
        assert all(p.dtype == torch.float32 for p in member.module.parameters())


def test_layer_choice_matches_transformers_hidden_states(minilm_dir):
    from transformers import AutoModel, AutoTokenizer

    words = ["Bushfires", "forced", "hundreds", "of", "residents", "out"]
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    encoded = tokenizer([words], is_split_into_words=True, return_tensors="pt")
    model = AutoModel.from_pretrained(minilm_dir).eval()
    with torch.inference_mode():
        states = model(**encoded, output_hidden_states=True).hidden_states
    for layer, index in ((0, 0), (3, 3), (-4, 3), (-1, 6), (6, 6)):
        member = load_member({"name": f"minilm-{layer}", "source": str(minilm_dir), "layer": layer})
        assert member.layer_index == index
        with torch.inference_mode():
            ours = member.hidden(dict(encoded))
        np.testing.assert_allclose(ours.numpy(), states[index].numpy(), atol=1e-5)
    with pytest.raises(TaskspaceError, match="member minilm-9: layer 9 is out of range: the model has 6 layers"):
        load_member({"name": "minilm-9", "source": str(minilm_dir), "layer": 9})


def test_t5_goes_through_its_encoder(zoo, tiny_member_dir):
    from transformers import T5EncoderModel

    member = zoo["t5"]
    assert type(member.module).__name__ == "T5Stack"  # the encoder of T5Model; the decoder is gone
    encoded = member.tokenizer([["strong", "winds", "today"]], is_split_into_words=True, return_tensors="pt")
    reference = T5EncoderModel.from_pretrained(tiny_member_dir / "t5").eval()
    with torch.inference_mode():
        expected = reference(**encoded).last_hidden_state
        ours = member.hidden(dict(encoded))
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), atol=1e-6)


def test_bart_uses_the_decoder_as_the_paper_and_the_encoder_on_request(zoo, tiny_member_dir):
    from transformers import BartModel

    encoded = zoo["bart"].tokenizer([["strong", "winds", "today"]], is_split_into_words=True, return_tensors="pt")
    full = BartModel.from_pretrained(tiny_member_dir / "bart").eval()
    with torch.inference_mode():
        out = full(**encoded)
        paper = zoo["bart"].hidden(dict(encoded))
        encoder = load_member({"name": "bart-enc", "source": str(tiny_member_dir / "bart"), "stack": "encoder"})
        assert encoder.stack == "encoder"
        ours_encoder = encoder.hidden(dict(encoded))
    np.testing.assert_allclose(paper.numpy(), out.last_hidden_state.numpy(), atol=1e-6)  # decoder output
    np.testing.assert_allclose(ours_encoder.numpy(), out.encoder_last_hidden_state.numpy(), atol=1e-6)


def test_stack_only_for_encoder_decoders(tiny_member_dir):
    with pytest.raises(TaskspaceError, match="member g: 'stack: decoder' applies to encoder-decoder models only"):
        load_member({"name": "g", "source": str(tiny_member_dir / "gpt2"), "stack": "decoder"})


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "m", "source": "x", "layers": 3}, "member m: unknown key 'layers'"),
        ({"name": "m", "source": "x", "pooling": "max"}, "member m: pooling 'max' is not one of first, last, mean"),
        ({"name": "m", "source": "x", "layer": "2"}, "member m: 'layer' must be an integer"),
        (
            {"name": "m", "source": "x", "trust_remote_code": "yes"},
            "member m: 'trust_remote_code' must be true or false",
        ),
        ({"name": "m"}, "member m: 'source' must be"),
        ({"source": "x"}, "'name' must be a non-empty string"),
    ],
)
def test_bad_entries_name_the_member(entry, message):
    with pytest.raises(TaskspaceError, match=message):
        MemberSpec.from_entry(entry)


def test_spec_defaults():
    spec = MemberSpec.from_entry({"name": "m", "source": "org/model"})
    assert (spec.layer, spec.pooling, spec.trust_remote_code, spec.revision, spec.stack) == (
        -1,
        "last",
        False,
        None,
        "auto",
    )


def _copy_without_weights(src, dst):
    dst.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / name, dst / name)
    return dst


class _RunsCode:
    """Unpickling this calls exec: what a hostile pytorch_model.bin does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def test_pickle_that_would_run_code_is_refused(tmp_path, tiny_member_dir):
    folder = _copy_without_weights(tiny_member_dir / "bert", tmp_path / "hostile")
    marker = tmp_path / "code-ran"
    torch.save({"embeddings.word_embeddings.weight": _RunsCode(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(TaskspaceError) as caught:
        load_member({"name": "hostile", "source": str(folder)})
    message = str(caught.value)
    assert message.startswith("member hostile: refused to load the weights") and "\n" not in message
    assert not marker.exists()
    # The file really is hostile: an unsafe load runs its code.
    torch.load(folder / "pytorch_model.bin", weights_only=False)
    assert marker.read_text() == "code ran"


def test_plain_tensor_pickle_still_loads(tmp_path, tiny_member_dir):
    """A checkpoint without safetensors but with a tensors-only pickle loads (weights_only=True)."""
    from safetensors.torch import load_file

    folder = _copy_without_weights(tiny_member_dir / "bert", tmp_path / "pickled")
    torch.save(load_file(tiny_member_dir / "bert" / "model.safetensors"), folder / "pytorch_model.bin")
    member = load_member({"name": "pickled", "source": str(folder)})
    assert member.n_layers == 2


def test_remote_code_is_not_run_unless_trusted(tmp_path, tiny_member_dir):
    """A checkpoint that ships its own modelling code: the code never runs without trust_remote_code."""
    marker = tmp_path / "code-ran"
    folder = tmp_path / "custom"
    shutil.copytree(tiny_member_dir / "bert", folder)
    (folder / "modeling_custom.py").write_text(f"open({str(marker)!r}, 'w').write('code ran')\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel", "AutoConfig": "modeling_custom.CustomConfig"}
    # A known model type: transformers' own class is used and the shipped code is ignored.
    (folder / "config.json").write_text(json.dumps(config))
    assert type(load_member({"name": "custom", "source": str(folder)}).module).__name__ == "BertModel"
    # A type only the shipped code knows: refused, with what to do.
    config["model_type"] = "custom-only"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        TaskspaceError, match="member custom: .* needs its own Python code to load; set trust_remote_code"
    ):
        load_member({"name": "custom", "source": str(folder)})
    assert not marker.exists()


def test_folder_without_weights(tmp_path, tiny_member_dir):
    folder = _copy_without_weights(tiny_member_dir / "gpt2", tmp_path / "empty")
    with pytest.raises(TaskspaceError, match=r"member nowts: folder .*empty holds no weights \(model.safetensors or"):
        load_member({"name": "nowts", "source": str(folder)})


def test_missing_folder():
    with pytest.raises(TaskspaceError, match="member gone: folder ./no/such/folder not found"):
        load_member({"name": "gone", "source": "./no/such/folder"})


@pytest.mark.parametrize("tokenizer_class", ["ByT5Tokenizer", "XLMTokenizer"])
def test_slow_tokenizers_load(request, tmp_path, tiny_member_dir, tokenizer_class):
    """Slow (Python) tokenizers load as they are; extraction aligns them word by word.

    ByT5's tokenizer only puts </s> after the sentence: one more layout of specials than XLM's <s> ... </s>.
    """
    from taskspace.lm.extract import word_vectors

    if tokenizer_class == "XLMTokenizer":
        folder = request.getfixturevalue("xlm_dir")
    else:
        folder = tmp_path / "slow"
        folder.mkdir()
        for name in ("config.json", "model.safetensors"):
            shutil.copy(tiny_member_dir / "t5" / name, folder / name)
        (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class}))
    member = load_member({"name": "slow", "source": str(folder)})
    assert type(member.tokenizer).__name__ == tokenizer_class and not member.tokenizer.is_fast
    assert member.tokenizer.pad_token is not None
    items = np.concatenate([i for i, _ in word_vectors(member, [["Fire", "near", "Sydney"], ["a"]], log_every=None)])
    assert items.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0]]


def test_xlm_without_sacremoses_names_the_member_and_the_package(xlm_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "sacremoses", None)  # as if not installed
    with pytest.raises(
        TaskspaceError,
        match="member xlm: cannot load the tokenizer of .*: ImportError: You need to "
        "install sacremoses to use XLMTokenizer",
    ):
        load_member({"name": "xlm", "source": str(xlm_dir)})


def test_unreachable_hub_id_offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(TaskspaceError) as caught:
        load_member({"name": "far", "source": "no-such-org/no-such-model-4711", "revision": "v1"})
    message = str(caught.value)
    assert message.startswith("member far: cannot load the config of no-such-org/no-such-model-4711 (revision v1)")
    assert "offline" in message and "\n" not in message


def test_weights_that_do_not_fit_the_model(tmp_path, tiny_member_dir):
    """A checkpoint lacking the model's weights would give random features: refused."""
    from safetensors.torch import load_file, save_file

    folder = _copy_without_weights(tiny_member_dir / "bert", tmp_path / "partial")
    weights = load_file(tiny_member_dir / "bert" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "layer.1." not in k}, folder / "model.safetensors")
    with pytest.raises(TaskspaceError, match="member partial: .* lacks \\d+ weights of its model"):
        load_member({"name": "partial", "source": str(folder)})


def _without_tokenizer_limit(source, folder):
    """A copy of a member whose tokenizer sets no model_max_length (as XLNet's hub checkpoints)."""
    shutil.copytree(source, folder)
    path = folder / "tokenizer_config.json"
    settings = json.loads(path.read_text())
    settings.pop("model_max_length", None)
    path.write_text(json.dumps(settings))
    return folder


@pytest.mark.parametrize("family, expected", [("xlnet", None), ("t5", None), ("gpt2", 128), ("roberta", 128)])
def test_without_a_tokenizer_limit_only_a_position_table_bounds_the_length(tmp_path, tiny_member_dir, family, expected):
    """The paper's truncation=True cut at the tokenizer's model_max_length (LMs/data.py); with none
    (transformers' huge sentinel), relative-position members are never cut, absolute ones stop at their table."""
    folder = _without_tokenizer_limit(tiny_member_dir / family, tmp_path / family)
    member = load_member({"name": family, "source": str(folder)})
    assert member.tokenizer.model_max_length > 10**6
    assert member.max_length == expected
    assert load_member({"name": family, "source": str(folder), "max_length": 64}).max_length == 64


@pytest.mark.parametrize(
    "precision, dtype",
    [("auto", torch.float32), ("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)],
)
def test_precision_sets_the_weights_and_computation_type(tiny_member_dir, precision, dtype):
    member = load_member({"name": "b", "source": str(tiny_member_dir / "bert")}, device="cpu", precision=precision)
    assert member.dtype == dtype and member.precision == precision
    assert all(p.dtype == dtype for p in member.module.parameters())


def test_invalid_precision_names_the_key(tiny_member_dir):
    from taskspace.config import validate_config

    with pytest.raises(
        TaskspaceError,
        match=r"^member b: lm\.extraction\.precision: 'half' is not one of auto, "
        r"float32, float16, bfloat16$",
    ):
        load_member({"name": "b", "source": str(tiny_member_dir / "bert")}, device="cpu", precision="half")
    config = {
        "lm": {
            "members": [{"name": "a", "build": "bert"}, {"name": "b", "build": "gpt2"}],
            "probe": {"text": "demo"},
            "selection": {"k_max": 2},
            "extraction": {"precision": "half"},
        }
    }
    with pytest.raises(TaskspaceError) as error:
        validate_config(config)
    assert str(error.value) == "lm.extraction.precision: 'half' is not one of auto, float32, float16, bfloat16"
    filled = validate_config({**config, "lm": {**config["lm"], "extraction": {}}})
    assert filled["lm"]["extraction"]["precision"] == "auto"
