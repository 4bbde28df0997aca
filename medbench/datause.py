"""Source licences of releases and the data-use guard.

A release records where its data came from in `manifest.json` → `source.licence`:

- `synthetic`: medbench's generated MIMIC-IV (marker file `MEDBENCH_SYNTHETIC` beside the
  tables, or the default synthetic folder under `$MEDBENCH_HOME`);
- `odbl`: the open MIMIC-IV (or MIMIC-IV-ED) demo, recognised by its own files (its ODbL
  `LICENSE.txt` and the demo README / `demo_subject_id.csv`);
- `credentialed`: anything else (PhysioNet's credentialed MIMIC-IV).

`medbench run`, `generate-patient` and `score --judge` call `check_data_use` before sending a
credentialed release's text to a model: hosted providers are refused unless listed in the
`data-use` allow-list (`[data-use] allow = ["azure/..."]` in `./medbench.toml` or
`$MEDBENCH_HOME/medbench.toml`, or `--allow-provider`). Local models (`hf:`, `vllm:`), an
`--api-base` on a loopback address, and baselines are always allowed. The decision is returned
as a small dict that the caller writes into the submission header.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from medbench.errors import UserError

LICENCES = ("synthetic", "odbl", "credentialed")
SYNTH_MARKER = "MEDBENCH_SYNTHETIC"
PUBLIC_LICENCES = ("synthetic", "odbl")  # drill-down may be published for these


def detect_licence(source: str | Path) -> str:
    """The licence of a MIMIC-IV copy at `source` (see the module docstring)."""
    src = Path(source)
    if (src / SYNTH_MARKER).is_file():
        return "synthetic"
    try:
        from medbench import config

        synth_root = (config.medbench_home() / "synthetic").resolve()
        if src.resolve().is_relative_to(synth_root):
            return "synthetic"
    except OSError:
        pass
    lic = src / "LICENSE.txt"
    try:
        lic_text = lic.read_text(encoding="utf-8", errors="replace")[:4000] if lic.is_file() else ""
        readme = ""
        for name in ("README.txt", "README.md"):
            if (src / name).is_file():
                readme += (src / name).read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return "credentialed"
    if "Open Database License" in lic_text and "Demo" in readme and "MIMIC-IV" in readme:
        return "odbl"
    return "credentialed"


def release_licence(manifest: dict) -> str:
    """A release's licence; releases built before it was recorded count as credentialed."""
    lic = (manifest.get("source") or {}).get("licence")
    return lic if lic in LICENCES else "credentialed"


def check_licence(value: str | None, flag: str = "--source-licence") -> str | None:
    if value is None:
        return None
    if value not in LICENCES:
        raise UserError(f"{flag}: unknown licence {value!r} (one of: {', '.join(LICENCES)})")
    return value


# ---------------------------------------------------------------- the guard

def _config_allow() -> tuple[list[str], str | None]:
    """Allow-list entries from ./medbench.toml, then $MEDBENCH_HOME/medbench.toml (first found)."""
    from medbench import config

    for path in (Path("medbench.toml"), config.medbench_home() / "medbench.toml"):
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
                raise UserError(f"{path}: unreadable ({' '.join(str(e).split())[:120]})") from None
            section = data.get("data-use", {})
            allow = section.get("allow", []) if isinstance(section, dict) else []
            if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
                raise UserError(f"{path}: [data-use] allow must be a list of provider/model strings")
            return list(allow), str(path)
    return [], None


def is_loopback(api_base: str | None) -> bool:
    if not api_base:
        return False
    try:
        host = urlsplit(api_base if "//" in api_base else f"//{api_base}").hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _matches(model: str, entry: str) -> bool:
    """`azure/` or `azure` allows every azure model; `azure/gpt-4o` that model; a trailing `*` is a prefix."""
    entry = entry.strip()
    if not entry:
        return False
    if entry.endswith("*"):
        return model.startswith(entry[:-1])
    if entry.endswith("/"):
        return model.startswith(entry)
    return model == entry or model.startswith(entry + "/")


def check_data_use(model: str, manifest: dict, *, api_base: str | None = None,
                   allow_providers: list[str] | tuple[str, ...] = (), flag: str = "--model",
                   baseline: bool = False) -> dict:
    """Refuse (UserError naming `flag`) to send a credentialed release to a hosted provider that
    is not allow-listed; otherwise return the decision for the submission header."""
    licence = release_licence(manifest)
    decision = {"licence": licence, "model": model}
    if baseline or model.startswith(("baseline:", "baseline/")):
        return {**decision, "allowed": True, "reason": "baseline"}
    if model.startswith(("hf:", "vllm:")):
        return {**decision, "allowed": True, "reason": "local model"}
    if is_loopback(api_base):
        return {**decision, "allowed": True, "reason": "loopback api-base"}
    if licence != "credentialed":
        return {**decision, "allowed": True, "reason": f"{licence} data"}
    for entry in allow_providers:
        if _matches(model, entry):
            return {**decision, "allowed": True, "reason": f"--allow-provider {entry}"}
    cfg, where = _config_allow()
    for entry in cfg:
        if _matches(model, entry):
            return {**decision, "allowed": True, "reason": f"data-use allow-list in {where}: {entry}"}
    raise UserError(
        f"{flag} {model}: this release is built from credentialed MIMIC-IV; sending its text to a hosted "
        "provider needs an agreement without retention or human review — list the provider in "
        "medbench.toml [data-use] allow, or pass --allow-provider PROVIDER/ (local models and a "
        "loopback --api-base are always allowed)")

