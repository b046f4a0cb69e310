"""Link previews: a card under a message for the pages it links to, from their Open Graph
or oEmbed metadata, fetched by a background job through the SSRF guard."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from accounts.models import Organisation
from core.parsers import json_loads
from files.images import MAX_IMAGE_PIXELS
from integrations import fetch
from integrations.models import LinkPreview, MessageLinkPreview
from messaging.events import event_record
from messaging.models import Message
from messaging.services.conversations import lock_conversation

URL_RE = re.compile(r"https?://[^\s<>()\[\]]+", re.IGNORECASE)
MAX_LINKS = 3
PAGE_BYTES = 1024 * 1024
IMAGE_BYTES = 2 * 1024 * 1024
REFRESH_AFTER = timedelta(days=1)


class _Metadata(HTMLParser):
    """Open Graph and plain HTML metadata, plus the oEmbed discovery link."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self.oembed = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            key = (found.get("property") or found.get("name") or "").lower()
            if key and "content" in found and key not in self.meta:
                self.meta[key] = found["content"].strip()
        elif tag == "link" and found.get("type") == "application/json+oembed" and found.get("href"):
            self.oembed = self.oembed or found["href"]
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < 300:
            self.title += data


def links_in(text: str) -> list[str]:
    found: list[str] = []
    for match in URL_RE.findall(text or ""):
        url = match.rstrip(".,;:!?'\"")
        if url not in found:
            found.append(url)
    return found[:MAX_LINKS]


def _image(url: str, domains: list[str]) -> bytes | None:
    try:
        answer = fetch.request("GET", url, max_bytes=IMAGE_BYTES, timeout=5.0,
                               allowed_domains=domains or None)
        if answer.status != 200:
            return None
        with Image.open(io.BytesIO(answer.body)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return None
            image.thumbnail((400, 400))
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=82)
            return out.getvalue()
    except (fetch.FetchRefused, OSError, ValueError, Image.DecompressionBombError):
        return None


def preview_fetch(url: str) -> LinkPreview:
    """The preview of one URL, fetched now or reused if fetched lately."""
    organisation = Organisation.get()
    digest = hashlib.sha256(url.encode()).hexdigest()
    cached = LinkPreview.objects.filter(url_hash=digest).first()
    if cached and timezone.now() - cached.fetched_at < REFRESH_AFTER:
        return cached
    preview = cached or LinkPreview(url=url[:2000], url_hash=digest)
    preview.fetched_at = timezone.now()
    domains = organisation.link_preview_domains
    try:
        answer = fetch.request("GET", url, max_bytes=PAGE_BYTES, timeout=5.0,
                               allowed_domains=domains or None,
                               headers={"Accept": "text/html,application/xhtml+xml"})
        if answer.status != 200 or "html" not in answer.headers.get("content-type", ""):
            raise fetch.FetchRefused(f"not an HTML page (HTTP {answer.status})")
        parser = _Metadata()
        parser.feed(answer.body.decode("utf-8", "replace"))
        meta = parser.meta
        oembed: dict = {}
        if parser.oembed and not meta.get("og:title"):
            embed = fetch.request("GET", urljoin(answer.url, parser.oembed), max_bytes=64 * 1024,
                                  timeout=5.0, allowed_domains=domains or None)
            oembed = json_loads(embed.body) if embed.status == 200 else {}  # bounded
            if not isinstance(oembed, dict):
                raise ValueError("the oEmbed answer is not a JSON object")
        preview.title = (meta.get("og:title") or oembed.get("title") or parser.title).strip()[:300]
        preview.description = (meta.get("og:description") or meta.get("description") or "")[:1000]
        preview.site_name = (meta.get("og:site_name") or oembed.get("provider_name") or "")[:200]
        image_url = meta.get("og:image") or oembed.get("thumbnail_url") or ""
        preview.error = ""
        if image_url:
            data = _image(urljoin(answer.url, image_url), domains)
            if data:
                preview.image.save("image.jpg", ContentFile(data), save=False)
    except (fetch.FetchRefused, ValueError) as error:
        preview.error = str(error)[:300]
    preview.save()
    return preview


def message_previews_make(*, message_id: int) -> list[LinkPreview]:
    """Fetch previews for a message's links and show them under it (a live event)."""
    organisation = Organisation.get()
    message = Message.objects.filter(pk=message_id, deleted_at__isnull=True).first()
    if message is None or not organisation.link_previews_enabled or not message.has_link:
        return []
    previews = [p for p in (preview_fetch(url) for url in links_in(message.text))
                if not p.error and p.title]
    if not previews:
        return []
    with transaction.atomic():
        conversation = lock_conversation(message.conversation_id)
        for position, preview in enumerate(previews):
            MessageLinkPreview.objects.get_or_create(message=message, preview=preview,
                                                     defaults={"position": position})
        message = Message.objects.get(pk=message.pk)
        event_record(conversation=conversation, event_type="message.previews", message=message)
    return previews
