"""The one registry mechanism and the task-family contract (medbench/registry.py,
medbench/tasks/contract.py): lazy entries, 'unknown X; available: ...' errors, registration that
refuses an incomplete family, and every consumer asking the family instead of a table of its own."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from medbench.errors import UserError
from medbench.registry import Registry
from medbench.splits import split_for_subject
from medbench.tasks import FAMILIES, families, get_family
from medbench.tasks.contract import MetricSpec, Record, TaskFamily, validate_family

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ the registry

def test_registry_lazy_target_and_unknown_name(monkeypatch):
    mod = types.ModuleType("_medbench_registry_probe")
    mod.THING = object()
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    reg: Registry = Registry("widget")
    reg.register("b", f"{mod.__name__}:THING")
    reg.register("a", "json:dumps")
    assert reg.names() == ["a", "b"] and "a" in reg and "zzz" not in reg
    assert reg.get("b") is mod.THING
    with pytest.raises(UserError, match=r"^unknown widget 'c'; available: a, b$"):
        reg.get("c")


def test_registry_decorator_and_validation_at_registration():
    def only_callables(name, obj):
        if not callable(obj):
            raise UserError(f"widget '{name}' is not callable")
        return obj

    reg: Registry = Registry("widget", validate=only_callables)

    @reg.register("f")
    def f():
        return 1

    assert reg.get("f") is f
    with pytest.raises(UserError, match="widget 'x' is not callable"):
        reg.register("x", 42)
    reg.register("lazy", "json:__doc__")  # a string: checked when first loaded
    with pytest.raises(UserError, match="widget 'lazy' is not callable"):
        reg.get("lazy")


def test_patching_a_target_replaces_what_was_loaded(monkeypatch):
    real = get_family("icd")
    monkeypatch.setitem(FAMILIES.targets, "icd", "medbench.tasks.sql")
    with pytest.raises(UserError, match="name is 'sql', registered as 'icd'"):
        get_family("icd")
    monkeypatch.undo()
    assert get_family("icd") is real


def test_unknown_task_lists_the_registered_ones():
    with pytest.raises(UserError, match=r"unknown task 'bogus'; available: conversation, icd, qa, sql"):
        get_family("bogus")


# ---------------------------------------------------------------------------- the contract

class _Item(Record):
    item_id: str


class GoodFamily(TaskFamily):
    name = "good"
    item_model = gold_model = _Item
    prediction_type = str | None
    prompt_templates = ()
    metric_specs = (MetricSpec("acc", "Accuracy", "pct", "right / items"),)
    headline_metric = "acc"
    higher_is_better = True

    def build(self, ctx):
        return []

    def render_prompt(self, item, release):
        return [{"role": "user", "content": item["item_id"]}]

    def parse(self, raw):
        return raw, None

    def score_item(self, item, gold, prediction, ctx):
        return {"item_id": item["item_id"], "score": 1.0}

    def aggregate(self, records):
        return {"acc": 1.0}


def test_a_complete_family_registers_and_every_consumer_sees_it(monkeypatch):
    monkeypatch.setitem(FAMILIES.targets, "good", GoodFamily())
    fam = get_family("good")
    from medbench.submission_schema import prediction_error
    from medbench.tasks.schemas import json_schema

    assert json_schema("items-good")["title"] == "_Item"
    assert prediction_error("good", 3).startswith("prediction:") and prediction_error("good", None) is None
    from medbench.publish.describe import metric_info, task_card

    assert metric_info("acc")["label"] == "Accuracy"
    assert task_card("good")["title"] == "good"  # no card declared: the bare one
    assert fam.trainable is False


def test_registering_a_broken_family_names_every_missing_part(monkeypatch):
    class Broken:
        name = "broken"
        headline_metric = "f1"
        higher_is_better = True

        def parse(self, raw):
            return raw, None

    with pytest.raises(UserError) as e:
        FAMILIES.register("broken", Broken())
    msg = str(e.value)
    assert msg.startswith("task family 'broken' is incomplete: missing ")
    for part in ("item_model", "gold_model", "prediction_type", "prompt_templates", "metric_specs",
                 "build", "render_prompt", "aggregate", "score_items (or score_item)"):
        assert part in msg, part
    assert "broken" not in FAMILIES


@pytest.mark.parametrize("change,needle", [
    ({"headline_metric": "nope"}, "headline metric 'nope' has no MetricSpec"),
    ({"item_model": dict}, "item_model is not a pydantic model"),
    ({"metric_specs": ("acc",)}, "not a MetricSpec"),
    ({"prompt_templates": ["a.j2"]}, "prompt_templates is not a tuple"),
    ({"item_sums": lambda self, r: {}}, "item_sums and aggregate_sums come together"),
    ({"name": "other"}, "name is 'other', registered as 'good'"),
])
def test_inconsistent_family_is_refused(change, needle):
    bad = type("Bad", (GoodFamily,), change)()
    with pytest.raises(UserError, match=re.escape(needle)):
        validate_family("good", bad)


def test_a_lazily_registered_broken_module_fails_on_first_use(monkeypatch):
    mod = types.ModuleType("_medbench_broken_family")
    mod.FAMILY = object()
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(FAMILIES.targets, "ghost", mod.__name__)
    with pytest.raises(UserError, match="task family 'ghost' is incomplete"):
        get_family("ghost")


def test_real_families_declare_their_parts():
    for fam in families():
        validate_family(fam.name, fam)
        assert fam.card and set(fam.card) == {"title", "asks", "input", "output", "headline"}
        assert fam.headline_metric in {s.name for s in fam.metric_specs}
        for t in fam.prompt_templates:
            assert (REPO / "prompts" / t).is_file(), t
        for name, target in fam.baselines.items():
            from medbench.registry import import_target

            assert callable(import_target(target)), (fam.name, name)
    assert [n for n in FAMILIES if get_family(n).trainable] == ["sql", "icd"]


# ------------------------------------------------------------------------------ backends

def test_model_backends_by_prefix(monkeypatch):
    from medbench.models import BACKENDS, ApiModel, backend_of, load_model

    assert BACKENDS.names() == ["baseline", "hf", "vllm"]
    assert backend_of("hf:/x") == ("hf", "/x") and backend_of("ollama/llama3:8b") == (None, "ollama/llama3:8b")
    assert isinstance(load_model("openai/gpt-4.1-mini"), ApiModel)
    seen = {}

    def fake(spec, rest, **opts):
        seen.update(spec=spec, rest=rest, temperature=opts["temperature"])
        return "a model"

    monkeypatch.setitem(BACKENDS.targets, "fake", fake)
    assert load_model("fake:thing", temperature=0.5) == "a model"
    assert seen == {"spec": "fake:thing", "rest": "thing", "temperature": 0.5}


def test_baseline_names_come_from_the_family():
    from medbench.models.baselines import baselines_of

    assert baselines_of("sql").names() == ["abstain", "retrieval"]
    with pytest.raises(UserError, match=r"unknown baseline 'x' for task icd; available: baseline:frequency, "
                                        r"baseline:tfidf"):
        baselines_of("icd").get("x")


def test_judge_takes_any_model_from_the_factory(monkeypatch):
    """A non-API Model works as the judge: its text is validated against the rubric's model."""
    import json

    import medbench.tasks.conversation.judge as J
    from medbench.models import Generation, Model

    class Canned(Model):
        kind, spec = "local", "canned:judge"

        def generate_batch(self, batch):
            return [Generation(text=json.dumps({"accuracy": 5, "completeness": 4, "plausibility": 3}))
                    for _ in batch]

    monkeypatch.setattr(J, "_judgeable", lambda pred, packet: pred is not None)
    monkeypatch.setattr(J, "judge_messages", lambda packet, conv: [{"role": "user", "content": "rate"}])
    item = {"item_id": "c1", "packet": {}}
    res = J.judge_conversations([item, {**item, "item_id": "c2"}], {"c1": {"turns": []}, "c2": None}, Canned())
    assert res["judge_model"] == "canned:judge" and res["judge_n"] == 1 and res["judge_failed"] == 1
    assert res["judge_accuracy"] == 5 and res["judge_plausibility"] == 3


# ------------------------------------------------------------------- metric facts in the docs

def _doc_directions() -> dict[str, str]:
    """metric -> the 'dir.' cell of its row in docs/METRICS.md's tables."""
    out, dir_col = {}, None
    for line in (REPO / "docs" / "METRICS.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            dir_col = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if "dir." in cells:
            dir_col = cells.index("dir.")
            continue
        if dir_col is None or len(cells) <= dir_col:
            continue
        for name in re.findall(r"`([A-Za-z0-9_]+)`", cells[0]):
            out.setdefault(name, cells[dir_col])
    return out


def test_metrics_doc_agrees_with_the_families_metric_specs():
    docs = _doc_directions()
    arrows = {"higher": "↑", "lower": "↓", "none": "—"}
    wrong = [(s.name, s.direction, docs[s.name]) for f in families() for s in f.metric_specs
             if s.name in docs and not docs[s.name].startswith(arrows[s.direction])]
    assert not wrong, wrong
    undocumented = [s.name for f in families() for s in f.metric_specs if s.name not in docs]
    assert len(undocumented) <= 6, undocumented  # judge ratings and a few sub-scores live in prose


# ---------------------------------------------------------------- a family building on another

class _Counting(GoodFamily):
    def __init__(self, name, needs=None):
        self.name, self.needs, self.calls = name, needs, 0

    def build(self, ctx):
        self.calls += 1
        if self.needs:
            up = ctx.output_of(self.needs)
            return [({"item_id": f"{self.name}-{it['item_id']}", "task": self.name, "subject_id": it["subject_id"],
                      "split": it["split"]}, {"item_id": f"{self.name}-{it['item_id']}"}) for it in up.items]
        return [({"item_id": f"{s}", "task": self.name, "subject_id": s, "split": split_for_subject(s)},
                 {"item_id": f"{s}"}) for s in ctx.subject_ids]


def test_output_of_builds_a_needed_family_once_per_build(monkeypatch, tmp_path):
    from medbench.build import build_tasks

    base, derived = _Counting("base"), _Counting("derived", needs="base")
    monkeypatch.setitem(FAMILIES.targets, "base", base)
    monkeypatch.setitem(FAMILIES.targets, "derived", derived)
    # asked alone: the needed family is built for it but not released
    (tmp_path / "a").mkdir()
    out = build_tasks(None, [1, 2, 3], {"seed": 0}, ["derived"], 0, tmp_path / "a", show_progress=False)
    assert list(out) == ["derived"] and base.calls == 1
    assert [it["item_id"] for it in out["derived"].items] == ["derived-1", "derived-2", "derived-3"]
    # asked together, in either order: the needed family is built once and its output shared
    for order in (["derived", "base"], ["base", "derived"]):
        base.calls = 0
        d = tmp_path / "-".join(order)
        d.mkdir()
        out2 = build_tasks(None, [1, 2, 3], {"seed": 0}, order, 0, d, show_progress=False)
        assert base.calls == 1 and sorted(out2) == ["base", "derived"]
        assert out2["derived"].items == out["derived"].items


def test_output_of_refuses_a_cycle(monkeypatch, tmp_path):
    from medbench.build import build_tasks

    monkeypatch.setitem(FAMILIES.targets, "ping", _Counting("ping", needs="pong"))
    monkeypatch.setitem(FAMILIES.targets, "pong", _Counting("pong", needs="ping"))
    with pytest.raises(ValueError, match="cycle"):
        build_tasks(None, [1], {"seed": 0}, ["ping"], 0, tmp_path, show_progress=False)
