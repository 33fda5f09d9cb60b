"""Admin for mood mappings: curate, preview, check health, import and export."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from playlists.models import FALLBACK_HELP, MoodMapping
from playlists.services import mapping_check_health, mapping_preview
from playlists.transfer import MappingImportError, mappings_export, mappings_import

_HEALTH_COLOURS = {
    MoodMapping.Health.OK: "#2e7d32",
    MoodMapping.Health.NOT_FOUND: "#c62828",
    MoodMapping.Health.FORBIDDEN: "#c62828",
    MoodMapping.Health.UNREACHABLE: "#ef6c00",
    MoodMapping.Health.UNKNOWN: "#757575",
}


class ImportForm(forms.Form):
    """A JSON file or pasted JSON in the export format."""

    file = forms.FileField(required=False, help_text="A .json file exported from here.")
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 10, "cols": 80}))

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("file")
        text = upload.read().decode("utf-8", errors="replace") if upload else data.get("text", "")
        if not text.strip():
            raise forms.ValidationError("Choose a JSON file or paste JSON.")
        data["document"] = text
        return data


#: Fields the site maintains (health checks, listener feedback, the track cache): shown, not edited.
_STATUS_FIELDS = (
    "health",
    "health_checked_at",
    "health_detail",
    "skip_count",
    "like_count",
    "not_my_mood_count",
    "tracks_cached_at",
)


@admin.register(MoodMapping)
class MoodMappingAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "mood",
        "age_band",
        "gender",
        "source",
        "priority",
        "enabled",
        "health_badge",
        "feedback",
        "note_summary",
    )
    list_display_links = ("id", "mood")
    list_editable = ("priority", "enabled")
    list_filter = ("mood", "age_band", "gender", "kind", "enabled", "health")
    search_fields = ("note", "links", "search_query")
    actions = ("check_health", "export_json")
    readonly_fields = ("kind", *_STATUS_FIELDS, "preview")
    fieldsets = (
        (
            "Who it plays for",
            {"fields": ("mood", "age_band", "gender"), "description": FALLBACK_HELP},
        ),
        ("What it plays", {"fields": ("links", "search_query", "kind")}),
        ("Curation", {"fields": ("priority", "enabled", "note")}),
        ("Preview", {"fields": ("preview",)}),
        ("Health and listener feedback", {"fields": _STATUS_FIELDS}),
    )
    change_list_template = "admin/playlists/moodmapping/change_list.html"

    @admin.display(description="plays")
    def source(self, obj: MoodMapping) -> str:
        return obj.source_label()

    @admin.display(description="skips / likes / not my mood")
    def feedback(self, obj: MoodMapping) -> str:
        return f"{obj.skip_count} / {obj.like_count} / {obj.not_my_mood_count}"

    @admin.display(description="note", ordering="note")
    def note_summary(self, obj: MoodMapping) -> str:
        # The full note is on the change page; a long one would squeeze every other column.
        return Truncator(obj.note).chars(70)

    @admin.display(description="health", ordering="health")
    def health_badge(self, obj: MoodMapping) -> SafeString:
        checked = obj.health_checked_at.strftime("%Y-%m-%d %H:%M") if obj.health_checked_at else ""
        return format_html(
            '<span style="color:{}" title="{}">● {}</span>',
            _HEALTH_COLOURS.get(obj.health, "#757575"),
            f"{checked} {obj.health_detail}".strip(),
            obj.get_health_display(),
        )

    @admin.display(description="resolves to")
    def preview(self, obj: MoodMapping) -> SafeString:
        if obj.pk is None:
            return format_html("<p>{}</p>", "Save the mapping to see what it plays.")
        choice = mapping_preview(mapping=obj)
        parts = []
        if choice.embed_url:
            parts.append(
                format_html(
                    '<iframe class="spotify-embed" src="{}" width="100%" height="152" '
                    'style="max-width:480px;border:0;border-radius:12px" loading="lazy" '
                    'allow="autoplay; clipboard-write; encrypted-media; fullscreen; '
                    'picture-in-picture"></iframe>',
                    choice.embed_url,
                )
            )
        titled = [t for t in choice.tracks if t.get("title")]
        if titled:
            parts.append(
                format_html(
                    '<ol class="preview-tracks">{}</ol>',
                    format_html_join(
                        "",
                        '<li><img src="{}" alt="" width="32" height="32"> {} — {}</li>',
                        ((t["image"], t["title"], ", ".join(t["artists"])) for t in titled),
                    ),
                )
            )
        elif choice.tracks:
            parts.append(
                format_html(
                    "<p>{} tracks (titles need Spotify credentials).</p>", len(choice.tracks)
                )
            )
        if choice.degraded:
            parts.append(format_html('<p class="errornote">{}</p>', choice.degraded))
        return format_html_join("", "{}", ((p,) for p in parts)) or format_html(
            "<p>Nothing to play.</p>"
        )

    @admin.action(description="Check now (Spotify oEmbed, no credentials needed)")
    def check_health(self, request: HttpRequest, queryset) -> None:
        states: dict[str, int] = {}
        for mapping in queryset:
            mapping_check_health(mapping=mapping)
            label = mapping.get_health_display()
            states[label] = states.get(label, 0) + 1
        summary = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        level = messages.SUCCESS if set(states) <= {"ok"} else messages.WARNING
        self.message_user(request, f"Checked {queryset.count()} mappings: {summary}.", level)

    @admin.action(description="Export selected mappings as JSON")
    def export_json(self, request: HttpRequest, queryset) -> HttpResponse:
        body = json.dumps(mappings_export(mappings=queryset), indent=2, ensure_ascii=False)
        response = HttpResponse(body + "\n", content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="mood-mappings.json"'
        return response

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="playlists_moodmapping_import"), *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = mappings_import(document=form.cleaned_data["document"])
            except MappingImportError as err:
                form.add_error(None, str(err))
            else:
                self.message_user(
                    request,
                    f"Imported mood mappings: {result.created} created, {result.updated} updated.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:playlists_moodmapping_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import mood mappings",
        }
        return TemplateResponse(request, "admin/playlists/moodmapping/import.html", context)
