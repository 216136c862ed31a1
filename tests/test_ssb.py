"""SSB importer: real json-stat responses, constructed CSV exports, malformed inputs."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.errors import DataError
from forecast.io.ssb import import_ssb, read_jsonstat, read_ssb_csv, to_population
from forecast.scenario import SHARED_DIR

ROOT = Path(__file__).resolve().parent.parent
SSB = SHARED_DIR / "data" / "ssb-jsonstat"
BAERUM_CSV = SHARED_DIR / "data" / "baerum" / "population_by_age_sex_2005_2018.csv"
FIX = Path(__file__).resolve().parent / "fixtures" / "ssb"
R05300 = SSB / "ssb_05300_jsonstat2_response.json"
B07459 = SSB / "constructed_07459_baerum_2018_by_sex_age.json"
META = SSB / "ssb_05300_v0_metadata_response.json"
QUERY = SSB / "ssb_07459_v0_query_2018_all_municipalities.json"


def raw(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dump(tmp_path, obj, name="table.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def baerum_published(year):
    df = pd.read_csv(BAERUM_CSV)
    return df[df.year == year].set_index(["sex", "age"])["persons"]


# ---------------------------------------------------------------- real 05300 response

def test_05300_values_nulls_and_status_as_in_the_raw_json():
    js = raw(R05300)
    nulls = {i for i, v in enumerate(js["value"]) if v is None}
    symbols = {int(k): s for k, s in js["status"].items()}
    assert len(js["value"]) == 432 and len(nulls) == 28 and len(symbols) == 28

    df = read_jsonstat(R05300)
    assert len(df) == 432
    assert df.attrs["dimensions"] == ["Avstand1", "Kulturtilbud", "ContentsCode", "Tid"]
    assert set(np.flatnonzero(df["value"].isna())) == nulls
    assert {i: s for i, s in df["status"].items() if pd.notna(s)} == symbols
    assert sorted(set(symbols.values())) == [".", ".."]
    present = [i for i in range(432) if i not in nulls]
    assert df["value"].to_numpy()[present].tolist() == [js["value"][i] for i in present]
    # row-major order: the last dimension (Tid) varies fastest
    row = df.iloc[71]
    assert (row.Avstand1, row.Kulturtilbud, row.Tid, row.status) == ("01", "08", "2021", ".")
    assert df.loc[0, "Kulturtilbud_label"].startswith("Kino")


def test_05300_imports_as_generic_long_csv_with_missing_kept(tmp_path):
    out = tmp_path / "05300.csv"
    result = import_ssb(R05300, out)
    assert list(result.columns) == ["Avstand1", "Kulturtilbud", "ContentsCode", "Tid", "value",
                                    "status"]
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(back.columns) == list(result.columns) and len(back) == 432
    js = raw(R05300)
    missing = back["value"] == ""
    assert missing.sum() == sum(v is None for v in js["value"])
    assert (back.loc[missing, "status"] != "").all()
    assert back["status"].value_counts().to_dict() == {
        "": 404, ".": list(js["status"].values()).count("."),
        "..": list(js["status"].values()).count("..")}
    assert back.loc[0].tolist() == ["01", "01", "Avstand", "1991", "16", ""]
    assert [p.name for p in tmp_path.iterdir()] == ["05300.csv"]  # no temporary left


# ---------------------------------------------------------------- constructed 07459 Bærum

def test_baerum_07459_population_layout_and_totals():
    df = import_ssb(B07459)
    assert list(df.columns) == ["year", "sex", "age", "persons"]
    assert len(df) == 212
    assert df["persons"].sum() == 125_454
    by_sex = df.groupby("sex")["persons"].sum()
    assert by_sex["female"] == 63_278 and by_sex["male"] == 62_176
    assert set(df["year"]) == {2018}
    for sex in ("female", "male"):
        assert df[df.sex == sex]["age"].tolist() == list(range(106))
    assert df.loc[(df.sex == "male") & (df.age == 105), "persons"].item() == 1  # code "105+"
    mine = df.set_index(["sex", "age"])["persons"]
    pd.testing.assert_series_equal(mine, baerum_published(2018).astype(float),
                                   check_names=False)


def test_baerum_07459_out_csv(tmp_path):
    out = tmp_path / "data" / "population.csv"
    import_ssb(B07459, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "year,sex,age,persons"
    assert len(lines) == 213
    assert lines[1] == "2018,female,0,674" and lines[-1] == "2018,male,105,1"
    assert ".0" not in out.read_text()


def test_region_column_first_when_several_regions(tmp_path):
    js = raw(B07459)
    js["size"][0] = 2
    js["dimension"]["Region"]["category"] = {"index": {"0219": 0, "K-3024": 1},
                                             "label": {"0219": "Bærum", "K-3024": "Bærum"}}
    js["value"] = js["value"] * 2
    df = import_ssb(dump(tmp_path, js))
    assert list(df.columns) == ["region", "year", "sex", "age", "persons"]
    assert df["region"].unique().tolist() == ["0219", "3024"]
    assert len(df) == 424 and df["persons"].sum() == 2 * 125_454


def test_nulls_and_status_stay_missing_in_population(tmp_path):
    js = raw(B07459)
    js["value"][0] = None              # male age 0
    js["value"][106 + 5] = None        # female age 5
    js["status"] = {"0": "..", "111": ":"}
    out = tmp_path / "pop.csv"
    df = import_ssb(dump(tmp_path, js), out)
    assert list(df.columns) == ["year", "sex", "age", "persons", "status"]
    gone = df[df["persons"].isna()]
    assert gone[["sex", "age", "status"]].values.tolist() == [["female", 5, ":"],
                                                             ["male", 0, ".."]]
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    male0 = (back.sex == "male") & (back.age == "0")
    assert back.loc[male0, ["persons", "status"]].values.tolist() == [["", ".."]]


def test_status_as_string_or_list(tmp_path):
    js = raw(B07459)
    js["status"] = "*"
    assert (read_jsonstat(dump(tmp_path, js))["status"] == "*").all()
    js["status"] = [None] * 211 + ["."]
    js["value"][211] = None
    df = read_jsonstat(dump(tmp_path, js))
    assert df["status"].notna().sum() == 1 and df["status"].iloc[-1] == "."
    assert np.isnan(df["value"].iloc[-1])


def test_contents_choice(tmp_path):
    js = raw(B07459)
    js["size"][3] = 2
    js["dimension"]["ContentsCode"]["category"] = {
        "index": {"Personer": 0, "Personer1": 1},
        "label": {"Personer": "Hovedalternativet (MMMM)", "Personer1": "Lav nasjonal vekst"}}
    js["value"] = [v for v in js["value"] for _ in (0, 1)]   # ContentsCode before Tid
    js["value"][1::2] = [v * 2 for v in js["value"][1::2]]
    path = dump(tmp_path, js)
    with pytest.raises(DataError) as err:
        import_ssb(path)
    assert str(path) in str(err.value) and "Personer, Personer1" in str(err.value)
    assert import_ssb(path, contents="Personer1")["persons"].sum() == 2 * 125_454
    assert import_ssb(path, contents="Hovedalternativet (MMMM)")["persons"].sum() == 125_454
    with pytest.raises(DataError, match="Personer9"):
        import_ssb(path, contents="Personer9")


# ---------------------------------------------------------------- malformed json-stat

def without_alder(js):
    i = js["id"].index("Alder")
    del js["id"][i], js["size"][i], js["dimension"]["Alder"]
    js["value"] = js["value"][::106]  # age 0 of each sex
    return js


def test_missing_alder_dimension(tmp_path):
    path = dump(tmp_path, without_alder(raw(B07459)))
    with pytest.raises(DataError) as err:
        import_ssb(path)
    msg = str(err.value)
    assert str(path) in msg and "Alder" in msg and "\n" not in msg
    assert len(import_ssb(path, table="long")) == 2  # still readable as a generic table


def test_unknown_sex_code(tmp_path):
    js = raw(B07459)
    cat = js["dimension"]["Kjonn"]["category"]
    cat["index"] = {"1": 0, "3": 1}
    cat["label"] = {"1": "Menn", "3": "Ukjent"}
    path = dump(tmp_path, js)
    with pytest.raises(DataError) as err:
        import_ssb(path)
    msg = str(err.value)
    assert str(path) in msg and "Kjonn" in msg and "'3'" in msg and "'2' (female)" in msg


@pytest.mark.parametrize("old, new, words", [
    ("000", "00-04", "cannot read age code '00-04'"),
    ("105+", "100+", "'100+'"),
    ("104", "999", "'999'"),
])
def test_bad_age_codes(tmp_path, old, new, words):
    js = raw(B07459)
    cat = js["dimension"]["Alder"]["category"]
    cat["index"] = {(new if k == old else k): v for k, v in cat["index"].items()}
    cat["label"][new] = cat["label"].pop(old)
    path = dump(tmp_path, js)
    with pytest.raises(DataError) as err:
        import_ssb(path)
    assert str(path) in str(err.value) and "Alder" in str(err.value) and words in str(err.value)


def test_duplicate_age_105_and_105_plus(tmp_path):
    js = raw(B07459)
    cat = js["dimension"]["Alder"]["category"]
    cat["index"] = {("105" if k == "104" else k): v for k, v in cat["index"].items()}
    cat["label"]["105"] = "105 år"
    with pytest.raises(DataError, match="two cells"):
        import_ssb(dump(tmp_path, js))


@pytest.mark.parametrize("text, words", [
    ('{"foo": 1}', "not JSON-stat"),
    ('{"class": "dataset", "version": "2.0"', "invalid JSON"),
    ('[1, 2, 3]', "not JSON-stat"),
    ('hello, world\nthis is not a table\n', "not an SSB CSV layout"),
])
def test_not_jsonstat_at_all(tmp_path, text, words):
    path = tmp_path / "junk.txt"
    path.write_text(text)
    out = tmp_path / "out.csv"
    with pytest.raises(DataError) as err:
        import_ssb(path, out)
    assert str(path) in str(err.value) and words in str(err.value)
    assert not out.exists()


def test_value_count_mismatch(tmp_path):
    js = raw(B07459)
    js["value"].pop()
    with pytest.raises(DataError, match="211 values but the sizes give 212 cells"):
        read_jsonstat(dump(tmp_path, js))


def test_v0_metadata_and_query_are_not_data():
    for path, words in ((META, "metadata response"), (QUERY, "query body")):
        with pytest.raises(DataError) as err:
            import_ssb(path)
        assert str(path) in str(err.value) and words in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        import_ssb(tmp_path / "nope.json")


# ---------------------------------------------------------------- CSV exports

def test_csv_long_codes_and_text_cp1252_with_status_codes(tmp_path):
    path = FIX / "long_codes_text_cp1252.csv"
    df = read_ssb_csv(path)
    assert df.attrs["dimensions"] == ["Region", "Kjonn", "Alder", "Tid", "ContentsCode"]
    assert df.attrs["table"] == "07459"
    assert df["Region"].unique().tolist() == ["0219"]
    assert df["Region_label"].unique().tolist() == ["Bærum"]  # decoded from Windows-1252
    out = tmp_path / "pop.csv"
    pop = import_ssb(path, out)
    assert list(pop.columns) == ["year", "sex", "age", "persons", "status"]
    assert pop[["sex", "age"]].values.tolist() == [["female", 0], ["female", 1], ["female", 105],
                                                   ["male", 0], ["male", 1], ["male", 105]]
    assert pop["persons"].tolist()[:1] + pop["persons"].tolist()[2:5] == [674, 0, 714, 757]
    assert pop["persons"].isna().tolist() == [False, True, False, False, False, True]
    assert pop["status"].tolist()[1] == ".." and pop["status"].tolist()[5] == ":"
    assert out.read_text().splitlines()[2] == "2018,female,1,,.."


def test_csv_wide_text_only_tab_utf8_bom():
    df = import_ssb(FIX / "wide_text_tab_utf8bom.csv")
    assert list(df.columns) == ["year", "sex", "age", "persons"]
    assert len(df) == 12
    for year in (2017, 2018):
        mine = df[df.year == year].set_index(["sex", "age"])["persons"]
        published = baerum_published(year)
        assert mine.to_dict() == {k: float(published[k]) for k in mine.index}
    raw_df = read_ssb_csv(FIX / "wide_text_tab_utf8bom.csv")
    assert raw_df["Region"].unique().tolist() == ["K-3024"]
    assert raw_df["ContentsCode"].unique().tolist() == ["Persons"]


def test_csv_generic_long_keeps_status_as_missing(tmp_path):
    out = tmp_path / "05300.csv"
    df = import_ssb(FIX / "long_generic_comma.csv", out)
    assert list(df.columns) == ["distance", "cultural facility", "ContentsCode", "Tid", "value",
                                "status"]
    assert df["distance"].tolist() == ["01", "01", "06", "06"]
    assert df["value"].isna().tolist() == [False, True, True, False]
    assert df["status"].tolist()[1:3] == [".", ".."]
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back["value"].tolist() == ["18", "", "", "2"]
    # the same cells in the real json-stat response
    js = read_jsonstat(R05300)
    assert js["value"].iloc[[70, 361]].tolist() == [18, 2]
    assert js["status"].iloc[[71, 360]].tolist() == [".", ".."]


def baerum_rows():
    js = raw(B07459)
    ages = list(js["dimension"]["Alder"]["category"]["index"])
    return [(sex, age, v) for (sex, age), v in
            zip([(s, a) for s in ("1", "2") for a in ages], js["value"])]


def test_csv_full_baerum_long_codes_text_equals_json(tmp_path):
    lab = raw(B07459)["dimension"]["Alder"]["category"]["label"]
    sexes = {"1": "Menn", "2": "Kvinner"}
    lines = ['"07459: Befolkning"', "",
             '"region";"kjønn";"alder";"år";"statistikkvariabel";"value"']
    lines += [f'"0219 Bærum";"{s} {sexes[s]}";"{a} {lab[a]}";"2018";"Personer";{v}'
              for s, a, v in baerum_rows()]
    path = tmp_path / "07459.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    pd.testing.assert_frame_equal(import_ssb(path), import_ssb(B07459))


def test_csv_full_baerum_wide_norwegian_text_equals_json(tmp_path):
    rows = {}
    for s, a, v in baerum_rows():
        age = int(a.rstrip("+"))
        text = "105 år eller eldre" if a == "105+" else f"{age} år"
        rows[("Menn" if s == "1" else "Kvinner", text)] = v
    lines = ['"region";"kjønn";"alder";"Personer 2018"']
    lines += [f'"0219 Bærum";"{s}";"{a}";{v}' for (s, a), v in rows.items()]
    path = tmp_path / "07459_wide.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pd.testing.assert_frame_equal(import_ssb(path), import_ssb(B07459))


def test_csv_decimal_comma_and_footnote(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text('"region";"år";"statistikkvariabel";"value"\n'
                    '"0219 Bærum";"2018";"Rate";"12,5"\n'
                    '"0219 Bærum";"2019";"Rate";"..."\n\n'
                    '"Fotnote: konstruert."\n', encoding="utf-8")
    df = import_ssb(path)
    assert df["value"].tolist()[0] == 12.5 and np.isnan(df["value"].tolist()[1])
    assert df["status"].tolist() == [None, "..."]


@pytest.mark.parametrize("text, words", [
    ("year,sex,age,persons\n2018,female,0,674\n", "not an SSB CSV layout"),
    ('"region";"år";"value"\n"0219 Bærum";"2018";"12a"\n', "line 2"),
    ('"region";"år";"value"\n"0219 Bærum";"2018";12;13\n', "line 2: 4 fields"),
    ('"region";"år";"value"\n', "no data rows"),
])
def test_csv_malformed(tmp_path, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        import_ssb(path)
    assert str(path) in str(err.value) and words in str(err.value)
    assert "\n" not in str(err.value)


def test_to_population_names_file_for_missing_dims():
    df = read_jsonstat(R05300)
    with pytest.raises(DataError) as err:
        to_population(df, "05300.json")
    assert str(err.value).startswith("05300.json: Kjonn: no Kjonn dimension")


def test_random_bytes_is_a_one_line_data_error(tmp_path):
    path = tmp_path / "random.csv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError) as err:
        import_ssb(path)
    assert str(err.value).startswith(f"{path}: not an SSB CSV export")
    assert "expected SSB json-stat or a CSV text export" in str(err.value)
    assert "\n" not in str(err.value)


def test_csv_stray_carriage_return_is_read_not_a_traceback(tmp_path):
    # csv.Error "new-line character seen in unquoted field" before: old Mac line ends
    path = tmp_path / "cr.csv"
    path.write_bytes(b'"region";"\xc3\xa5r";"value"\r"0219";"2018";12\r"0220";"2018";13\r')
    df = import_ssb(path)
    assert df["Region"].tolist() == ["0219", "0220"] and df["value"].tolist() == [12, 13]


def test_contents_filters_a_long_table(tmp_path):
    js = raw(R05300)
    cc = js["id"].index("ContentsCode")
    n = len(js["value"])
    assert len(import_ssb(R05300, contents="Avstand")) == n // js["size"][cc] == 432
    # a second statistic, values doubled: ContentsCode varies slower than Tid (size 9)
    tid = js["size"][js["id"].index("Tid")]
    blocks = [js["value"][i:i + tid] for i in range(0, n, tid)]
    js["value"] = [v for b in blocks for v in b + [None if x is None else 2 * x for x in b]]
    js["size"][cc] = 2
    js["dimension"]["ContentsCode"]["category"] = {
        "index": {"Avstand": 0, "Andel": 1}, "label": {"Avstand": "Avstand", "Andel": "Andel"}}
    del js["status"]
    path = dump(tmp_path, js)
    table = read_jsonstat(path)
    whole = import_ssb(path)
    assert len(whole) == len(table) == 2 * n
    out = tmp_path / "andel.csv"
    picked = import_ssb(path, out, contents="Andel")
    assert len(picked) == (table["ContentsCode"] == "Andel").sum() == n
    assert set(picked["ContentsCode"]) == {"Andel"}
    first = whole[whole["ContentsCode"] == "Avstand"]["value"].to_numpy()
    np.testing.assert_array_equal(picked["value"].to_numpy(), 2 * first)
    assert len(pd.read_csv(out)) == n
    assert len(import_ssb(path, contents="Avstand")) == n


def test_contents_unknown_or_absent_in_a_long_table(tmp_path):
    with pytest.raises(DataError) as err:
        import_ssb(R05300, contents="FOO")
    msg = str(err.value)
    assert msg.startswith(f"{R05300}: ContentsCode: contents 'FOO' not in the table")
    assert "expected one of Avstand" in msg and "\n" not in msg
    js = raw(R05300)
    i = js["id"].index("ContentsCode")
    del js["id"][i], js["size"][i], js["dimension"]["ContentsCode"]
    path = dump(tmp_path, js)
    assert len(import_ssb(path)) == 432
    with pytest.raises(DataError) as err:
        import_ssb(path, contents="Avstand")
    assert str(err.value).startswith(f"{path}: ContentsCode: contents 'Avstand' given but the "
                                     "table has no ContentsCode")
