"""Import and export of mood mappings as JSON (admin action, import view, commands, defaults)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from playlists.models import MoodMapping

FORMAT_VERSION = 1
#: Fields that describe a mapping; health, counters and cached tracks are not exported.
FIELDS: tuple[str, ...] = (
    "mood",
    "age_band",
    "gender",
    "links",
    "search_query",
    "priority",
    "enabled",
    "note",
)
DEFAULTS_PATH = Path(__file__).resolve().parent / "fixtures" / "default_mappings.json"


class MappingImportError(ValueError):
    """An import file is not valid JSON in the mappings format or holds invalid mappings."""


@dataclass(frozen=True)
class ImportResult:
    """How many mappings an import created and how many it updated in place."""

    created: int
    updated: int


def mappings_export(*, mappings: Any = None) -> dict[str, Any]:
    """The given mappings (all when None) as a JSON-ready document."""
    rows = MoodMapping.objects.all() if mappings is None else mappings
    return {
        "version": FORMAT_VERSION,
        "mappings": [
            {
                **{name: getattr(row, name) for name in FIELDS if name != "links"},
                "links": row.uris,
            }
            for row in rows.order_by("mood", "age_band", "gender", "-priority", "id")
        ],
    }


def _entry_fields(index: int, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise MappingImportError(
            f"mappings[{index}] must be an object, got {type(entry).__name__}."
        )
    unknown = set(entry) - set(FIELDS)
    if unknown:
        raise MappingImportError(
            f"mappings[{index}] has unknown fields {sorted(unknown)}; "
            f"expected some of {list(FIELDS)}."
        )
    fields = {name: entry[name] for name in FIELDS if name in entry}
    links = fields.get("links", "")
    fields["links"] = "\n".join(links) if isinstance(links, list) else str(links)
    for name in ("age_band", "gender", "search_query", "note"):
        fields[name] = fields.get(name) or ""
    return fields


def mappings_import(*, document: Any) -> ImportResult:
    """Creates the mappings in ``document``, updating identical ones; all or nothing."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError as err:
            raise MappingImportError(f"Not JSON: {err}") from err
    if not isinstance(document, dict) or not isinstance(document.get("mappings"), list):
        raise MappingImportError('Expected an object {"version": 1, "mappings": [...]}.')
    if document.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise MappingImportError(
            f"Format version {document.get('version')!r} is not supported; "
            f"expected {FORMAT_VERSION}."
        )
    created = updated = 0
    with transaction.atomic():
        for index, entry in enumerate(document["mappings"]):
            mapping = MoodMapping(**_entry_fields(index, entry))
            try:
                mapping.full_clean()
            except ValidationError as err:
                problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in err.message_dict.items())
                raise MappingImportError(f"mappings[{index}]: {problems}") from err
            same = MoodMapping.objects.filter(
                mood=mapping.mood,
                age_band=mapping.age_band,
                gender=mapping.gender,
                links=mapping.links,
                search_query=mapping.search_query,
            ).first()
            if same is None:
                mapping.save()
                created += 1
            else:
                same.priority, same.enabled, same.note = (
                    mapping.priority,
                    mapping.enabled,
                    mapping.note,
                )
                same.save(update_fields=["priority", "enabled", "note", "updated_at"])
                updated += 1
    return ImportResult(created=created, updated=updated)


def mappings_load_defaults() -> ImportResult | None:
    """Loads the shipped default mappings when there are no mappings at all; else None."""
    if MoodMapping.objects.exists():
        return None
    return mappings_import(document=DEFAULTS_PATH.read_text(encoding="utf-8"))
