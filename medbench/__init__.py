"""medbench: benchmark generation and leaderboard harness for clinical LLMs on MIMIC-IV."""

__version__ = "0.1.0"
