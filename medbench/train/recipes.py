"""The learnable offline recipe: a small synthetic SQL release restricted to a few templates, a
tiny local model pre-trained by SFT, then GRPO. Shared by the proof-of-learning test
(tests/test_train_learning.py) and bench/train.py so both measure the same run.

The templates are long-standing ones (not new ids): two answerable demographics questions whose
gold SQL reads one column of one patient, and four unanswerable ones. What GRPO can learn there:
when to abstain (unanswerable questions) and when to answer, and the exact SQL form; the
abstention guard and the selection bounds keep "abstain on everything" from winning.

No `--rl-patient-fraction` here: GRPO on patients held out of SFT was tried (docs/BENCHMARKS.md,
attempt 4) and made both claims fail on this tiny model (it collapses to abstaining).
"""

from __future__ import annotations

TINY_SQL_PATIENTS = 40
TINY_SQL_SEED = 0
TINY_SQL_TEMPLATES = (
    "demographics.gender", "demographics.marital_status",  # both asked in train (not held out)
    "unanswerable.blood_type", "unanswerable.religion", "unanswerable.email", "unanswerable.genetic_testing",
)
GRPO_STEPS = 20
EVAL_EVERY = 10
#: `medbench train` options of the recipe (besides --benchmark/--model/--out)
TINY_SQL_TRAIN_ARGS = (
    "--task", "sql", "--seed", "0", "--sql-templates", ",".join(TINY_SQL_TEMPLATES),
    "--sft-epochs", "3", "--sft-learning-rate", "5e-3", "--learning-rate", "1e-3", "--lr-scheduler", "constant",
    "--grpo-steps", str(GRPO_STEPS), "--eval-every", str(EVAL_EVERY), "--num-generations", "4",
    "--batch-size", "16", "--max-completion-length", "24", "--beta", "0.01", "--dev-limit", "200",
)
