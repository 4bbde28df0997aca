"""The conversation prompt: a packet rendered through `prompts/conversation_{system,user}.j2`."""

from __future__ import annotations

from medbench.io import sha256_bytes
from medbench.tasks.base import render_template, template_sha256

SYSTEM_TEMPLATE = "conversation_system.j2"
USER_TEMPLATE = "conversation_user.j2"
TEMPLATES = (SYSTEM_TEMPLATE, USER_TEMPLATE)


def render_conversation_prompt(packet: dict) -> list[dict]:
    """Chat messages for one admission; `packet` is plain JSON data (see packet.packet_dict)."""
    adm = packet["admission"]
    system = render_template(SYSTEM_TEMPLATE, admittime=adm["admittime"], dischtime=adm["dischtime"])
    user = render_template(USER_TEMPLATE, p=packet)
    return [{"role": "system", "content": system.strip() + "\n"},
            {"role": "user", "content": user.strip() + "\n"}]


def template_records() -> list[dict]:
    """Template names and sha256 (what prompt_record.json cites)."""
    return [{"name": name, "sha256": template_sha256(name)} for name in TEMPLATES]


def prompt_record(packet: dict, messages: list[dict] | None = None) -> dict:
    from medbench.io import canonical_json

    messages = messages if messages is not None else render_conversation_prompt(packet)
    return {
        "templates": template_records(),
        "messages": messages,
        "prompt_sha256": sha256_bytes(canonical_json(messages).encode("utf-8")),
    }
