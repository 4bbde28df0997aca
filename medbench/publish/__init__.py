"""The static leaderboard: rendered only from stored results, published atomically.

    <leaderboard>/results/<result_id>.json     the store (written by `publish_results`)
    <leaderboard>/index.html                   one sortable table + SVG chart per task/release/split
    <leaderboard>/submissions/<result_id>.html every metric, error breakdown, per-item table

The whole folder is rebuilt in a temp sibling and swapped in (`io.atomic_dir`): a failure while
scoring or rendering leaves the previous leaderboard exactly as it was.
"""

from medbench.publish.site import publish_results, render_site

__all__ = ["publish_results", "render_site"]
