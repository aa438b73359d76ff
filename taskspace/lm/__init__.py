"""LM track: word features from HuggingFace checkpoints and token-level probing tasks."""
