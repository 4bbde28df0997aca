"""A process renders and hashes the prompt templates it first read, even if `prompts/` changes
under it (a long build during a checkout or merge must not mix old and new templates, and the
manifest's template hashes must be those of what was rendered)."""

from __future__ import annotations

import shutil

from medbench.tasks import base


def test_templates_are_read_once_and_hashes_match_what_was_rendered(tmp_path, monkeypatch):
    prompts = tmp_path / "prompts"
    shutil.copytree(base.PROMPTS_DIR, prompts)
    name = min(p.name for p in prompts.iterdir() if p.suffix == ".j2")
    monkeypatch.setattr(base, "prompt_files", lambda: prompts)
    monkeypatch.setattr(base, "_ENV", None)
    base._prompt_snapshot.cache_clear()
    try:
        before_hash = base.template_sha256(name)
        before_source = base.prompt_env().loader.get_source(base.prompt_env(), name)[0]
        (prompts / name).write_text("{# edited under a running build #}\nchanged\n", encoding="utf-8")
        (prompts / "new_template.j2").write_text("new\n", encoding="utf-8")
        assert base.template_sha256(name) == before_hash
        assert base.prompt_env().loader.get_source(base.prompt_env(), name)[0] == before_source
        # a file that appeared after the snapshot is not half-picked up either
        try:
            base.template_sha256("new_template.j2")
        except FileNotFoundError as e:
            assert "new_template.j2" in str(e)
        else:
            raise AssertionError("a template added after the first read was used")
    finally:
        base._prompt_snapshot.cache_clear()
