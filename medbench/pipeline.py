"""validate → score → publish: the one module above both `medbench.scoring` and `medbench.publish`
(scoring never imports publish; publish reads results, never scores)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medbench.scoring import score as _score
from medbench.scoring.stats import DEFAULT_RESAMPLES, DEFAULT_SEED
from medbench.scoring.submission import validate_submission


@dataclass
class ScoreOutcome:
    result: dict
    published: bool
    leaderboard: Path | None
    rank: int | None


def score_file(path: str | Path, *, benchmark: str | Path | None = None,
               leaderboard: str | Path = "leaderboard", publish: bool = True,
               workers: int | None = None, timeout_s: float | None = None, judge: str | None = None,
               api_base: str | None = None, n_resamples: int = DEFAULT_RESAMPLES,
               seed: int = DEFAULT_SEED, show_progress: bool = True,
               official_denominator: bool = False,
               allow_providers: tuple[str, ...] = ()) -> ScoreOutcome:
    """validate → score → (publish). Raises SubmissionInvalid before anything is scored or written."""
    if publish:
        from medbench.io import check_out_dir

        check_out_dir(leaderboard, "--leaderboard")  # before scoring (and its progress bar)
    sub = validate_submission(path, benchmark)
    result = _score.score(sub, workers=workers, timeout_s=timeout_s, judge=judge, api_base=api_base,
                          n_resamples=n_resamples, seed=seed, show_progress=show_progress,
                          official_denominator=official_denominator,
                          allow_providers=allow_providers)
    if not publish:
        return ScoreOutcome(result, False, None, None)
    from medbench.publish import publish_results

    ranks = publish_results(leaderboard, [result], show_progress=show_progress)
    return ScoreOutcome(result, True, Path(leaderboard), ranks.get(result["result_id"]))
