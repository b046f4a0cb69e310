"""{% icon "name" %}: one of the client's control icons (static/icons.svg), decorative."""

from django import template
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def icon(name: str) -> SafeString:
    return format_html('<svg class="icon" aria-hidden="true" focusable="false">'
                       '<use href="{}#i-{}"></use></svg>', static("icons.svg"), name)
