"""Model output → answer text or abstention, and the qa prompt.

`parse_output(raw) -> (prediction, parse_error)` never raises. The abstention convention is the
SQL family's (`medbench.tasks.sql.parse`), applied to an answer instead of a query:
- the answer is the text after the last line starting with `Answer:` (case-insensitive) when there
  is one, else the whole output; surrounding ``` fences and quotes are removed;
- a bare `null` / `None` / `nil` (any case, quotes and a final period allowed) is an abstention
  (None), as is an answer whose text is a principled refusal — the SQL parser's refusal patterns
  ("cannot be answered", "not available in the record", "no information", "I don't know", …);
- an empty output is prediction "" with parse_error set: scored as a wrong answer, never as an
  abstention (an empty or garbled output must not earn the abstention credit).
A prediction in a submission is a string (the answer) or null (abstain); the string "null" is an
abstention too (`is_abstention`), exactly as for SQL.
"""

from __future__ import annotations

import re
from typing import Any

from medbench.tasks.base import render_template
from medbench.tasks.sql.normalize import is_abstention
from medbench.tasks.sql.parse import _NULL, _REFUSAL

__all__ = ["is_abstention", "parse_output", "render_prompt"]

SYSTEM_TEMPLATE = "qa_system.j2"
USER_TEMPLATE = "qa_user.j2"
_ANSWER_LINE = re.compile(r"^[ \t>*_#]*answer[ \t*_]*:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"^```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)
#: refusals are recognised only in short answers (a long answer is an answer, right or wrong)
REFUSAL_MAX_CHARS = 300


def parse_output(raw: Any) -> tuple[str | None, str | None]:
    """(answer text | None for abstention, parse error or None). Never raises."""
    try:
        return _parse(raw)
    except Exception as e:  # noqa: BLE001 -- defensive: model output must never crash a run
        return "", f"unparseable output ({type(e).__name__})"


def _parse(raw: Any) -> tuple[str | None, str | None]:
    if raw is None:
        return "", "no output"
    text = str(raw).strip()
    last = None
    for last in _ANSWER_LINE.finditer(text):  # the last "Answer:" marker wins
        pass
    if last is not None:  # everything after it (a list answer may continue on later lines)
        text = (last.group(1) + text[last.end():]).strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1).strip()
    if not text:
        return "", "empty output"
    if _NULL.match(text):
        return None, None
    if len(text) <= REFUSAL_MAX_CHARS and _REFUSAL.search(text):
        return None, None
    return text, None


def render_prompt(item: dict, release: Any = None) -> list[dict]:
    """Chat messages: the system rules and the record, then the question and its answer type."""
    return [
        {"role": "system", "content": render_template(SYSTEM_TEMPLATE).strip() + "\n"},
        {"role": "user", "content": render_template(USER_TEMPLATE, item=item).strip() + "\n"},
    ]
