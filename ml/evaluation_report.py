"""The tables of an evaluation, built once and written as plain text or as Markdown.

``report_tables`` turns ``ml.evaluation.evaluate``'s results into tables; ``format_report``
writes them for a terminal and ``format_markdown`` as the model card's Markdown, so both say the
same thing in the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ml.labels import MOODS


@dataclass(frozen=True)
class Table:
    """One table: a title line (text only), a header row and rows of cells."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _fer_tables(fer: dict[str, Any]) -> list[Table]:
    split = fer.get("split", "test")
    columns = [fer, *(part for _, part in sorted((fer.get("splits") or {}).items()))]
    names = ("value",) if len(columns) == 1 else ("all", *sorted(fer["splits"]))
    rows = [
        ("images", *(str(r["n"]) for r in columns)),
        ("accuracy", *(_pct(r["accuracy"]) for r in columns)),
        ("macro-F1", *(_fmt(r["macro_f1"]) for r in columns)),
    ]
    rows += [(f"recall {m}", *(_pct((r["recall"] or {}).get(m)) for r in columns)) for m in MOODS]
    tables = [
        Table(
            f"FER2013 {split}: {fer['n']} faces",
            (f"FER2013 {split}, {len(MOODS)} moods", *names),
            rows,
        )
    ]
    if fer["confusion"]:
        counts = [(m, *map(str, row)) for m, row in zip(MOODS, fer["confusion"], strict=True)]
        tables.append(
            Table("confusion (rows true, columns predicted)", ("true \\ predicted", *MOODS), counts)
        )
    return tables


def _utkface_tables(utk: dict[str, Any]) -> list[Table]:
    summary = Table(
        f"UTKFace ({utk['split']}): {utk['n']} faces",
        (f"UTKFace {utk['split']}", "value"),
        [
            ("images", str(utk["n"])),
            ("age MAE", f"{_fmt(utk['age_mae'], 2)} years"),
            ("gender accuracy", _pct(utk["gender_accuracy"])),
        ],
    )
    races = Table(
        "by race",
        ("UTKFace race group", "images", "age MAE (years)", "gender accuracy"),
        [
            (f"{code} {r['name']}", str(r["n"]), _fmt(r["age_mae"], 2), _pct(r["gender_accuracy"]))
            for code, r in utk["by_race"].items()
        ],
    )
    return [summary, races, _decades_table("by decade of the true age", "images", utk["by_decade"])]


def _decades_table(title: str, counted: str, by_decade: dict[str, Any]) -> Table:
    """Age MAE and gender accuracy by decade of the true age, with the ``counted`` n."""
    return Table(
        title,
        ("age decade", counted, "age MAE (years)", "gender accuracy"),
        [
            (name, str(r["n"]), _fmt(r["age_mae"], 2), _pct(r.get("gender_accuracy")))
            for name, r in by_decade.items()
        ],
    )


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def _years(value: float) -> str:
    return f"{value:+.2f}"


_DIFFERENCE = {"points": _points, "years": _years}


def _plus_minus(value: float, se: float | None, fmt: Callable[[float], str]) -> str:
    """A signed figure and, where known, its standard error: "-1.2 ± 0.3"."""
    return fmt(value) if se is None else f"{fmt(value)} ± {fmt(se).lstrip('+')}"


def _gap_cell(gap: dict[str, float] | None, fmt: Callable[[float], str], unit: str) -> str:
    """``live minus crops`` and its two causes, each figure with its standard error over faces
    where known, e.g. "-1.2 ± 0.3 points (found -0.4 ± 0.2, missed -0.8)"."""
    if not gap:
        return ""

    def with_se(key: str) -> str:
        return _plus_minus(gap[key], gap.get(f"{key}_se"), fmt)

    return (
        f"{with_se('total')} {unit} (found {with_se('found_faces')}, "
        f"missed {fmt(gap['missed_faces'])})"
    )


def _gap_rows(live: dict[str, Any]) -> list[tuple[str, ...]]:
    """The crops' figures on the faces the live path found, and live minus crops over all
    frames split into what the found faces lose and what the missed ones cost."""
    fer, utk = live.get("fer") or {}, live.get("utkface") or {}
    if "gap" not in fer and "gap" not in utk:
        return []
    rows = []
    if "gap" in fer:
        crops = _pct(fer["found"]["crops_accuracy"])
        rows.append(("FER2013 found, their crops", "", crops, "", ""))
    if "gap" in utk:
        found = utk["found"]
        rows.append(
            (
                "UTKFace found, their crops",
                "",
                "",
                f"MAE {_fmt(found['crops_age_mae'], 2)}",
                _pct(found["crops_gender_accuracy"]),
            )
        )
    fer_gap, utk_gap = fer.get("gap", {}), utk.get("gap", {})
    rows.append(
        (
            "live minus crops, all frames",
            "",
            _gap_cell(fer_gap.get("accuracy"), _points, "points"),
            _gap_cell(utk_gap.get("age_mae"), _years, "years"),
            _gap_cell(utk_gap.get("gender_accuracy"), _points, "points"),
        )
    )
    return rows


def _live_table(live: dict[str, Any]) -> Table:
    sizes = " / ".join(f"{name} {side} px" for name, side in live["sizes"].items())
    rows = []
    for scope in ("all", "found"):
        if "fer" in live:
            fer = live["fer"]
            rows.append(
                (
                    f"FER2013 {scope}",
                    " / ".join(_pct(fer["recall"][n]) for n in fer["recall"]),
                    _pct(fer[scope]["accuracy"]),
                    f"F1 {_fmt(fer[scope]['macro_f1'])}",
                    "",
                )
            )
        if "utkface" in live:
            utk = live["utkface"]
            rows.append(
                (
                    f"UTKFace {scope}",
                    " / ".join(_pct(utk["recall"][n]) for n in utk["recall"]),
                    "",
                    f"MAE {_fmt(utk[scope]['age_mae'], 2)}",
                    _pct(utk[scope]["gender_accuracy"]),
                )
            )
    rows += _gap_rows(live)
    face_free = live.get("face_free")
    if face_free:
        counts = ", ".join(
            f"{kind} {face_free[kind]['with_face']} of {face_free[kind]['frames']}"
            for kind in face_free
            if kind != "all"
        )
        rows.append(
            (
                "frames with no face: a face reported",
                f"{_pct(face_free['all']['rate'])} ({counts})",
                "",
                "",
                "",
            )
        )
    width, height = live["frame"]
    # Frames around replicated image edges are a diagnosis, named so they are not taken for
    # the room frames; reports written before the option had room frames.
    where = live["detector"] + (", edge background" if live.get("background") == "edge" else "")
    return Table(
        f"Live path ({where}, {width}x{height} frames)",
        (
            f"live path ({where})",
            f"faces found ({sizes})",
            "mood accuracy",
            "macro-F1 or age MAE",
            "gender accuracy",
        ),
        rows,
    )


#: The rows of the comparison with a baseline: dataset, metric, its name and its kind.
_COMPARED = (
    ("fer", "accuracy", "FER2013 mood accuracy", "points"),
    ("utkface", "age_mae", "UTKFace age MAE", "years"),
    ("utkface", "gender_accuracy", "UTKFace gender accuracy", "points"),
)
_SCOPES = {"crops": "crops", "live": "live path, all frames", "gap": "live minus crops"}


def _with_se(figure: dict[str, Any], kind: str) -> str:
    """A paired difference and its standard error, e.g. "+0.7 ± 0.3 points"."""
    if figure["difference"] is None:
        return "-"
    return f"{_plus_minus(figure['difference'], figure['se'], _DIFFERENCE[kind])} {kind}"


def _baseline_table(baseline: dict[str, Any]) -> Table:
    """This model against the baseline, face by face (``ml.comparison.compare``)."""
    rows = []
    for dataset, metric, name, kind in _COMPARED:
        for scope, label in _SCOPES.items():
            figure = (baseline.get(dataset) or {}).get(scope, {}).get(metric)
            if not figure:
                continue
            if scope == "gap":
                ours, theirs = (
                    "-" if figure[who] is None else _DIFFERENCE[kind](figure[who])
                    for who in ("candidate", "baseline")
                )
            elif kind == "points":
                ours, theirs = _pct(figure["candidate"]), _pct(figure["baseline"])
            else:
                ours, theirs = _fmt(figure["candidate"], 2), _fmt(figure["baseline"], 2)
            rows.append((f"{name}, {label}", ours, theirs, _with_se(figure, kind)))
    faces = ", ".join(
        f"{label} {baseline[dataset]['faces']}"
        for dataset, label in (("fer", "FER2013"), ("utkface", "UTKFace"))
        if dataset in baseline
    )
    return Table(
        f"Against {baseline['model']} ({baseline['runtime']}), face by face on the same faces "
        f"({faces}); ± one standard error over faces",
        (f"against {baseline['model']}", "this model", "baseline", "difference"),
        rows,
    )


def report_tables(results: dict[str, Any]) -> list[Table]:
    """The tables of ``evaluate``'s results: FER2013, UTKFace and the live path, where present."""
    tables = []
    if results.get("fer"):
        tables += _fer_tables(results["fer"])
    if results.get("utkface"):
        tables += _utkface_tables(results["utkface"])
    if results.get("live"):
        tables.append(_live_table(results["live"]))
        by_decade = ((results["live"].get("utkface") or {}).get("all") or {}).get("by_decade")
        if by_decade:
            tables.append(
                _decades_table(
                    "live path, all frames, by decade of the true age", "frames", by_decade
                )
            )
    if results.get("baseline"):
        tables.append(_baseline_table(results["baseline"]))
    return tables


def format_report(results: dict[str, Any]) -> str:
    """``evaluate``'s results as plain-text tables with aligned columns."""
    lines = [f"Model {results['model']} ({results['runtime']})"]
    for table in report_tables(results):
        cells = [table.header, *table.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(table.header))]
        lines += ["", table.title]
        for row in cells:
            padded = [cell.rjust(width) for cell, width in zip(row, widths, strict=True)]
            lines.append("  ".join([row[0].ljust(widths[0]), *padded[1:]]).rstrip())
    return "\n".join(lines)


def format_markdown(results: dict[str, Any]) -> str:
    """``evaluate``'s results as the Markdown tables of the model card."""
    lines = [f"Model `{results['model']}`, runtime `{results['runtime']}`."]
    for table in report_tables(results):
        lines += ["", "| " + " | ".join(table.header) + " |", "|---" * len(table.header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"
