"""Kept for old imports: the rewards live with the scorers they are built on
(`medbench.tasks.rewards`; each family's `reward_funcs` hook assembles them for TRL)."""

import sys

from medbench.tasks import rewards as _rewards

sys.modules[__name__] = _rewards  # one module object: monkeypatching either name patches both
