"""Per-admission packets: everything a prompt may use about one hospital admission.

One code path serves single and bulk extraction. Every section is one set-based SQL query over a
set of hadm_ids, ordered by hadm_id and then by the section's time and ids (with every output
column as the last tie-break, so the order is total and never depends on DuckDB's threads).
`iter_packets` runs each section's query once per batch of admissions and merges the ordered
result streams by hadm_id; `extract_packet` is the same thing for a batch of one. Only the set
of ids differs, so the two give identical bytes.

Row caps (deterministic): labs keep abnormal rows (flag set) first, then the earliest; radiology
and eMAR keep the earliest (ties by ids). Kept rows are then listed chronologically. The
packet's `provenance` records, per table, the rows found, kept, dropped and the cap applied, and
whether the table exists in this MIMIC copy (absent optional tables give empty sections).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from medbench.config import release_cached_blocks
from medbench.errors import UserError
from medbench.io import normalise_float
from medbench.store import Store
from medbench.store.ingest import EMAR_PRODUCT_FIELDS, EMAR_PRODUCT_TABLE

PACKET_VERSION = 1
#: Admissions per batch in bulk extraction: bounds memory on both sides of the DuckDB boundary.
BATCH_SIZE = 1000
_FETCH = 20000


@dataclass(frozen=True)
class Caps:
    """Row caps per capped section; None = keep everything."""

    labs: int | None = 250
    radiology: int | None = 10
    emar: int | None = 250

    def as_dict(self) -> dict[str, int | None]:
        return {"labs": self.labs, "radiology": self.radiology, "emar": self.emar}


DEFAULT_CAPS = Caps()

# ----------------------------------------------------------------------------- sections
# Column kinds: "int", "float", "str", "ts" (timestamp → "YYYY-MM-DD HH:MM:SS"), "date".
_PY = {"int": int, "float": float, "str": str, "ts": str, "date": str}


@dataclass(frozen=True)
class _Section:
    key: str  # packet field
    table: str  # provenance key (the main table read)
    requires: tuple[str, ...]  # tables that must exist, else the section is empty
    columns: tuple[tuple[str, str, str], ...]  # (field, SQL expression, kind)
    from_sql: str  # FROM ... (uses the CTE `ids(hadm_id)`); may contain {optional} joins
    order: tuple[str, ...]  # SQL expressions after hadm_id
    cap: str | None = None  # Caps attribute
    cap_order: tuple[str, ...] = ()
    where: str = ""
    group_by: bool = False
    #: the final tie-break of the order (and of the cap's order): these SQL expressions instead of
    #: every output column. The main table's rowid is a total, content-determined order there
    #: (ingest stores hadm_id tables sorted by every column) and a far cheaper sort key.
    tie: tuple[str, ...] = ()


_NOTE_COLS = (("note_id", "n.note_id", "str"), ("note_type", "n.note_type", "str"),
              ("note_seq", "n.note_seq", "int"), ("charttime", "n.charttime", "ts"),
              ("storetime", "n.storetime", "ts"), ("text", "n.text", "str"))

#: chartevents itemids summarised as vital signs (MetaVision): (itemid, vital, unit).
VITAL_ITEMS = (
    (220045, "heart_rate", "bpm"), (220179, "systolic_bp", "mmHg"), (220050, "systolic_bp", "mmHg"),
    (220180, "diastolic_bp", "mmHg"), (220051, "diastolic_bp", "mmHg"),
    (220181, "mean_bp", "mmHg"), (220052, "mean_bp", "mmHg"), (220210, "respiratory_rate", "insp/min"),
    (220277, "spo2", "%"), (223761, "temperature_f", "°F"), (223762, "temperature_c", "°C"),
)


def _sections(store: Store) -> list[_Section]:
    has = store.has
    proc_title = "dp.long_title" if has("d_icd_procedures") else "NULL"
    proc_join = ("LEFT JOIN d_icd_procedures dp ON dp.icd_code = p.icd_code "
                 "AND dp.icd_version = p.icd_version") if has("d_icd_procedures") else ""
    if has("emar_detail"):
        # One row per (hadm_id, emar_id) from the emar_id's first product line (ordinal '1.1', ...),
        # joined at ingest (`EMAR_PRODUCT_TABLE`, stored sorted by hadm_id like emar itself).
        emar_join = (f"LEFT JOIN (SELECT ep.* FROM ids JOIN {EMAR_PRODUCT_TABLE} ep ON ep.hadm_id = ids.hadm_id) ed "
                     "ON ed.hadm_id = e.hadm_id AND ed.emar_id = e.emar_id")
        ed = {f: f"ed.{f}" for f in EMAR_PRODUCT_FIELDS}
    else:
        emar_join = ""
        ed = {f: "NULL" for f in EMAR_PRODUCT_FIELDS}
    vitals_values = ", ".join(f"({i}, '{v}', '{u}')" for i, v, u in VITAL_ITEMS)
    return [
        _Section("transfers", "transfers", ("transfers",),
                 (("transfer_id", "t.transfer_id", "int"), ("eventtype", "t.eventtype", "str"),
                  ("careunit", "t.careunit", "str"), ("intime", "t.intime", "ts"),
                  ("outtime", "t.outtime", "ts")),
                 "FROM ids JOIN transfers t ON t.hadm_id = ids.hadm_id", ("t.intime", "t.transfer_id")),
        _Section("services", "services", ("services",),
                 (("transfertime", "s.transfertime", "ts"), ("prev_service", "s.prev_service", "str"),
                  ("curr_service", "s.curr_service", "str")),
                 "FROM ids JOIN services s ON s.hadm_id = ids.hadm_id", ("s.transfertime",)),
        _Section("icu_stays", "icustays", ("icustays",),
                 (("stay_id", "i.stay_id", "int"), ("first_careunit", "i.first_careunit", "str"),
                  ("last_careunit", "i.last_careunit", "str"), ("intime", "i.intime", "ts"),
                  ("outtime", "i.outtime", "ts"), ("los", "i.los", "float")),
                 "FROM ids JOIN icustays i ON i.hadm_id = ids.hadm_id", ("i.intime", "i.stay_id")),
        _Section("diagnoses", "diagnoses_icd", ("diagnoses_icd",),
                 (("seq_num", "d.seq_num", "int"), ("icd_code", "trim(d.icd_code)", "str"),
                  ("icd_version", "d.icd_version", "int"), ("title", "dd.long_title", "str")),
                 "FROM ids JOIN diagnoses_icd d ON d.hadm_id = ids.hadm_id "
                 "LEFT JOIN d_icd_diagnoses dd ON dd.icd_code = d.icd_code AND dd.icd_version = d.icd_version",
                 ("d.seq_num", "d.icd_code")),
        _Section("procedures", "procedures_icd", ("procedures_icd",),
                 (("seq_num", "p.seq_num", "int"), ("chartdate", "p.chartdate", "date"),
                  ("icd_code", "trim(p.icd_code)", "str"), ("icd_version", "p.icd_version", "int"),
                  ("title", proc_title, "str")),
                 f"FROM ids JOIN procedures_icd p ON p.hadm_id = ids.hadm_id {proc_join}",
                 ("p.chartdate", "p.seq_num", "p.icd_code")),
        _Section("drg_codes", "drgcodes", ("drgcodes",),
                 (("drg_type", "g.drg_type", "str"), ("drg_code", "g.drg_code", "str"),
                  ("description", "g.description", "str"), ("drg_severity", "g.drg_severity", "int"),
                  ("drg_mortality", "g.drg_mortality", "int")),
                 "FROM ids JOIN drgcodes g ON g.hadm_id = ids.hadm_id", ("g.drg_type", "g.drg_code")),
        _Section("labs", "labevents", ("labevents",),
                 (("labevent_id", "l.labevent_id", "int"), ("specimen_id", "l.specimen_id", "int"),
                  ("itemid", "l.itemid", "int"), ("label", "di.label", "str"),
                  ("fluid", "di.fluid", "str"), ("category", "di.category", "str"),
                  ("charttime", "l.charttime", "ts"), ("value", "l.value", "str"),
                  ("valuenum", "l.valuenum", "float"), ("unit", "l.valueuom", "str"),
                  ("ref_range_lower", "l.ref_range_lower", "float"),
                  ("ref_range_upper", "l.ref_range_upper", "float"), ("flag", "l.flag", "str"),
                  ("priority", "l.priority", "str")),
                 "FROM ids JOIN labevents l ON l.hadm_id = ids.hadm_id "
                 "LEFT JOIN d_labitems di ON di.itemid = l.itemid",
                 ("l.charttime", "l.labevent_id"), cap="labs",
                 cap_order=("(l.flag IS NULL)", "l.charttime", "l.labevent_id"),
                 tie=("l.rowid", "di.label", "di.fluid", "di.category")),
        _Section("microbiology", "microbiologyevents", ("microbiologyevents",),
                 (("microevent_id", "m.microevent_id", "int"),
                  ("micro_specimen_id", "m.micro_specimen_id", "int"),
                  ("chartdate", "m.chartdate", "ts"), ("charttime", "m.charttime", "ts"),
                  ("spec_type_desc", "m.spec_type_desc", "str"), ("test_name", "m.test_name", "str"),
                  ("org_name", "m.org_name", "str"), ("isolate_num", "m.isolate_num", "int"),
                  ("ab_name", "m.ab_name", "str"), ("dilution_text", "m.dilution_text", "str"),
                  ("interpretation", "m.interpretation", "str"), ("comments", "m.comments", "str")),
                 "FROM ids JOIN microbiologyevents m ON m.hadm_id = ids.hadm_id",
                 ("coalesce(m.charttime, m.chartdate)", "m.microevent_id"), tie=("m.rowid",)),
        _Section("prescriptions", "prescriptions", ("prescriptions",),
                 (("pharmacy_id", "r.pharmacy_id", "int"), ("poe_id", "r.poe_id", "str"),
                  ("starttime", "r.starttime", "ts"), ("stoptime", "r.stoptime", "ts"),
                  ("drug_type", "r.drug_type", "str"), ("drug", "r.drug", "str"),
                  ("prod_strength", "r.prod_strength", "str"), ("dose_val_rx", "r.dose_val_rx", "str"),
                  ("dose_unit_rx", "r.dose_unit_rx", "str"), ("route", "r.route", "str"),
                  ("doses_per_24_hrs", "r.doses_per_24_hrs", "float")),
                 "FROM ids JOIN prescriptions r ON r.hadm_id = ids.hadm_id",
                 ("r.starttime", "r.pharmacy_id", "r.drug"), tie=("r.rowid",)),
        _Section("pharmacy", "pharmacy", ("pharmacy",),
                 (("pharmacy_id", "ph.pharmacy_id", "int"), ("poe_id", "ph.poe_id", "str"),
                  ("starttime", "ph.starttime", "ts"), ("stoptime", "ph.stoptime", "ts"),
                  ("medication", "ph.medication", "str"), ("proc_type", "ph.proc_type", "str"),
                  ("status", "ph.status", "str"), ("route", "ph.route", "str"),
                  ("frequency", "ph.frequency", "str")),
                 "FROM ids JOIN pharmacy ph ON ph.hadm_id = ids.hadm_id",
                 ("ph.starttime", "ph.pharmacy_id"), tie=("ph.rowid",)),
        _Section("emar", "emar", ("emar",),
                 (("emar_id", "e.emar_id", "str"), ("emar_seq", "e.emar_seq", "int"),
                  ("pharmacy_id", "e.pharmacy_id", "int"), ("charttime", "e.charttime", "ts"),
                  ("scheduletime", "e.scheduletime", "ts"), ("medication", "e.medication", "str"),
                  ("event_txt", "e.event_txt", "str"),
                  *((f, expr, "str") for f, expr in ed.items())),
                 f"FROM ids JOIN emar e ON e.hadm_id = ids.hadm_id {emar_join}",
                 ("e.charttime", "e.emar_seq", "e.emar_id"), cap="emar",
                 cap_order=("e.charttime", "e.emar_seq", "e.emar_id"), tie=("e.rowid",)),
        _Section("vitals", "chartevents", ("chartevents",),
                 (("vital", "v.vital", "str"), ("unit", "v.unit", "str"), ("n", "count(*)", "int"),
                  ("min", "min(c.valuenum)", "float"), ("max", "max(c.valuenum)", "float"),
                  # DECIMAL sums are exact, so the mean does not depend on thread scheduling.
                  ("mean", "round(avg(c.valuenum::DECIMAL(18,3)), 3)", "float"),
                  ("first", "first(c.valuenum ORDER BY c.charttime, c.valuenum)", "float"),
                  ("last", "last(c.valuenum ORDER BY c.charttime, c.valuenum)", "float"),
                  ("first_time", "min(c.charttime)", "ts"), ("last_time", "max(c.charttime)", "ts")),
                 "FROM ids JOIN chartevents c ON c.hadm_id = ids.hadm_id "
                 f"JOIN (VALUES {vitals_values}) v(itemid, vital, unit) ON v.itemid = c.itemid",
                 ("v.vital", "v.unit"), where="c.valuenum IS NOT NULL", group_by=True),
        _Section("omr", "omr", ("omr",),
                 (("chartdate", "o.chartdate", "date"), ("seq_num", "o.seq_num", "int"),
                  ("result_name", "o.result_name", "str"), ("result_value", "o.result_value", "str")),
                 "FROM ids JOIN admissions a ON a.hadm_id = ids.hadm_id "
                 "JOIN omr o ON o.subject_id = a.subject_id "
                 "AND o.chartdate BETWEEN CAST(a.admittime AS DATE) AND CAST(a.dischtime AS DATE)",
                 ("o.chartdate", "o.result_name", "o.seq_num")),
        _Section("discharge_notes", "discharge", ("discharge",), _NOTE_COLS,
                 "FROM ids JOIN discharge n ON n.hadm_id = ids.hadm_id",
                 ("n.charttime", "n.note_seq", "n.note_id")),
        _Section("radiology_notes", "radiology", ("radiology",), _NOTE_COLS,
                 "FROM ids JOIN radiology n ON n.hadm_id = ids.hadm_id",
                 ("n.charttime", "n.note_seq", "n.note_id"), cap="radiology",
                 cap_order=("n.charttime", "n.note_seq", "n.note_id")),
        _Section("unlinked_notes", "radiology_unlinked", ("radiology",), _NOTE_COLS,
                 "FROM ids JOIN admissions a ON a.hadm_id = ids.hadm_id "
                 "JOIN radiology n ON n.subject_id = a.subject_id AND n.hadm_id IS NULL "
                 "AND n.charttime BETWEEN a.admittime AND a.dischtime",
                 ("n.charttime", "n.note_seq", "n.note_id"), cap="radiology",
                 cap_order=("n.charttime", "n.note_seq", "n.note_id")),
    ]


_ADMISSION_COLS = (
    ("subject_id", "a.subject_id", "int"), ("admittime", "a.admittime", "ts"),
    ("dischtime", "a.dischtime", "ts"), ("deathtime", "a.deathtime", "ts"),
    ("admission_type", "a.admission_type", "str"), ("admission_location", "a.admission_location", "str"),
    ("discharge_location", "a.discharge_location", "str"), ("insurance", "a.insurance", "str"),
    ("language", "a.language", "str"), ("marital_status", "a.marital_status", "str"),
    ("race", "a.race", "str"), ("edregtime", "a.edregtime", "ts"), ("edouttime", "a.edouttime", "ts"),
    ("hospital_expire_flag", "a.hospital_expire_flag", "int"),
    ("gender", "p.gender", "str"), ("anchor_age", "p.anchor_age", "int"),
    ("anchor_year", "p.anchor_year", "int"), ("anchor_year_group", "p.anchor_year_group", "str"),
    ("dod", "p.dod", "date"),
    ("age_at_admission", "p.anchor_age + year(a.admittime) - p.anchor_year", "int"),
)
_ADMISSION_NAMES = tuple(c[0] for c in _ADMISSION_COLS)
_PATIENT_FIELDS = ("gender", "anchor_age", "anchor_year", "anchor_year_group", "dod", "age_at_admission")

# ----------------------------------------------------------------------------- pydantic models


def _row_model(name: str, columns: Iterable[tuple[str, str, str]]) -> type[BaseModel]:
    fields = {f: (_PY[kind] | None, None) for f, _, kind in columns}
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Patient(_Strict):
    gender: str | None = None
    anchor_age: int | None = None
    anchor_year: int | None = None
    anchor_year_group: str | None = None
    dod: str | None = None
    age_at_admission: int | None = Field(None, description="anchor_age + year(admittime) - anchor_year")


Admission = _row_model("Admission", [c for c in _ADMISSION_COLS if c[0] not in _PATIENT_FIELDS
                                     and c[0] != "subject_id"])


class TableProvenance(_Strict):
    present: bool
    rows: int = Field(description="rows found for this admission")
    kept: int
    dropped: int
    cap: int | None = None


# Row models are built from the column lists (the same for every store layout).
class _FakeStore:
    def has(self, t: str) -> bool:
        return t in ("d_icd_procedures", "emar_detail")


_ROW_MODELS = {s.key: _row_model("".join(p.title() for p in s.key.split("_")) + "Row", s.columns)
               for s in _sections(_FakeStore())}  # type: ignore[arg-type]


Packet = create_model(
    "Packet",
    __config__=ConfigDict(extra="forbid"),
    __doc__="One admission: everything the prompts may use, with provenance.",
    packet_version=(int, PACKET_VERSION),
    subject_id=(int, ...),
    hadm_id=(int, ...),
    patient=(Patient, ...),
    admission=(Admission, ...),
    caps=(dict[str, int | None], ...),
    provenance=(dict[str, TableProvenance], ...),
    **{key: (list[model], []) for key, model in _ROW_MODELS.items()},  # type: ignore[valid-type]
)



def packet_json_schema() -> dict:
    return Packet.model_json_schema()


class PacketText:
    """A packet as its canonical JSON text (what the DuckDB-side assembly yields): `hadm_id`,
    `subject_id`, `text`, and `provenance` (per table: present, rows, kept, dropped, cap)."""

    __slots__ = ("_prov", "hadm_id", "subject_id", "text")

    def __init__(self, hadm_id: int, subject_id: int, text: str, provenance_json: str):
        self.hadm_id, self.subject_id, self.text, self._prov = int(hadm_id), subject_id, text, provenance_json

    @property
    def provenance(self) -> dict[str, dict]:
        return json.loads(self._prov)

    def model(self) -> BaseModel:
        """The validated pydantic `Packet`."""
        return Packet.model_validate_json(self.text)

    def model_dump(self, mode: str = "json") -> dict:
        return json.loads(self.text)


def packet_json(packet: BaseModel | PacketText) -> str:
    """The packet's canonical bytes (as text): exactly `medbench.io.canonical_json` of the packet.

    Assembly already applied canonical_json's normalisation (floats, timestamps as text), so the
    generic (slow) normalising walk is skipped; tests check the two agree."""
    if isinstance(packet, PacketText):
        return packet.text
    return json.dumps(packet.model_dump(mode="json"), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def packet_dict(packet: BaseModel | PacketText) -> dict:
    """The packet as plain JSON data (what prompts and generators take)."""
    return json.loads(packet_json(packet))


# ----------------------------------------------------------------------------- SQL


def _sql_expr(expr: str, kind: str) -> str:
    """Format in SQL (vectorised): timestamps and dates as text, numbers as DOUBLE."""
    if kind == "ts":
        return f"strftime(CAST({expr} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S')"
    if kind == "date":
        return f"strftime(CAST({expr} AS DATE), '%Y-%m-%d')"
    if kind == "float":
        return f"CAST({expr} AS DOUBLE)"
    return expr


_IDS_CTE = "WITH ids AS (SELECT DISTINCT unnest(?::BIGINT[]) AS hadm_id) "
#: The bulk statement reads its batch's ids from a temporary table (`_fill_batch_ids`), not from
#: an unnested parameter: DuckDB estimates an unnest at one row, and from 40k synthetic patients
#: on it then built the labs section's hash table on the batch's labevents rows (~65k wide rows)
#: instead of d_labitems (400): +50 MiB per statement, growing with the store (docs/BENCHMARKS.md,
#: s27). A table's row count is exact, so the plan no longer flips. Same rows either way.
_BATCH_IDS_TABLE = "_medbench_batch_ids"
_BATCH_IDS_CTE = f"WITH ids AS (SELECT hadm_id FROM {_BATCH_IDS_TABLE}) "


def _fill_batch_ids(cur, batch: list[int]) -> None:
    """The batch's ids as the connection's temporary table `_BATCH_IDS_TABLE` (per cursor)."""
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {_BATCH_IDS_TABLE} AS "
                "SELECT DISTINCT unnest(?::BIGINT[]) AS hadm_id", [batch])


def _tail(sec: _Section) -> tuple[str, str]:
    """(extra select items, ORDER BY tail) closing a section's order so that it is total: the
    section's `tie` expressions (as `_t0`, ...), else every output column (ties are identical rows)."""
    if sec.tie:
        return ("".join(f", {e} AS _t{i}" for i, e in enumerate(sec.tie)),
                ", ".join(f"_t{i} NULLS LAST" for i in range(len(sec.tie))))
    return "", ", ".join(f'"{f}" NULLS LAST' for f, _, _ in sec.columns)


def _section_sql(sec: _Section, cap: int | None) -> str:
    cols = ", ".join(f"{_sql_expr(expr, kind)} AS \"{f}\"" for f, expr, kind in sec.columns)
    where = f" WHERE {sec.where}" if sec.where else ""
    group = f" GROUP BY ids.hadm_id, {', '.join(sec.order)}" if sec.group_by else ""
    ties, tail = _tail(sec)
    inner_order = ", ".join(f"_o{i} NULLS LAST" for i in range(len(sec.order)))
    okeys = ", ".join(f"{o} AS _o{i}" for i, o in enumerate(sec.order))
    names = ", ".join(f'"{f}"' for f, _, _ in sec.columns)
    if cap is None:
        return (f"{_IDS_CTE}SELECT _h, {names} FROM (SELECT ids.hadm_id AS _h, {cols}, {okeys}{ties} "
                f"{sec.from_sql}{where}{group}) q ORDER BY _h, {inner_order}, {tail}")
    ckeys = ", ".join(f"{o} AS _c{i}" for i, o in enumerate(sec.cap_order))
    cap_order = ", ".join(f"_c{i} NULLS LAST" for i in range(len(sec.cap_order)))
    return (
        f"{_IDS_CTE}SELECT _h, {names}, _n FROM ("
        f"  SELECT *, count(*) OVER (PARTITION BY _h) AS _n,"
        f"         row_number() OVER (PARTITION BY _h ORDER BY {cap_order}, {tail}) AS _rk"
        f"  FROM (SELECT ids.hadm_id AS _h, {cols}, {okeys}, {ckeys}{ties} {sec.from_sql}{where}) q"
        f") WHERE _rk <= {int(cap)} "
        f"ORDER BY _h, {inner_order}, {tail}"
    )


def _admission_sql() -> str:
    cols = ", ".join(f"{_sql_expr(expr, kind)} AS \"{f}\"" for f, expr, kind in _ADMISSION_COLS)
    return (f"{_IDS_CTE}SELECT ids.hadm_id AS _h, {cols} FROM ids "
            "JOIN admissions a ON a.hadm_id = ids.hadm_id "
            "LEFT JOIN patients p ON p.subject_id = a.subject_id ORDER BY _h")


class _Stream:
    """An ordered result (by hadm_id) read in chunks; `take(h)` returns the rows of admission h."""

    def __init__(self, cur, sql: str, ids: list[int]):
        self.cur = cur
        cur.execute(sql, [ids])
        self.buf: list[tuple] = []
        self.pos = 0
        self.done = False

    def _fill(self) -> bool:
        if self.done:
            return False
        self.buf = self.cur.fetchmany(_FETCH)
        self.pos = 0
        if not self.buf:
            self.done = True
            return False
        return True

    def take(self, h: int) -> list[tuple]:
        out = []
        while True:
            if self.pos >= len(self.buf) and not self._fill():
                return out
            row = self.buf[self.pos]
            if row[0] != h:
                return out
            out.append(row)
            self.pos += 1


def _assemble(sections: list[_Section], caps: Caps, adm_row: tuple, rows: dict[str, list[tuple]],
              present: dict[str, bool]) -> BaseModel:
    adm = dict(zip(_ADMISSION_NAMES, adm_row[1:], strict=True))
    data: dict[str, Any] = {
        "packet_version": PACKET_VERSION,
        "subject_id": adm["subject_id"],
        "hadm_id": adm_row[0],
        "patient": {f: adm[f] for f in _PATIENT_FIELDS},
        "admission": {f: v for f, v in adm.items() if f not in _PATIENT_FIELDS and f != "subject_id"},
        "caps": caps.as_dict(),
    }
    prov: dict[str, dict] = {}
    for sec in sections:
        sec_rows = rows.get(sec.key, [])
        cap = getattr(caps, sec.cap) if sec.cap else None
        names = tuple(f for f, _, _ in sec.columns)
        floats = [f for f, _, kind in sec.columns if kind == "float"]
        items = [dict(zip(names, r[1:], strict=False)) for r in sec_rows]  # r[-1] may be the row count
        for item in items:
            for f in floats:
                if item[f] is not None:
                    item[f] = normalise_float(item[f])
        data[sec.key] = items
        if sec.key == "vitals":
            total = sum(r[3] for r in sec_rows)
            kept = total
        else:
            kept = len(sec_rows)
            total = sec_rows[0][-1] if (cap is not None and sec_rows) else kept
        prov[sec.table] = {"present": present[sec.key], "rows": total, "kept": kept,
                           "dropped": total - kept, "cap": cap}
    data["provenance"] = prov
    return Packet.model_validate(data)


def check_caps(caps: Caps) -> None:
    for name, v in caps.as_dict().items():
        if v is not None and v < 1:
            raise UserError(f"--row-cap-{name} must be at least 1 (got {v})")


def iter_packet_models(store: Store, hadm_ids: Iterable[int], caps: Caps = DEFAULT_CAPS,
                       batch_size: int = BATCH_SIZE) -> Iterator[BaseModel]:
    """The reference assembly in Python (pydantic models), one query per section per batch: the
    fallback for admissions whose floats DuckDB cannot format as Python does (see `_ODD`), and
    what tests compare the DuckDB-built bytes with. Unknown hadm_ids are a UserError."""
    check_caps(caps)
    ids = sorted({int(h) for h in hadm_ids})
    sections = _sections(store)
    con = store.connect()
    try:
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            adm_rows = con.execute(_admission_sql(), [batch]).fetchall()
            if len(adm_rows) != len(batch):
                found = {r[0] for r in adm_rows}
                missing = [h for h in batch if h not in found]
                raise UserError(f"hadm_id {missing[0]} not found in admissions"
                                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
            streams: dict[str, _Stream] = {}
            present: dict[str, bool] = {}
            for sec in sections:
                present[sec.key] = all(store.has(t) for t in sec.requires)
                if present[sec.key]:
                    cap = getattr(caps, sec.cap) if sec.cap else None
                    streams[sec.key] = _Stream(con.cursor(), _section_sql(sec, cap), batch)
            try:
                for adm_row in adm_rows:
                    h = adm_row[0]
                    rows = {k: s.take(h) for k, s in streams.items()}
                    yield _assemble(sections, caps, adm_row, rows, present)
            finally:
                for s in streams.values():
                    s.cur.close()
    finally:
        con.close()


# ----------------------------------------------------------------------------- DuckDB-side assembly
# Each row is one `to_json` of a struct whose keys are in sorted order, each section one ordered
# `string_agg` of its rows per admission, and the packet one `concat` of its sections' texts in
# sorted key order: DuckDB formats the bytes, Python only passes the text on. Floats: a value
# with at most 6 decimals (`round(x, 6) = x`, |x| < 1e9, where that test is exact) is kept as
# is; any other is rounded by `printf('%.6f')`, which rounds the exact binary value as Python's
# `round(x, 6)` does (DuckDB's `round()` multiplies and divides, and differs on ties such as
# ICU los 7.1284375). DuckDB writes a double with the same shortest round-trip digits as
# Python's `repr`, but without an exponent for |x| < 1e-4 or >= 1e16. An admission with a float
# in those ranges (`_odd`, a superset) is assembled by the Python reference path, so the bytes are
# identical either way (tests compare the two on every admission).

def _nf(col: str) -> str:
    """canonical float in SQL (= medbench.io.normalise_float): 6 places, NaN/inf as null, -0.0 as 0.0."""
    return (f"CASE WHEN NOT isfinite({col}) THEN NULL "  # `+ 0.0` turns -0.0 into 0.0
            f"WHEN abs({col}) < 1e9 AND round({col}, 6) = {col} THEN {col} + 0.0 "
            f"ELSE CAST(printf('%.6f', {col}) AS DOUBLE) + 0.0 END")


def _odd(col: str) -> str:
    return (f"(abs({col}) >= 1e15 AND NOT isinf({col}) "
            f"OR (abs({col}) < 1e-4 AND abs({col}) >= 4e-7))")


def _json_value(col: str, kind: str) -> str:
    if kind == "float":
        return _nf(col)
    if kind == "int":
        return f"CAST({col} AS BIGINT)"
    return f"CAST({col} AS VARCHAR)"


def _struct(fields: Iterable[tuple[str, str]]) -> str:
    """A struct literal with keys in sorted (JSON sort_keys) order."""
    return "{" + ", ".join(f"'{k}': {v}" for k, v in sorted(fields)) + "}"


def _json_text(expr: str) -> str:
    return f"CAST(to_json({expr}) AS VARCHAR)"


def _section_agg_sql(sec: _Section, cap: int | None) -> str:
    """Per admission of `ids`: _r (the rows' JSON texts joined by ',', in packet order; NULL when
    none), _k (kept), _t (found), _odd (a float the Python path must format). The cap's window
    ranks the rows' raw columns; only kept rows are formatted."""
    cols = ", ".join(f"{_sql_expr(expr, kind)} AS \"{f}\"" for f, expr, kind in sec.columns)
    okeys = ", ".join(f"{o} AS _o{i}" for i, o in enumerate(sec.order))
    where = f" WHERE {sec.where}" if sec.where else ""
    group = f" GROUP BY ids.hadm_id, {', '.join(sec.order)}" if sec.group_by else ""
    ties, tail = _tail(sec)
    order = ", ".join(f"_o{i} NULLS LAST" for i in range(len(sec.order)))
    if cap is not None:
        ckeys = ", ".join(f"{o} AS _c{i}" for i, o in enumerate(sec.cap_order))
        cap_order = ", ".join(f"_c{i} NULLS LAST" for i in range(len(sec.cap_order)))
        inner = (f"SELECT * FROM (SELECT *, count(*) OVER (PARTITION BY _h) AS _n, "
                 f"row_number() OVER (PARTITION BY _h ORDER BY {cap_order}, {tail}) AS _rk "
                 f"FROM (SELECT ids.hadm_id AS _h, {cols}, {okeys}, {ckeys}{ties} {sec.from_sql}{where}) q) "
                 f"WHERE _rk <= {int(cap)}")
        total = "max(_n)"
    else:
        inner = f"SELECT ids.hadm_id AS _h, {cols}, {okeys}{ties} {sec.from_sql}{where}{group}"
        total = 'sum("n")' if sec.key == "vitals" else "count(*)"
    row = _json_text(_struct((f, _json_value(f'"{f}"', kind)) for f, _, kind in sec.columns))
    floats = [f'"{f}"' for f, _, kind in sec.columns if kind == "float"]
    odd = "bool_or(" + " OR ".join(_odd(c) for c in floats) + ")" if floats else "false"
    kept = total if sec.key == "vitals" else "count(*)"
    return (f"SELECT _h, string_agg({row}, ',' ORDER BY {order}, {tail}) AS _r, {kept} AS _k, "
            f"{total} AS _t, {odd} AS _odd FROM ({inner}) s GROUP BY _h")


def _packet_sql(store: Store, sections: list[_Section], caps: Caps) -> str:
    def lit(v: int | None) -> str:
        return "NULL::BIGINT" if v is None else str(int(v))

    adm_cols = ", ".join(f"{_sql_expr(expr, kind)} AS \"{f}\"" for f, expr, kind in _ADMISSION_COLS)
    kinds = {f: kind for f, _, kind in _ADMISSION_COLS}
    ctes = [(f"adm AS (SELECT ids.hadm_id AS _h, {adm_cols} FROM ids "
             "JOIN admissions a ON a.hadm_id = ids.hadm_id "
             "LEFT JOIN patients p ON p.subject_id = a.subject_id)")]
    # (key, SQL text of its JSON value); the packet is their concat in sorted key order
    fields: list[tuple[str, str]] = [
        ("packet_version", f"'{int(PACKET_VERSION)}'"),
        ("subject_id", 'CAST(CAST(adm."subject_id" AS BIGINT) AS VARCHAR)'),
        ("hadm_id", "CAST(CAST(adm._h AS BIGINT) AS VARCHAR)"),
        ("patient", _json_text(_struct((f, _json_value(f'adm."{f}"', kinds[f])) for f in _PATIENT_FIELDS))),
        ("admission", _json_text(_struct((f, _json_value(f'adm."{f}"', kinds[f])) for f in _ADMISSION_NAMES
                                         if f not in _PATIENT_FIELDS and f != "subject_id"))),
        ("caps", "'" + json.dumps(caps.as_dict(), sort_keys=True, separators=(",", ":")) + "'"),
    ]
    prov: list[tuple[str, str]] = []
    joins, odds = [], []
    for i, sec in enumerate(sections):
        cap = getattr(caps, sec.cap) if sec.cap else None
        if not all(store.has(t) for t in sec.requires):
            fields.append((sec.key, "'[]'"))
            prov.append((sec.table, _struct([("present", "false"), ("rows", "0"), ("kept", "0"),
                                             ("dropped", "0"), ("cap", lit(cap))])))
            continue
        ctes.append(f"s{i} AS ({_section_agg_sql(sec, cap)})")
        joins.append(f"LEFT JOIN s{i} ON s{i}._h = adm._h")
        odds.append(f"coalesce(s{i}._odd, false)")
        fields.append((sec.key, f"'[', s{i}._r, ']'"))  # concat skips a NULL: []
        t, k = f"CAST(coalesce(s{i}._t, 0) AS BIGINT)", f"CAST(coalesce(s{i}._k, 0) AS BIGINT)"
        prov.append((sec.table, _struct([("present", "true"), ("rows", t), ("kept", k),
                                         ("dropped", f"{t} - {k}"), ("cap", lit(cap))])))
    provs = _json_text(_struct(prov))
    fields.append(("provenance", provs))
    parts = []
    for n, (k, v) in enumerate(sorted(fields)):
        parts += [("'{" if n == 0 else "',") + json.dumps(k) + ":'", v]
    parts.append("'}'")
    return (f"{_BATCH_IDS_CTE}, {', '.join(ctes)} "
            f"SELECT adm._h, CAST(adm.\"subject_id\" AS BIGINT), concat({', '.join(parts)}), {provs}, "
            f"({' OR '.join(odds) or 'false'}) FROM adm {' '.join(joins)} ORDER BY adm._h")


def default_batch_size() -> int:
    """Admissions per bulk statement: BATCH_SIZE, fewer under a low $MEDBENCH_MEMORY_LIMIT (one
    per 4 MiB of the budget, at least 50: a 1,000-admission statement needs ~0.5 GB of DuckDB's
    half). Packet bytes do not depend on it."""
    from medbench.config import memory_limit_bytes

    return max(1, min(BATCH_SIZE, max(50, memory_limit_bytes() // (4 * 1024**2))))


def iter_packets(store: Store, hadm_ids: Iterable[int], caps: Caps = DEFAULT_CAPS,
                 batch_size: int | None = None) -> Iterator[PacketText]:
    """Packets (canonical JSON text) for `hadm_ids`, in ascending hadm_id order, built inside
    DuckDB with a fixed number of queries per batch whatever its size (two: the id check and one
    statement assembling every packet of the batch). Unknown hadm_ids are a UserError.
    `batch_size`: admissions per statement (default `default_batch_size()`)."""
    check_caps(caps)
    if batch_size is None:
        batch_size = default_batch_size()
    ids = sorted({int(h) for h in hadm_ids})
    sections = _sections(store)
    sql = _packet_sql(store, sections, caps)
    con = store.connect()
    try:
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            found = {r[0] for r in con.execute(
                "SELECT hadm_id FROM admissions WHERE hadm_id IN (SELECT unnest(?::BIGINT[]))",
                [batch]).fetchall()}
            if len(found) != len(batch):
                missing = [h for h in batch if h not in found]
                raise UserError(f"hadm_id {missing[0]} not found in admissions"
                                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
            cur = con.cursor()
            try:
                _fill_batch_ids(cur, batch)
                cur.execute(sql)
                while rows := cur.fetchmany(64):
                    for h, subject_id, text, prov, odd in rows:
                        if odd:
                            model = next(iter_packet_models(store, [h], caps))
                            yield PacketText(h, subject_id, packet_json(model),
                                             json.dumps(model.model_dump(mode="json")["provenance"]))
                        else:
                            yield PacketText(h, subject_id, text, prov)
            finally:
                cur.close()
            release_cached_blocks(con)  # the next batch reads other blocks: do not let the cache grow
    finally:
        con.close()


def extract_packet(store: Store, hadm_id: int, caps: Caps = DEFAULT_CAPS) -> PacketText:
    """One admission's packet: the bulk path with a set of one id (hence identical bytes)."""
    return next(iter_packets(store, [hadm_id], caps))


def admissions_of(store: Store, subject_ids: Iterable[int] | None = None) -> list[tuple]:
    """(subject_id, hadm_id, admittime, dischtime) in admittime, hadm_id order; all when None."""
    con = store.connect()
    try:
        if subject_ids is None:
            sql = "SELECT subject_id, hadm_id, admittime, dischtime FROM admissions"
            params: list = []
        else:
            sql = ("SELECT subject_id, hadm_id, admittime, dischtime FROM admissions "
                   "WHERE subject_id IN (SELECT unnest(?::BIGINT[]))")
            params = [sorted({int(s) for s in subject_ids})]
        return con.execute(f"{sql} ORDER BY subject_id, admittime, hadm_id", params).fetchall()
    finally:
        con.close()


def write_packets(store: Store, hadm_ids: Iterable[int], out: str | os.PathLike, caps: Caps = DEFAULT_CAPS,
                  show_progress: bool = True, batch_size: int | None = None) -> dict:
    """Stream packets to `out/<hadm_id>.json` (+ `manifest.json`), built in a temp folder and
    swapped in atomically. Returns the manifest. `batch_size`: admissions per bulk statement
    (default `default_batch_size()`, which shrinks under a low $MEDBENCH_MEMORY_LIMIT)."""
    import contextlib

    from medbench.io import atomic_dir, canonical_json, sha256_bytes
    from medbench.progress import progress_bar

    ids = sorted({int(h) for h in hadm_ids})
    if not ids:
        raise UserError("no admissions to extract (empty cohort?)")
    files: dict[str, str] = {}
    totals: dict[str, dict[str, int]] = {}
    with atomic_dir(out) as tmp:
        ctx = progress_bar() if show_progress else contextlib.nullcontext()
        with ctx as progress:
            task = progress.add_task("packets", total=len(ids)) if progress else None
            for packet in iter_packets(store, ids, caps, batch_size=batch_size):
                data = (packet_json(packet) + "\n").encode("utf-8")
                name = f"{packet.hadm_id}.json"
                (tmp / name).write_bytes(data)
                files[name] = sha256_bytes(data)
                for table, prov in packet.provenance.items():
                    t = totals.setdefault(table, {"present": prov["present"], "rows": 0, "kept": 0,
                                                  "dropped": 0})
                    for k in ("rows", "kept", "dropped"):
                        t[k] += prov[k]
                if progress:
                    progress.advance(task)
        manifest = {"packet_version": PACKET_VERSION, "n_packets": len(files), "caps": caps.as_dict(),
                    "source_fingerprint": store.fingerprint, "tables": totals, "files": files}
        (tmp / "manifest.json").write_text(canonical_json(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
