"""Metrics of the probing tasks, on hand-computed examples."""

import math

import numpy as np
import pytest

from taskspace.errors import TaskspaceError
from taskspace.lm import metrics


def test_accuracy_skips_unannotated_words():
    gold = [["a", "b", None], ["c"]]
    pred = [["a", "x", "z"], ["c"]]
    # annotated words: a (right), b (wrong), c (right)
    assert metrics.word_accuracy(gold, pred) == pytest.approx(2 / 3)


def test_accuracy_shape_mismatch_names_sentence():
    with pytest.raises(TaskspaceError, match="sentence 1 has 2 gold labels but 1 predictions"):
        metrics.word_accuracy([["a"], ["b", "c"]], [["a"], ["b"]])
    with pytest.raises(TaskspaceError, match="zero annotated"):
        metrics.word_accuracy([[None]], [["a"]])


def test_span_f1_bio_hand_computed():
    gold = [["B-NP", "I-NP", "O", "B-VP", "B-NP", "I-NP"]]  # NP(0,2) VP(3,4) NP(4,6)
    pred = [["B-NP", "I-NP", "O", "B-VP", "B-NP", "B-NP"]]  # NP(0,2) VP(3,4) NP(4,5) NP(5,6)
    # 2 correct of 4 predicted and 3 gold spans: F1 = 2 * 2 / (4 + 3)
    assert metrics.span_f1(gold, pred, scheme="BIO") == pytest.approx(4 / 7)
    assert metrics.span_f1_bio(gold, pred) == pytest.approx(4 / 7)


def test_span_f1_stray_inside_tag_lenient_vs_strict():
    gold = [["B-NP", "I-NP", "O"]]
    pred = [["I-NP", "I-NP", "O"]]
    # conlleval (and allennlp) read a stray I-NP as the start of an NP span
    assert metrics.span_f1(gold, pred, scheme="BIO") == 1.0
    # strict IOB2 drops the ill-formed span
    assert metrics.span_f1(gold, pred, scheme="BIO", strict=True) == 0.0


def test_span_f1_iob1_hand_computed():
    gold = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]  # PER(0,2) PER(2,3) LOC(4,5)
    pred = [["I-PER", "I-PER", "I-PER", "O", "I-LOC"]]  # PER(0,3) LOC(4,5)
    # 1 correct of 2 predicted, 3 gold: F1 = 2 * 1 / (2 + 3)
    assert metrics.span_f1_iob1(gold, pred) == pytest.approx(0.4)
    assert metrics.span_f1(gold, pred, scheme="IOB1", strict=True) == pytest.approx(0.4)
    # B-PER after I-PER splits two IOB1 entities: predicting it exactly scores 1
    assert metrics.span_f1(gold, gold, scheme="IOB1", strict=True) == 1.0


def test_span_f1_no_spans_is_zero_and_bad_scheme_errors():
    assert metrics.span_f1([["O", "O"]], [["O", "O"]]) == 0.0
    with pytest.raises(TaskspaceError, match="IOBES"):
        metrics.span_f1([["O"]], [["O"]], scheme="IOBES")


def test_pearson_uses_annotated_words_only():
    gold = [[math.nan, 1.0, math.nan, 2.0], [3.0, None]]
    pred = [[100.0, 1.5, -50.0, 2.0], [4.0, 7.0]]
    expected = 2.5 / math.sqrt(2 * 3.5)  # gold (1, 2, 3) against pred (1.5, 2, 4)
    assert metrics.word_pearson(gold, pred) == pytest.approx(expected)
    assert metrics.word_pearson(gold, pred) == pytest.approx(np.corrcoef([1, 2, 3], [1.5, 2, 4])[0, 1])


def test_pearson_constant_prediction_is_nan_and_too_few_words_error():
    assert math.isnan(metrics.word_pearson([[1.0, 2.0, 3.0]], [[0.5, 0.5, 0.5]]))
    with pytest.raises(TaskspaceError, match="at least 2 annotated words, got 1"):
        metrics.word_pearson([[1.0, math.nan]], [[1.0, 2.0]])


def test_token_f1_hand_computed():
    gold = [["O", "SWAP", "SWAP", "O"]]
    pred = [["SWAP", "SWAP", "O", "O"]]
    # tp 1, fp 1, fn 1
    assert metrics.token_f1(gold, pred) == pytest.approx(0.5)
    assert metrics.token_f1([["O", "O"]], [["O", "O"]]) == 0.0
