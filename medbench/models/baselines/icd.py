"""ICD baselines: `frequency` (the k most frequent train codes) and `tfidf` (TF-IDF features,
one-vs-rest logistic regression, probability threshold tuned for micro-F1 on the held-out train
fold, then refitted on all train; output ranked by probability)."""

from __future__ import annotations

import json
import statistics
import warnings
from collections import Counter

from medbench.models.baselines import TrainView, split_train

THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)]


def _codes(gold: dict) -> list[str]:
    return [str(c) for c in gold.get("codes") or []]


def build_frequency(view: TrainView, seed: int):
    golds = [g for _, g in view.train_pairs()]
    counts = Counter(c for g in golds for c in dict.fromkeys(_codes(g)))
    k = round(statistics.median([len(_codes(g)) for g in golds])) if golds else 0
    top = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
    text = json.dumps(top)
    return (lambda item: text), {"name": "frequency", "k": k, "codes": top}


class _Tfidf:
    def __init__(self, pairs: list[tuple[dict, dict]], seed: int):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.preprocessing import MultiLabelBinarizer

        texts = [str(it.get("text") or "") for it, _ in pairs]
        labels = [sorted(set(_codes(g))) for _, g in pairs]
        self.mlb = MultiLabelBinarizer(classes=sorted({c for ls in labels for c in ls}))
        self.clf = None
        if not texts or not self.mlb.classes:
            return
        y = self.mlb.fit_transform(labels)
        self.vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=50000,
                                   strip_accents="unicode")
        x = self.vec.fit_transform(texts)
        self.clf = OneVsRestClassifier(LogisticRegression(C=10.0, solver="liblinear", random_state=seed))
        with warnings.catch_warnings():  # labels present in every/no doc: sklearn warns, predicts constant
            warnings.simplefilter("ignore")
            self.clf.fit(x, y)

    def proba(self, texts: list[str]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.clf.predict_proba(self.vec.transform(texts))

    def ranked(self, text: str, threshold: float) -> list[str]:
        if self.clf is None:
            return []
        p = self.proba([text])[0]
        keep = [(float(p[j]), c) for j, c in enumerate(self.mlb.classes_) if p[j] >= threshold]
        return [c for _, c in sorted(keep, key=lambda t: (-t[0], t[1]))]


def micro_f1(preds: list[set], golds: list[set]) -> float:
    tp = sum(len(p & g) for p, g in zip(preds, golds))
    fp = sum(len(p - g) for p, g in zip(preds, golds))
    fn = sum(len(g - p) for p, g in zip(preds, golds))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def choose_threshold(fit: list, tune: list, seed: int) -> float:
    if not fit or not tune:
        return 0.5
    model = _Tfidf(fit, seed)
    if model.clf is None:
        return 0.5
    probs = model.proba([str(it.get("text") or "") for it, _ in tune])
    golds = [set(_codes(g)) for _, g in tune]
    best_t, best = 0.5, -1.0
    for t in THRESHOLDS:
        preds = [{c for j, c in enumerate(model.mlb.classes_) if row[j] >= t} for row in probs]
        f = micro_f1(preds, golds)
        if f > best + 1e-12:
            best_t, best = t, f
    return best_t


def build_tfidf(view: TrainView, seed: int):
    pairs = view.train_pairs()
    fit, tune = split_train(pairs)
    threshold = choose_threshold(fit, tune, seed)
    model = _Tfidf(pairs, seed)
    return (lambda item: json.dumps(model.ranked(str(item.get("text") or ""), threshold))), {
        "name": "tfidf", "threshold": threshold, "train_items": len(pairs), "tuning_items": len(tune),
        "labels": len(model.mlb.classes)}
