"""SQL baselines: `abstain` (always null) and `retrieval` (nearest train question, slots refilled).

retrieval: TF-IDF over train questions; for a new question take the most similar train questions
in order; the first whose question, with its slot values turned into capture groups, matches the
new question gives its gold SQL with the new slot values substituted. The nearest train question
being unanswerable means abstain. Below a similarity threshold it abstains; the threshold
maximises the reliability score (+1 correct or correct abstention, 0 abstaining on an answerable
question, -1 wrong) on the held-out train fold (see baselines/__init__.py), with "correct" meaning
the same SQL text after whitespace/case normalisation (no execution, so it is conservative).
"""

from __future__ import annotations

import re
from typing import Any

from medbench.models.baselines import TrainView, split_train

TOP_K = 10


def build_abstain(view: TrainView, seed: int):
    return (lambda item: "null"), {"name": "abstain"}


def _norm_ws(s: str) -> str:
    return " ".join(s.split())


def _norm_sql(s: str | None) -> str | None:
    return None if s is None else _norm_ws(s).rstrip(";").lower()


def question_pattern(question: str, slots: dict[str, Any], normalize: bool = True) -> re.Pattern | None:
    """The train question as a regex whose groups capture each slot value (None if impossible).

    normalize=False keeps the question's exact whitespace: slot values such as MIMIC drug names
    carry double or trailing spaces that the gold SQL's literals keep, so a value captured from a
    whitespace-collapsed question would no longer equal the database value."""
    q = _norm_ws(question) if normalize else question.strip()
    spans: list[tuple[int, int, str]] = []
    # Longest values first, so a value contained in another does not steal its span.
    for name, value in sorted(slots.items(), key=lambda kv: (-len(str(kv[1])), kv[0])):
        v = _norm_ws(str(value)) if normalize else str(value)
        if not v:
            continue
        # Whole words only ("SC" must not match inside "prescribed"); the exact case before any case.
        pat = ("(?<!\\w)" if v[0].isalnum() or v[0] == "_" else "") + re.escape(v) + \
              ("(?!\\w)" if v[-1].isalnum() or v[-1] == "_" else "")
        found = next((m for flags in (0, re.IGNORECASE) for m in re.finditer(pat, q, flags=flags)
                      if all(m.end() <= a or m.start() >= b for a, b, _ in spans)), None)
        if found is not None:
            spans.append((found.start(), found.end(), name))
    if not spans:
        return None
    spans.sort()
    parts, pos, used = [], 0, set()
    for i, (a, b, name) in enumerate(spans):
        parts.append(re.escape(q[pos:a]))
        group = re.sub(r"\W", "_", f"s{i}_{name}")
        parts.append(f"(?P<{group}>.+?)")
        used.add(group)
        pos = b
    parts.append(re.escape(q[pos:]))
    try:
        return re.compile("".join(parts), flags=re.IGNORECASE | re.DOTALL)
    except re.error:
        return None


def _sql_literal(value: str) -> str:
    return value.replace("'", "''")  # standard SQL quoting: a question cannot break out of a literal


def substitute(sql: str, old: Any, new: str) -> str | None:
    """Replace slot value `old` by `new` in `sql`; None if `old` is not found there."""
    o = str(old)
    quoted = re.compile(r"'" + re.escape(_sql_literal(o)) + r"'", flags=re.IGNORECASE)
    if quoted.search(sql):
        return quoted.sub(lambda m: "'" + _sql_literal(new) + "'", sql)
    if re.fullmatch(r"-?\d+(\.\d+)?", o):
        if not re.fullmatch(r"-?\d+(\.\d+)?", new.strip()):
            return None  # a number slot must get a number: never paste text into SQL unquoted
        pat = re.compile(r"(?<![\w.])" + re.escape(o) + r"(?![\w.])")
        if pat.search(sql):
            return pat.sub(new.strip(), sql)
    if o in sql:  # inside a larger literal (e.g. LIKE '%value%')
        return sql.replace(o, _sql_literal(new))
    return None


class Retriever:
    def __init__(self, pairs: list[tuple[dict, dict]]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.golds = [g for _, g in pairs]
        self.raw_questions = [str(it.get("question", "")) for it, _ in pairs]
        self.questions = [_norm_ws(q) for q in self.raw_questions]
        self.vec = None
        if self.questions:
            self.vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
            self.matrix = self.vec.fit_transform(self.questions)
        self.patterns: dict[tuple[int, bool], re.Pattern | None] = {}
        self._postings = None

    def _nearest(self, q: str) -> tuple[list[int], list[float]]:
        """The TOP_K train questions nearest `q`, by (-similarity, index): the sparse product
        touches only train questions sharing a term with q (an inverted index), and only its
        non-zero similarities are ranked, so a query costs O(postings), not O(train items)."""
        import numpy as np

        if self._postings is None:  # term -> train questions (CSR of the transpose), built once
            self._postings = self.matrix.T.tocsr()
        row = (self.vec.transform([q]) @ self._postings).tocoo()
        idx, val = row.col, row.data
        keep = val != 0
        idx, val = idx[keep], val[keep]
        top = np.lexsort((idx, -val))[:TOP_K]
        order, sims = [int(i) for i in idx[top]], [float(v) for v in val[top]]
        if len(order) < TOP_K:  # ties at similarity 0: lowest indices first, as a full sort gives
            taken = set(order)
            for i in range(self.matrix.shape[0]):
                if len(order) >= min(TOP_K, self.matrix.shape[0]):
                    break
                if i not in taken:
                    order.append(i)
                    sims.append(0.0)
        return order, sims

    def _pattern(self, i: int, normalize: bool) -> re.Pattern | None:
        if (i, normalize) not in self.patterns:
            g = self.golds[i]
            self.patterns[i, normalize] = question_pattern(g.get("question") or self.raw_questions[i],
                                                           g.get("slots") or {}, normalize)
        return self.patterns[i, normalize]

    def answer(self, question: str) -> tuple[str | None, float]:
        """(sql or None, similarity of the nearest train question)."""
        if self.vec is None:
            return None, 0.0
        q = _norm_ws(question)
        order, sims = self._nearest(q)
        best = float(sims[0]) if order else 0.0
        if order and not self.golds[order[0]].get("answerable", True):
            return None, best
        for i in order:
            g = self.golds[i]
            if not g.get("answerable", True) or not g.get("sql"):
                continue
            # Exact whitespace first (keeps values such as "Sodium Chloride 0.9%  Flush" intact),
            # then the whitespace-collapsed form for questions typed with other spacing.
            sql = self._fill(i, question.strip(), False)
            if sql is None:
                sql = self._fill(i, q, True)
            if sql is not None:
                return sql, best
        return None, best

    def _fill(self, i: int, q: str, normalize: bool) -> str | None:
        g = self.golds[i]
        slots = g.get("slots") or {}
        sql = g["sql"]
        if not slots:
            return sql  # a question with no slots: its SQL is the answer as is
        pat = self._pattern(i, normalize)
        if pat is None:
            return None
        m = pat.fullmatch(q)
        if m is None:
            return None
        for group, new in m.groupdict().items():
            name = group.split("_", 1)[1]
            old = slots.get(name)
            if old is None:
                continue
            if str(old) == new or (normalize and _norm_ws(str(old)) == new):
                continue  # the same value (up to the whitespace the question lost): keep the original
            filled = substitute(sql, old, new)
            if filled is None:
                return None
            sql = filled
        return sql


def _reliability(pred: str | None, gold: dict) -> int:
    if not gold.get("answerable", True):
        return 1 if pred is None else -1
    if pred is None:
        return 0
    return 1 if _norm_sql(pred) == _norm_sql(gold.get("sql")) else -1


def choose_threshold(fit: list, tune: list) -> float:
    """Similarity threshold maximising the reliability score on the tuning fold (0 if no fold)."""
    if not fit or not tune:
        return 0.0
    r = Retriever(fit)
    scored = []
    for item, gold in tune:
        sql, sim = r.answer(str(item.get("question", "")))
        scored.append((sim, _reliability(sql, gold), _reliability(None, gold)))
    best_t, best = 0.0, None
    for t in sorted({0.0, *(s for s, _, _ in scored)}):
        total = sum(ans if sim >= t else abst for sim, ans, abst in scored)
        if best is None or total > best:  # ties keep the lower threshold (answer more)
            best_t, best = t, total
    return round(best_t, 6)


def build_retrieval(view: TrainView, seed: int):
    pairs = view.train_pairs()
    fit, tune = split_train(pairs)
    threshold = choose_threshold(fit, tune)
    retriever = Retriever(pairs)

    def predict(item: dict) -> str:
        sql, sim = retriever.answer(str(item.get("question", "")))
        if sql is None or sim < threshold:
            return "null"
        return f"```sql\n{sql}\n```"

    return predict, {"name": "retrieval", "threshold": threshold, "train_items": len(pairs),
                     "tuning_items": len(tune)}
