"""Task and probe data of zoo spaces in the field's formats (issue 17).

- :mod:`.images`: image probe folders or list files, ImageFolder trees, ``path label`` tables, ``load_image``;
- :mod:`.text`: CSV/TSV/JSONL text tables (text, optional pair, label: classes or real values), text probes;
- :mod:`.tables`: the table reading both share (formats by suffix, ``file:line`` in every error);
- :mod:`.demo`: the offline demo's data written from installed packages (scikit-learn's digits as an
  ImageFolder, gensim's polarity sentences as train/dev/test tables).

A task is ``dict[split -> ImageSplit | TextSplit]`` with ``train`` and ``test``, and ``dev`` when given.
"""
