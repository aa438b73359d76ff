"""Token-level probing tasks: one data type for a split, readers for the paper's 8 tasks, a task registry.

The paper (Huang, Qiu, Church 2021, Section 5.1) probes with the tasks and data of Liu et al. 2019,
"Linguistic Knowledge and Transferability of Contextual Representations". The readers below take the
formats of that data as Liu et al.'s ``contextual-repr-analysis`` readers do, without allennlp:

- chunking: CoNLL-2000, ``word POS chunk`` (space-separated), blank line between sentences, BIO tags;
- ner: CoNLL-2003, ``word POS chunk NER``, ``-DOCSTART-`` lines are document breaks, IOB1 tags;
- pos: CoNLL-X (PTB converted), tab-separated ``ID FORM LEMMA CPOSTAG POSTAG ...``; the label is
  POSTAG (the fine PTB tag, column 5), as in Liu et al.; the trailing columns may be missing;
- semtag: PMB semantic tags, ``word<TAB>tag`` lines (word first, as Liu et al.'s reader zips
  ``["form", "tag"]``); a multi-word expression joined by ``~`` (``Prime~Minister``) becomes one token
  per word, each with the expression's tag;
- ef (event factuality, ItHappened/UDS): a JSON object ``{id: {"sentence": [...],
  "predicate_indices": [1-based ...], "labels": [floats]}}``; a regression target on predicate tokens only,
  every other token is unannotated (NaN); sentences without predicates are skipped, as Liu et al. do;
- parent / grandparent / great_grandparent: PTB bracketed trees; each word is labelled with the
  constituent one, two or three levels above its POS node, after removing an empty/TOP/ROOT/VROOT root;
  a word with no such ancestor gets the label ``"None"`` (the string Liu et al.'s reader produces).

Two generic formats take your own task: ``tagging`` (any label per word, accuracy) and ``bio`` (BIO span
tags, span F1): whitespace-separated columns with the word first and the label last, a blank line (or a
``-DOCSTART-`` line) between sentences; the columns in between (POS, chunk, ...) are ignored.

A sentence table (a sentence and its label a row, as TSV or CSV, with or without a header) given to a
token format is refused with a hint at the zoo's sentence format (``format: table`` in a text zoo space):
a header line such as ``sentence<TAB>label``, a tab-separated first field with spaces (tokens never have
spaces) or a comma-separated row of text and a label.

Every reader returns a :class:`TokenSplit`. Every malformed input raises :class:`TaskspaceError` with one
line that names the file and the line (or, for JSON, the sentence key).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import DEMO_FORMATS
from ..errors import TaskspaceError
from . import metrics

CLASSIFICATION = "classification"
REGRESSION = "regression"
NO_ANCESTOR = "None"  # Liu et al.'s label for a word whose ancestor lies above the root

# PTB escapes brackets in words; models should read the brackets themselves (as Liu et al. map them).
PTB_SPECIAL_TOKENS = {"-LRB-": "(", "-RRB-": ")", "-LCB-": "{", "-RCB-": "}", "-LSB-": "[", "-RSB-": "]"}
# Root labels that only wrap the real tree; removing them makes "parent" of a top-level word the clause.
WRAPPER_ROOTS = {"", "TOP", "ROOT", "VROOT"}
ANCESTOR_LEVELS = {"parent": 1, "grandparent": 2, "great_grandparent": 3}


@dataclass(frozen=True)
class TokenSplit:
    """One split of a token-level task.

    ``labels[i][j]`` is the label of word j of sentence i: a string for classification (``None`` where a
    word is unannotated), a float for regression (NaN where unannotated).
    """

    sentences: list[list[str]]
    labels: list[list]
    kind: str = CLASSIFICATION
    source: str = ""  # file (or description) it came from, for error messages

    def __post_init__(self):
        if self.kind not in (CLASSIFICATION, REGRESSION):
            raise TaskspaceError(f"{self.source}: kind must be classification or regression, got {self.kind!r}")
        if len(self.sentences) != len(self.labels):
            raise TaskspaceError(
                f"{self.source}: {len(self.sentences)} sentences but {len(self.labels)} label sequences"
            )
        for i, (words, labels) in enumerate(zip(self.sentences, self.labels)):
            if len(words) != len(labels):
                raise TaskspaceError(f"{self.source}: sentence {i} has {len(words)} words but {len(labels)} labels")
            if not words:
                raise TaskspaceError(f"{self.source}: sentence {i} is empty")

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def n_words(self) -> int:
        return sum(len(words) for words in self.sentences)

    def annotated(self) -> list[list[bool]]:
        """Per word: whether it carries a label (the head trains and is scored only on those)."""
        return [[is_annotated(label) for label in labels] for labels in self.labels]

    @property
    def n_annotated(self) -> int:
        return sum(map(sum, self.annotated()))

    def label_set(self) -> list[str]:
        """Sorted distinct labels of a classification split (unannotated words left out)."""
        if self.kind != CLASSIFICATION:
            raise TaskspaceError(f"{self.source}: a regression split has no label set")
        return sorted({label for labels in self.labels for label in labels if label is not None})


def is_annotated(label) -> bool:
    """A word is unannotated when its label is None or a float NaN."""
    if label is None:
        return False
    return not (isinstance(label, float) and math.isnan(label))


def _open_lines(path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its newline); a missing file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise TaskspaceError(f"{path}: task file not found")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip("\r\n")


def _finish(path, sentences, labels, kind=CLASSIFICATION) -> TokenSplit:
    if not sentences:
        raise TaskspaceError(f"{path}: no sentences in task file")
    return TokenSplit(sentences=sentences, labels=labels, kind=kind, source=str(path))


_SPAN_TAG = re.compile(r"^(O|[BI]-\S+)$")


def _check_span_tag(path, number, tag, scheme):
    # Both BIO and IOB1 use only O, B-X and I-X; a stray tag (e.g. "NP" or "S-PER") means a wrong column.
    if not _SPAN_TAG.match(tag):
        raise TaskspaceError(f"{path}:{number}: tag {tag!r} is not O, B-<type> or I-<type> ({scheme})")


# A sentence table (one sentence and its label a row) given to a token format would read as one long sentence
# of each row's first word (issue 17); these signals tell it apart from one-word-a-line files.
_HEADER_TEXT = {"sentence", "sentences", "text", "sentence1", "review", "document", "content"}
_HEADER_LABEL = {"label", "labels", "class", "category", "sentiment", "target", "score"}
# a comma-separated row: a double-quoted field with a space, or a last whitespace field like `works,neg`
_CSV_ROW = re.compile(r'^\s*"(?:[^"]|"")*\s(?:[^"]|"")*"\s*,|\S,[^\s,]+\s*$')
SENTENCE_FORMATS_HINT = (
    "for a sentence-level task (text and a label a row) use `format: table` in a text zoo space "
    "(zoos.<name>.tasks.<task>: {format: table, train: ..., text: <column>, label: <column>})"
)


def _refuse_sentence_table(path, number: int, line: str, first: bool, header_only: bool = False) -> None:
    """A one-line error when a token file's line looks like a row of a sentence table (a header, TSV, CSV).

    ``first``: the file's first non-blank line (only it can be a header); ``header_only``: check just that
    (semtag's word field may hold several words, which its reader splits).
    """
    cells = [cell.strip('"').lower() for cell in re.split(r"[\t,\s]+", line.strip())]
    if first and cells[0] in _HEADER_TEXT and _HEADER_LABEL & set(cells[1:]):
        reason = f"its first line {line.strip()!r} is a table header"
    elif header_only:
        return
    elif "\t" in line and len(line.split("\t")[0].split()) > 1:
        # tokens never contain spaces in tab-separated CoNLL-like files: the first field is a sentence
        reason = f"the first tab-separated field {line.split(chr(9))[0].strip()[:40]!r} has several words"
    elif "\t" not in line and len(line.split()) > 2 and _CSV_ROW.search(line):
        reason = "it is a comma-separated row of text and a label"
    else:
        return
    raise TaskspaceError(
        f"{path}:{number}: this looks like a sentence table, not a token file (one word a line): {reason}; "
        f"{SENTENCE_FORMATS_HINT}"
    )


def _read_columns(path, n_fields: int | None, label_field: int, what: str, scheme: str | None) -> TokenSplit:
    """CoNLL-2000/2003 style: whitespace-separated columns, blank lines (and -DOCSTART-) end sentences.

    ``n_fields`` None takes any number of columns from 2 on; ``scheme`` None takes any label.
    """
    sentences, labels = [], []
    words, tags = [], []

    def flush():
        if words:
            sentences.append(list(words))
            labels.append(list(tags))
            words.clear()
            tags.clear()

    first = True
    for number, line in _open_lines(path):
        fields = line.split()
        if not fields:
            flush()
            continue
        _refuse_sentence_table(path, number, line, first)
        first = False
        if fields[0] == "-DOCSTART-":  # a document break in CoNLL-2003, never a word
            flush()
            continue
        if n_fields is None and len(fields) < 2:
            raise TaskspaceError(f"{path}:{number}: expected at least 2 fields ({what}), got 1")
        if n_fields is not None and len(fields) != n_fields:
            raise TaskspaceError(f"{path}:{number}: expected {n_fields} fields ({what}), got {len(fields)}")
        if scheme:
            _check_span_tag(path, number, fields[label_field], scheme)
        words.append(fields[0])
        tags.append(fields[label_field])
    flush()
    return _finish(path, sentences, labels)


def read_conll2000_chunking(path) -> TokenSplit:
    """CoNLL-2000 chunking: ``word POS chunk`` lines, BIO chunk tags as labels."""
    return _read_columns(path, 3, 2, "word POS chunk", "BIO")


def read_conll2003_ner(path) -> TokenSplit:
    """CoNLL-2003 NER: ``word POS chunk NER`` lines, ``-DOCSTART-`` skipped, IOB1 NER tags as labels."""
    return _read_columns(path, 4, 3, "word POS chunk NER", "IOB1")


def read_word_label(path) -> TokenSplit:
    """Your own tagging task: ``word [other columns] label`` lines, any label."""
    return _read_columns(path, None, -1, "word ... label", None)


def read_word_bio(path) -> TokenSplit:
    """Your own span task: ``word [other columns] tag`` lines, BIO (IOB2) span tags."""
    return _read_columns(path, None, -1, "word ... tag", "BIO")


def read_conllx_pos(path) -> TokenSplit:
    """CoNLL-X, tab-separated ``ID FORM LEMMA CPOSTAG POSTAG [FEATS HEAD DEPREL PHEAD PDEPREL]``.

    The label is POSTAG (column 5), the fine PTB tag, as in Liu et al.
    """
    sentences, labels = [], []
    words, tags = [], []
    for number, line in _open_lines(path):
        if not line.strip():
            if words:
                sentences.append(words)
                labels.append(tags)
                words, tags = [], []
            continue
        if line.startswith("#"):  # comment lines, as Liu et al.'s reader allows
            continue
        fields = line.split("\t")
        if not 5 <= len(fields) <= 10:
            raise TaskspaceError(
                f"{path}:{number}: expected 5 to 10 tab-separated CoNLL-X columns "
                f"(ID FORM LEMMA CPOSTAG POSTAG ...), got {len(fields)}"
            )
        if fields[0] != str(len(words) + 1):
            raise TaskspaceError(f"{path}:{number}: token ID {fields[0]!r}, expected {len(words) + 1}")
        if not fields[1] or not fields[4] or fields[4] == "_":
            raise TaskspaceError(f"{path}:{number}: empty FORM or POSTAG column")
        words.append(fields[1])
        tags.append(fields[4])
    if words:
        sentences.append(words)
        labels.append(tags)
    return _finish(path, sentences, labels)


def read_semantic_tagging(path) -> TokenSplit:
    """PMB semantic tags: ``word<TAB>tag`` lines, blank line between sentences; ``a~b`` gives two words."""
    sentences, labels = [], []
    words, tags = [], []
    first = True
    for number, line in _open_lines(path):
        if not line.strip():
            if words:
                sentences.append(words)
                labels.append(tags)
                words, tags = [], []
            continue
        _refuse_sentence_table(path, number, line, first, header_only=True)
        first = False
        fields = line.split("\t")
        if len(fields) != 2 or not fields[1].strip():
            raise TaskspaceError(f"{path}:{number}: expected 'word<TAB>tag', got {len(fields)} tab-separated fields")
        tag = fields[1].strip()
        parts = [part for part in re.split(r"[~\s]+", fields[0]) if part]
        if not parts:
            raise TaskspaceError(f"{path}:{number}: empty word")
        words.extend(parts)
        tags.extend([tag] * len(parts))
    if words:
        sentences.append(words)
        labels.append(tags)
    return _finish(path, sentences, labels)


def read_event_factuality(path) -> TokenSplit:
    """ItHappened event factuality JSON: per-sentence tokens, 1-based predicate indices and their factuality.

    Words that are no predicate get NaN. A predicate listed twice gets the mean of its values (a word has one
    target in a token-level head).
    """
    path = Path(path)
    if not path.is_file():
        raise TaskspaceError(f"{path}: task file not found")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise TaskspaceError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise TaskspaceError(f"{path}: expected a JSON object of sentences keyed by id")
    sentences, labels = [], []
    for key, entry in data.items():
        where = f"{path}: sentence {key!r}"
        if not isinstance(entry, dict):
            raise TaskspaceError(f"{where}: expected an object with sentence, predicate_indices, labels")
        for field in ("sentence", "predicate_indices", "labels"):
            if field not in entry:
                raise TaskspaceError(f"{where}: missing key {field!r}")
        words, indices, values = entry["sentence"], entry["predicate_indices"], entry["labels"]
        if not indices or not values:  # Liu et al. skip sentences with nothing to predict
            continue
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise TaskspaceError(f"{where}: 'sentence' must be a non-empty list of words")
        if len(indices) != len(values):
            raise TaskspaceError(f"{where}: {len(indices)} predicate_indices but {len(values)} labels")
        sums = [0.0] * len(words)
        counts = [0] * len(words)
        for index, value in zip(indices, values):
            if not isinstance(index, int) or not 1 <= index <= len(words):
                raise TaskspaceError(f"{where}: predicate index {index!r} outside 1..{len(words)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TaskspaceError(f"{where}: label {value!r} is not a finite number")
            sums[index - 1] += float(value)
            counts[index - 1] += 1
        sentences.append(list(words))
        labels.append([s / c if c else math.nan for s, c in zip(sums, counts)])
    return _finish(path, sentences, labels, kind=REGRESSION)


# ----- PTB bracketed trees -------------------------------------------------------------------------------


@dataclass
class Tree:
    """A constituency tree node; a preterminal (POS node) has exactly one child, its word (a str)."""

    label: str
    children: list  # Tree or str


_TREE_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def _tree_tokens(path) -> Iterator[tuple[str, int]]:
    """Tokens ``(``, ``)`` and symbols with their line numbers; ``#`` comment lines skipped."""
    for number, line in _open_lines(path):
        if line.lstrip().startswith("#"):
            continue
        for match in _TREE_TOKEN.finditer(line):
            yield match.group(), number


def read_trees(path) -> list[tuple[Tree, int]]:
    """Parse every bracketed tree in a file (one per line or spread over lines) -> [(tree, first line)]."""
    trees = []
    stack: list[Tree] = []
    start = 0
    expect_label = False
    for token, number in _tree_tokens(path):
        if token == "(":
            if not stack:
                start = number
            node = Tree(label="", children=[])
            if stack:
                if any(isinstance(child, str) for child in stack[-1].children):
                    raise TaskspaceError(f"{path}:{number}: node {stack[-1].label!r} mixes a word and subtrees")
                stack[-1].children.append(node)
            stack.append(node)
            expect_label = True
        elif token == ")":
            if not stack:
                raise TaskspaceError(f"{path}:{number}: unbalanced ')' outside any tree")
            node = stack.pop()
            expect_label = False
            if not node.children:
                raise TaskspaceError(f"{path}:{number}: empty constituent ({node.label})")
            if not stack:
                trees.append((node, start))
        else:
            if not stack:
                raise TaskspaceError(f"{path}:{number}: word {token!r} outside any tree")
            node = stack[-1]
            if expect_label:
                node.label = token
                expect_label = False
            else:
                if node.children:
                    raise TaskspaceError(
                        f"{path}:{number}: node {node.label!r} has a word {token!r} besides other children"
                    )
                node.children.append(token)
    if stack:
        raise TaskspaceError(f"{path}:{start}: tree starting here is not closed (missing ')')")
    if not trees:
        raise TaskspaceError(f"{path}: no trees in file")
    return trees


def _strip_wrapper(tree: Tree) -> Tree:
    if tree.label in WRAPPER_ROOTS and len(tree.children) == 1 and isinstance(tree.children[0], Tree):
        return tree.children[0]
    return tree


def ancestor_labels(tree: Tree, levels: int) -> tuple[list[str], list[str]]:
    """Words of a tree and, per word, the label ``levels`` constituents above its POS node."""
    tree = _strip_wrapper(tree)
    words, labels = [], []

    def visit(node: Tree, ancestors: list[str]):
        # ancestors: labels from the root down to node's parent
        if len(node.children) == 1 and isinstance(node.children[0], str):
            word = node.children[0]
            words.append(PTB_SPECIAL_TOKENS.get(word, word))
            labels.append(ancestors[-levels] if len(ancestors) >= levels else NO_ANCESTOR)
            return
        for child in node.children:
            visit(child, ancestors + [node.label])

    visit(tree, [])
    return words, labels


def read_constituency_ancestors(path, ancestor: str = "parent") -> TokenSplit:
    """PTB trees -> per word the label of its POS node's parent, grandparent or great-grandparent."""
    if ancestor not in ANCESTOR_LEVELS:
        raise TaskspaceError(f"ancestor: {ancestor!r} is not one of {', '.join(ANCESTOR_LEVELS)}")
    levels = ANCESTOR_LEVELS[ancestor]
    sentences, labels = [], []
    for tree, _line in read_trees(path):
        words, tags = ancestor_labels(tree, levels)
        sentences.append(words)
        labels.append(tags)
    return _finish(path, sentences, labels)


# ----- writing (demo tasks travel as files, so the readers above exercise them) ---------------------------


def write_conllx(split: TokenSplit, path) -> None:
    """Write a classification split as CoNLL-X (label in POSTAG), readable by :func:`read_conllx_pos`."""
    if split.kind != CLASSIFICATION:
        raise TaskspaceError(f"{path}: only classification splits can be written as CoNLL-X")
    lines = []
    for words, labels in zip(split.sentences, split.labels):
        for j, (word, label) in enumerate(zip(words, labels), start=1):
            if label is None or any(ch.isspace() for ch in word + label):
                raise TaskspaceError(f"{path}: word {word!r} / label {label!r} cannot be written as CoNLL-X")
            lines.append(f"{j}\t{word}\t_\t{label}\t{label}\t_\t_\t_\t_\t_")
        lines.append("")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a killed job never leaves a half-written task file


# ----- registry --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """How to read a task's files and score predictions on them."""

    name: str
    reader: Callable[..., TokenSplit]
    metric: Callable[[Sequence, Sequence], float]
    metric_name: str
    kind: str  # classification | regression

    def read(self, path) -> TokenSplit:
        return self.reader(path)


def _ancestor_reader(ancestor):
    def reader(path):
        return read_constituency_ancestors(path, ancestor)

    reader.__name__ = f"read_constituency_{ancestor}"
    return reader


TASKS: dict[str, TaskSpec] = {
    "chunking": TaskSpec("chunking", read_conll2000_chunking, metrics.span_f1_bio, "span_f1", CLASSIFICATION),
    "ner": TaskSpec("ner", read_conll2003_ner, metrics.span_f1_iob1, "span_f1", CLASSIFICATION),
    "pos": TaskSpec("pos", read_conllx_pos, metrics.word_accuracy, "accuracy", CLASSIFICATION),
    "semtag": TaskSpec("semtag", read_semantic_tagging, metrics.word_accuracy, "accuracy", CLASSIFICATION),
    "ef": TaskSpec("ef", read_event_factuality, metrics.word_pearson, "pearson", REGRESSION),
    **{
        name: TaskSpec(name, _ancestor_reader(name), metrics.word_accuracy, "accuracy", CLASSIFICATION)
        for name in ANCESTOR_LEVELS
    },
    # Generic formats for your own tasks.
    "tagging": TaskSpec("tagging", read_word_label, metrics.word_accuracy, "accuracy", CLASSIFICATION),
    "bio": TaskSpec("bio", read_word_bio, metrics.span_f1_bio, "span_f1", CLASSIFICATION),
    # Demo tasks made from the probe text (taskspace.lm.demo_tasks), written as CoNLL-X.
    **{name: TaskSpec(name, read_conllx_pos, metrics.token_f1, "token_f1", CLASSIFICATION) for name in DEMO_FORMATS},
}


def get_task(name: str) -> TaskSpec:
    """The registered task called ``name``; an unknown name is a one-line error listing the known ones."""
    if name not in TASKS:
        raise TaskspaceError(f"task: {name!r} is not one of {', '.join(TASKS)}")
    return TASKS[name]


def task_spec(fmt: str) -> TaskSpec:
    """The reader and metric of a task format: one of the paper's 8 tasks, a generic or a demo format."""
    return get_task(fmt)


def read_task(fmt: str, path) -> TokenSplit:
    return task_spec(fmt).read(path)


def read_sentences(fmt: str, path) -> list[list[str]]:
    """Only the words of a task file, for feature extraction."""
    return read_task(fmt, path).sentences
