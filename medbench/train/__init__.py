"""Reference baselines trained with SFT warm-up and GRPO (TRL); rewards reuse the task scorers.

torch/transformers/trl/datasets are the `train` extra: import this package's submodules only
when training is asked for.
"""
