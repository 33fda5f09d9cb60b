"""Template helpers for the player."""

from django import template

from ml.labels import MOODS

register = template.Library()


@register.simple_tag
def mood_choices() -> tuple[str, ...]:
    """The moods the listener can choose by hand, in ``ml.labels.MOODS`` order."""
    return MOODS
