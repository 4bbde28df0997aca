"""The MIMIC-IV tables medbench reads: where they live, their columns, and their SQL types.

Column lists are those of the PhysioNet releases (MIMIC-IV 2.2/3.1, MIMIC-IV-Note 2.2,
MIMIC-IV-ED 2.2), in release order. The synthetic generator writes exactly these headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableSpec:
    module: str  # hosp | icu | note | ed
    name: str
    columns: tuple[str, ...]
    required: bool = False
    types: dict[str, str] = field(default_factory=dict)  # per-table overrides

    @property
    def relpath(self) -> str:
        return f"{self.module}/{self.name}"

    def sql_type(self, column: str) -> str:
        col = column.lower()
        if col in self.types:
            return self.types[col]
        if col in _INT_COLUMNS:
            return "BIGINT"
        if col in _TIMESTAMP_COLUMNS:
            return "TIMESTAMP"
        if col in _DATE_COLUMNS:
            return "DATE"
        if col in _DOUBLE_COLUMNS:
            return "DOUBLE"
        return "VARCHAR"


_INT_COLUMNS = {
    "subject_id", "hadm_id", "stay_id", "itemid", "seq_num", "labevent_id", "specimen_id",
    "pharmacy_id", "poe_seq", "emar_seq", "transfer_id", "microevent_id", "micro_specimen_id",
    "spec_itemid", "test_itemid", "org_itemid", "ab_itemid", "test_seq", "isolate_num",
    "caregiver_id", "orderid", "linkorderid", "anchor_age", "anchor_year", "icd_version",
    "note_seq", "hospital_expire_flag", "field_ordinal", "drg_severity", "drg_mortality",
}
_TIMESTAMP_COLUMNS = {
    "admittime", "dischtime", "deathtime", "edregtime", "edouttime", "charttime", "storetime",
    "starttime", "stoptime", "endtime", "intime", "outtime", "transfertime", "entertime",
    "verifiedtime", "scheduletime", "ordertime",
}
_DATE_COLUMNS = {"chartdate", "dod", "storedate"}
_DOUBLE_COLUMNS = {
    "valuenum", "ref_range_lower", "ref_range_upper", "los", "amount", "rate",
    "originalamount", "originalrate", "patientweight", "totalamount", "dilution_value",
    "doses_per_24_hrs", "lownormalvalue", "highnormalvalue", "temperature", "heartrate",
    "resprate", "o2sat", "sbp", "dbp", "acuity",
}


def _t(module: str, name: str, cols: str, required: bool = False, **types: str) -> TableSpec:
    return TableSpec(module, name, tuple(c.strip() for c in cols.split(",")), required, types)


TABLES: tuple[TableSpec, ...] = (
    # hosp
    _t("hosp", "patients", "subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod", True),
    _t("hosp", "admissions", "subject_id,hadm_id,admittime,dischtime,deathtime,admission_type,"
       "admit_provider_id,admission_location,discharge_location,insurance,language,marital_status,"
       "race,edregtime,edouttime,hospital_expire_flag", True),
    _t("hosp", "diagnoses_icd", "subject_id,hadm_id,seq_num,icd_code,icd_version", True),
    _t("hosp", "d_icd_diagnoses", "icd_code,icd_version,long_title", True),
    _t("hosp", "labevents", "labevent_id,subject_id,hadm_id,specimen_id,itemid,order_provider_id,"
       "charttime,storetime,value,valuenum,valueuom,ref_range_lower,ref_range_upper,flag,priority,"
       "comments", True),
    _t("hosp", "d_labitems", "itemid,label,fluid,category", True),
    _t("hosp", "prescriptions", "subject_id,hadm_id,pharmacy_id,poe_id,poe_seq,order_provider_id,"
       "starttime,stoptime,drug_type,drug,formulary_drug_cd,gsn,ndc,prod_strength,form_rx,"
       "dose_val_rx,dose_unit_rx,form_val_disp,form_unit_disp,doses_per_24_hrs,route", True),
    _t("hosp", "procedures_icd", "subject_id,hadm_id,seq_num,chartdate,icd_code,icd_version"),
    _t("hosp", "d_icd_procedures", "icd_code,icd_version,long_title"),
    _t("hosp", "drgcodes", "subject_id,hadm_id,drg_type,drg_code,description,drg_severity,"
       "drg_mortality"),
    _t("hosp", "transfers", "subject_id,hadm_id,transfer_id,eventtype,careunit,intime,outtime"),
    _t("hosp", "services", "subject_id,hadm_id,transfertime,prev_service,curr_service"),
    _t("hosp", "microbiologyevents", "microevent_id,subject_id,hadm_id,micro_specimen_id,"
       "order_provider_id,chartdate,charttime,spec_itemid,spec_type_desc,test_seq,storedate,"
       "storetime,test_itemid,test_name,org_itemid,org_name,isolate_num,quantity,ab_itemid,ab_name,"
       "dilution_text,dilution_comparison,dilution_value,interpretation,comments",
       chartdate="TIMESTAMP", storedate="TIMESTAMP"),
    _t("hosp", "pharmacy", "subject_id,hadm_id,pharmacy_id,poe_id,starttime,stoptime,medication,"
       "proc_type,status,entertime,verifiedtime,route,frequency,disp_sched,infusion_type,"
       "sliding_scale,lockout_interval,basal_rate,one_hr_max,doses_per_24_hrs,duration,"
       "duration_interval,expiration_value,expiration_unit,expirationdate,dispensation,"
       "fill_quantity"),
    _t("hosp", "emar", "subject_id,hadm_id,emar_id,emar_seq,poe_id,pharmacy_id,enter_provider_id,"
       "charttime,medication,event_txt,scheduletime,storetime"),
    _t("hosp", "emar_detail", "subject_id,emar_id,emar_seq,parent_field_ordinal,administration_type,"
       "pharmacy_id,barcode_type,reason_for_no_barcode,complete_dose_not_given,dose_due,"
       "dose_due_unit,dose_given,dose_given_unit,will_remainder_of_dose_be_given,"
       "product_amount_given,product_unit,product_code,product_description,"
       "product_description_other,prior_infusion_rate,infusion_rate,infusion_rate_adjustment,"
       "infusion_rate_adjustment_amount,infusion_rate_unit,route,infusion_complete,"
       "completion_interval,new_iv_bag_hung,continued_infusion_in_other_location,restart_interval,"
       "side,site,non_formulary_visual_verification"),
    _t("hosp", "omr", "subject_id,chartdate,seq_num,result_name,result_value"),
    _t("hosp", "poe", "poe_id,poe_seq,subject_id,hadm_id,ordertime,order_type,order_subtype,"
       "transaction_type,discontinue_of_poe_id,discontinued_by_poe_id,order_provider_id,"
       "order_status"),
    _t("hosp", "hcpcsevents", "subject_id,hadm_id,chartdate,hcpcs_cd,seq_num,short_description"),
    # icu
    _t("icu", "icustays", "subject_id,hadm_id,stay_id,first_careunit,last_careunit,intime,outtime,los"),
    _t("icu", "d_items", "itemid,label,abbreviation,linksto,category,unitname,param_type,"
       "lownormalvalue,highnormalvalue"),
    _t("icu", "chartevents", "subject_id,hadm_id,stay_id,caregiver_id,charttime,storetime,itemid,"
       "value,valuenum,valueuom,warning"),
    _t("icu", "inputevents", "subject_id,hadm_id,stay_id,caregiver_id,starttime,endtime,storetime,"
       "itemid,amount,amountuom,rate,rateuom,orderid,linkorderid,ordercategoryname,"
       "secondaryordercategoryname,ordercomponenttypedescription,ordercategorydescription,"
       "patientweight,totalamount,totalamountuom,isopenbag,continueinnextdept,statusdescription,"
       "originalamount,originalrate"),
    _t("icu", "outputevents", "subject_id,hadm_id,stay_id,caregiver_id,charttime,storetime,itemid,"
       "value,valueuom", value="DOUBLE"),
    _t("icu", "procedureevents", "subject_id,hadm_id,stay_id,caregiver_id,starttime,endtime,"
       "storetime,itemid,value,valueuom,location,locationcategory,orderid,linkorderid,"
       "ordercategoryname,ordercategorydescription,patientweight,isopenbag,continueinnextdept,"
       "statusdescription,ORIGINALAMOUNT,ORIGINALRATE", value="DOUBLE"),
    # note (MIMIC-IV-Note)
    _t("note", "discharge", "note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text"),
    _t("note", "radiology", "note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text"),
    _t("note", "discharge_detail", "note_id,subject_id,field_name,field_value,field_ordinal"),
    _t("note", "radiology_detail", "note_id,subject_id,field_name,field_value,field_ordinal"),
    # ed (MIMIC-IV-ED)
    _t("ed", "edstays", "subject_id,hadm_id,stay_id,intime,outtime,gender,race,arrival_transport,"
       "disposition"),
    _t("ed", "diagnosis", "subject_id,stay_id,seq_num,icd_code,icd_version,icd_title"),
    _t("ed", "triage", "subject_id,stay_id,temperature,heartrate,resprate,o2sat,sbp,dbp,pain,"
       "acuity,chiefcomplaint"),
    _t("ed", "vitalsign", "subject_id,stay_id,charttime,temperature,heartrate,resprate,o2sat,sbp,"
       "dbp,rhythm,pain"),
    _t("ed", "medrecon", "subject_id,stay_id,charttime,name,gsn,ndc,etc_rn,etccode,etcdescription"),
    _t("ed", "pyxis", "subject_id,stay_id,charttime,med_rn,name,gsn_rn,gsn"),
)

TABLES_BY_NAME = {t.name if t.module != "ed" else f"ed_{t.name}": t for t in TABLES}


def db_table_name(spec: TableSpec) -> str:
    """Name in DuckDB: the release's table name; ED tables get an `ed_` prefix (ed has its own
    `diagnosis` table that would otherwise be easy to confuse with hosp's)."""
    return spec.name if spec.module != "ed" else f"ed_{spec.name}"


REQUIRED_TABLES = tuple(t for t in TABLES if t.required)
SOURCE_SUFFIXES = (".csv.gz", ".csv", ".parquet")
