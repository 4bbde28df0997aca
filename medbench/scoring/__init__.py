"""Scoring: submission validation, task scoring, patient-clustered bootstrap statistics, and the
results store the leaderboard is rendered from.

- `submission`: validate a submission file against its release (every problem, with line numbers);
- `stats`: patient-clustered bootstrap intervals and interval-overlap ranks;
- `score`: validate → family scorer → statistics → result (→ publish);
- `results`: the result JSON Schema, reading and writing `<leaderboard>/results/<id>.json`.
"""
