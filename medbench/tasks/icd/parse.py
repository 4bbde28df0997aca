"""ICD-10-CM code handling: normalisation, validation (simple-icd-10-cm) and the output parser.

MIMIC-IV stores codes undotted ("I509"); medbench's canonical form is dotted upper-case
("I50.9"). A code is valid when simple-icd-10-cm knows it as a category, subcategory or
7th-character extension (chapters and blocks such as "9" or "I30-I5A" are not codes).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import simple_icd_10_cm as icd

# A code-like token: letter, two more characters, optional dot and up to four characters.
CODE_RE = re.compile(r"\b([A-Z][0-9][0-9A-Z])(?:\.?([0-9A-Z]{1,4}))?\b")
_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def normalize_code(code: Any) -> str:
    """'i509 ' -> 'I50.9'; leaves anything not code-shaped upper-cased and stripped."""
    if not isinstance(code, str):
        code = "" if code is None else str(code)
    s = re.sub(r"\s+", "", code).upper().rstrip(".")
    if "." not in s and len(s) > 3 and s[0].isalpha():
        s = f"{s[:3]}.{s[3:]}"
    return s


@functools.lru_cache(maxsize=200_000)
def is_valid_code(code: str) -> bool:
    """True for a real ICD-10-CM category/subcategory/extension in dotted form."""
    try:
        return bool(icd.is_valid_item(code)) and (
            icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code))
    except Exception:  # noqa: BLE001 - the library raises on odd input; odd input is invalid
        return False


def category(code: str) -> str:
    """3-character category ('I50.9' -> 'I50')."""
    return code.split(".")[0][:3]


@functools.lru_cache(maxsize=20_000)
def chapter(code: str) -> str:
    """The chapter title of a valid code ('Diseases of the circulatory system (I00-I99)')."""
    try:
        ch = icd.get_ancestors(code)[-1]
        return icd.get_description(ch)
    except Exception:  # noqa: BLE001 - unknown code: no chapter or title
        return "unknown"


@functools.lru_cache(maxsize=200_000)
def title(code: str) -> str:
    try:
        return icd.get_description(code)
    except Exception:  # noqa: BLE001 - unknown code: no chapter or title
        return ""


def dedupe_ranked(codes: list[str]) -> list[str]:
    """Normalise and de-duplicate, keeping each code's first (best) rank."""
    seen: set[str] = set()
    out = []
    for c in codes:
        n = normalize_code(c)
        if n and n not in seen:
            seen.add(n)
            out.append(n)
    return out


def _from_json(text: str) -> list[str] | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):  # {"codes": [...]} is a common model habit
        for key in ("codes", "icd_codes", "diagnoses", "icd10"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        return None
    out = []
    for el in data:
        if isinstance(el, dict):
            el = el.get("code", el.get("icd_code", ""))
        if isinstance(el, (str, int, float)) and str(el).strip():
            out.append(str(el))
    return out


def parse_output(raw: str | None) -> tuple[list[str], str | None]:
    """Model output -> (ranked, de-duplicated dotted codes, parse_error). Never raises.

    Order of attempts: a fenced JSON block, the whole text as JSON, the first [...] span, then
    a comma/newline-separated list (first code-like token of each piece).
    """
    if raw is None or not str(raw).strip():
        return [], "empty output"
    text = str(raw)
    candidates = [m.group(1) for m in _FENCE_RE.finditer(text)] + [text.strip()]
    lb, rb = text.find("["), text.rfind("]")
    if 0 <= lb < rb:
        candidates.append(text[lb:rb + 1])
    for cand in candidates:
        codes = _from_json(cand.strip())
        if codes is not None:
            return dedupe_ranked(codes), None
    found = []
    for piece in re.split(r"[,;\n]+", text):
        m = CODE_RE.search(piece.upper())
        if m:
            found.append(m.group(1) + ("." + m.group(2) if m.group(2) else ""))
    if not found:
        return [], "no ICD-10 codes found in the output"
    return dedupe_ranked(found), None
