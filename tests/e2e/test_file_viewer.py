"""The in-page file viewer (issue 34): pictures and PDFs of a conversation open in a modal
dialog with zoom, next and previous and download; a PDF shows its first page in the list;
video and audio still play in the message."""

from __future__ import annotations

import io
import math
import re
import wave

import pytest
from playwright.sync_api import expect

from tests.e2e import message_item
from tests.e2e.test_accessibility import serious
from tests.e2e.test_icons import bad
from tests.factories import make_channel, make_user
from tests.files.test_files import png_bytes, video_bytes

# Chromium's built-in PDF viewer.
PDF_VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wav_bytes() -> bytes:
    """Two seconds of a 440 Hz tone."""
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"".join(
            int(8000 * math.sin(2 * math.pi * 440 * n / 8000)).to_bytes(2, "little", signed=True)
            for n in range(16000)))
    return out.getvalue()


def sunset_png() -> bytes:
    """A 1600 x 1000 picture: larger than the viewer, so it is shrunk to fit."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (1600, 1000), "#f59e0b")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((600, 380, 1000, 780), fill="#dc2626")
    draw.rectangle((0, 700, 1600, 1000), fill="#1e3a8a")
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def report_pdf() -> bytes:
    """A one-page PDF with something on it to see in the thumbnail and the screenshots."""
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (420, 594), "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((30, 30, 390, 90), fill="#2f5bd3")
    draw.text((45, 50), "Quarterly report", fill="white")
    for n in range(12):
        draw.rectangle((30, 120 + n * 34, 390 - (n % 3) * 60, 132 + n * 34), fill="#9aa3b5")
    out = io.BytesIO()
    page.save(out, "PDF")
    return out.getvalue()


def send_files(page, paths, text: str) -> None:
    page.set_input_files("#file-input", [str(path) for path in paths])
    expect(page.locator("#upload-list .upload-item")).to_have_count(len(paths))
    expect(page.locator("#upload-list progress")).to_have_count(0)
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def test_pictures_and_a_pdf_open_in_the_viewer_and_step_through(people, artifacts, off_loop,
                                                                 tmp_path):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "pictures", members=[ben])
    sunset, harbour = tmp_path / "sunset.png", tmp_path / "<img src=x onerror=alert(1)>harbour.png"
    sunset.write_bytes(sunset_png())
    harbour.write_bytes(png_bytes((300, 200), "navy"))
    report = tmp_path / "report.pdf"
    report.write_bytes(report_pdf())
    a = people(ana)
    a.go(channel.pk)
    page = a.page
    send_files(page, [sunset], "The sunset")
    expect(message_item(page, "The sunset").locator(".file-image img")).to_be_visible()
    send_files(page, [harbour], "The harbour")
    expect(message_item(page, "The harbour").locator(".file-image img")).to_be_visible()
    send_files(page, [report], "The report")

    # The PDF shows its first page, its name and size under it, in place of a plain card.
    pdf = message_item(page, "The report").locator("a.file-pdf")
    expect(pdf.locator("img")).to_have_js_property("complete", True)
    assert pdf.locator("img").evaluate("img => img.naturalWidth") > 0
    expect(pdf).to_contain_text("report.pdf")
    expect(pdf).to_contain_text(re.compile(r"\d+(\.\d)? (B|KB) · PDF"))
    page.locator("#messages").evaluate("list => { list.scrollTop = list.scrollHeight; }")
    page.screenshot(path=str(artifacts / "file-list.png"))

    # A picture opens in the viewer, named for the file, fitted to the screen.
    opener = message_item(page, "The sunset").get_by_role("link", name="sunset.png")
    opener.click()
    expect(page.get_by_role("dialog", name="sunset.png")).to_be_visible()
    viewer = page.locator("#file-viewer")
    expect(viewer).to_have_attribute("aria-modal", "true")
    expect(viewer.get_by_role("button", name="Close")).to_be_focused()
    expect(viewer.locator("#viewer-position")).to_have_text("1 of 3")
    image = viewer.locator("img.viewer-image")
    expect(image).to_have_js_property("complete", True)
    fitted = image.bounding_box()
    canvas = viewer.locator(".viewer-canvas").bounding_box()
    assert fitted["width"] <= canvas["width"] + 1 and fitted["height"] <= canvas["height"] + 1
    assert 0 < float(image.get_attribute("data-scale")) < 1  # 1600 px wide: shrunk to fit
    download = viewer.get_by_role("link", name="Download sunset.png")
    assert re.fullmatch(r"/api/v1/files/\d+/download\?download=1", download.get_attribute("href"))
    page.screenshot(path=str(artifacts / "file-viewer.png"))
    assert serious(page) == []
    assert bad(page, "#file-viewer") == []  # icons, not characters, each control named

    # Zoom in with the button and the + key; back to fit with the button.
    viewer.get_by_role("button", name="Zoom in").click()
    page.keyboard.press("+")
    assert image.bounding_box()["width"] > fitted["width"] * 1.5
    assert float(image.get_attribute("data-scale")) > float(f"{fitted['width'] / 1600:.3f}")
    page.keyboard.press("-")
    viewer.get_by_role("button", name="Fit to screen").click()
    assert abs(image.bounding_box()["width"] - fitted["width"]) < 1

    # The next file, by key and by button; the hostile name stays text.
    page.keyboard.press("ArrowRight")
    expect(viewer.locator("#viewer-position")).to_have_text("2 of 3")
    expect(viewer.locator("#viewer-title")).to_have_text("<img src=x onerror=alert(1)>harbour.png")
    assert viewer.locator("#viewer-title img").count() == 0
    viewer.get_by_role("button", name="Next file").click()
    expect(viewer.locator("#viewer-position")).to_have_text("3 of 3")
    expect(viewer.get_by_role("button", name="Next file")).to_have_attribute("aria-disabled", "true")

    # The PDF, in the browser's own PDF viewer in a frame of the file's URL.
    expect(viewer.locator("#viewer-title")).to_have_text("report.pdf")
    expect(viewer.get_by_role("group", name="Zoom")).to_be_hidden()
    frame = viewer.locator("iframe.viewer-pdf")
    expect(frame).to_have_attribute("title", "report.pdf")
    assert re.fullmatch(r"/api/v1/files/\d+/download", frame.get_attribute("src"))
    # Chromium's PDF viewer (an extension frame inside ours) took the file: it was framed.
    for _ in range(100):
        if any(f.url.startswith(PDF_VIEWER) for f in page.frames):
            break
        page.wait_for_timeout(100)
    assert any(f.url.startswith(PDF_VIEWER) for f in page.frames)
    page.screenshot(path=str(artifacts / "file-viewer-pdf.png"))
    assert re.fullmatch(r"/api/v1/files/\d+/download\?download=1",
                        viewer.get_by_role("link", name="Download report.pdf").get_attribute("href"))
    page.keyboard.press("ArrowLeft")
    expect(viewer.locator("#viewer-position")).to_have_text("2 of 3")

    # Esc closes, and the picture that opened the viewer has the focus again.
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(opener).to_be_focused()

    # The PDF's picture in the list opens the viewer on the PDF.
    pdf.click()
    expect(page.get_by_role("dialog", name="report.pdf")).to_be_visible()
    expect(page.locator("#viewer-position")).to_have_text("3 of 3")
    page.get_by_role("button", name="Close").click()
    expect(pdf).to_be_focused()


def test_without_a_pdf_viewer_the_viewer_shows_the_first_page_and_links(people, off_loop,
                                                                         tmp_path):
    ana = off_loop(make_user, name="Ana Lopez")
    channel = off_loop(make_channel, ana, "reports")
    report = tmp_path / "report.pdf"
    report.write_bytes(report_pdf())
    a = people(ana)
    page = a.page
    # A browser without a PDF viewer (many phones) says so through the standard property.
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'pdfViewerEnabled', "
                         "{ get: () => false })")
    page.reload()
    page.wait_for_selector("#app[data-state=ready]")
    a.go(channel.pk)
    send_files(page, [report], "The report")
    message_item(page, "The report").locator("a.file-pdf").click()
    viewer = page.get_by_role("dialog", name="report.pdf")
    expect(viewer).to_be_visible()
    expect(viewer.locator("iframe")).to_have_count(0)
    preview = viewer.get_by_role("img", name="First page of report.pdf")
    expect(preview).to_have_js_property("complete", True)
    assert preview.evaluate("img => img.naturalWidth") > 0
    expect(viewer).to_contain_text("cannot show PDFs here")
    assert re.fullmatch(r"/api/v1/files/\d+/download",
                        viewer.get_by_role("link", name="Open report.pdf in a new tab")
                        .get_attribute("href"))
    expect(viewer.get_by_role("link", name="Download report.pdf")).to_be_visible()


def test_video_and_audio_still_play_in_the_message(people, off_loop, tmp_path):
    ana = off_loop(make_user, name="Ana Lopez")
    channel = off_loop(make_channel, ana, "media")
    clip, tone = tmp_path / "clip.webm", tmp_path / "tone.wav"
    clip.write_bytes(video_bytes("webm", "libvpx", frames=20))  # VP8: Chromium has no MPEG-4 part 2 decoder
    tone.write_bytes(wav_bytes())
    a = people(ana)
    page = a.page
    a.go(channel.pk)
    send_files(page, [clip, tone], "A clip and a tone")
    message = message_item(page, "A clip and a tone")
    for player in (message.locator(".file-video video"), message.locator(".file-audio audio")):
        expect(player).to_have_attribute("controls", "")
        # Asked afresh each time, from here: the message may be drawn again meanwhile (its
        # preview arriving), and a player taken out of the page never plays on.
        played = 0.0
        for _ in range(100):
            played = player.evaluate("""player => {
                if (player.currentTime > 0) return player.currentTime;
                player.muted = true;
                if (player.paused) player.play().catch(() => {});
                return 0;
            }""")
            if played > 0:
                break
            page.wait_for_timeout(100)
        assert played > 0, "the player never played"
        assert player.evaluate("player => player.duration") > 1
    expect(page.locator("#file-viewer[open]")).to_have_count(0)  # playing opens no viewer


def test_an_encrypted_picture_opens_in_the_viewer_decrypted_in_the_browser(people, off_loop):
    from tests.e2e.test_e2ee import encrypted_direct, escrow_key

    _, _, _, a, b = encrypted_direct(people, off_loop, escrow_key()[1])
    a.page.set_input_files("#file-input", files=[{"name": "whiteboard.png", "mimeType": "image/png",
                                                  "buffer": png_bytes((400, 300), "teal")}])
    expect(a.page.locator("#upload-list progress")).to_have_count(0, timeout=20000)
    a.send("the whiteboard")

    card = message_item(b.page, "the whiteboard").get_by_role("button", name="View whiteboard.png")
    expect(card).to_be_visible(timeout=20000)
    card.click()
    viewer = b.page.get_by_role("dialog", name="whiteboard.png")
    expect(viewer).to_be_visible()
    image = viewer.get_by_role("img", name="whiteboard.png")
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") == 400
    assert image.get_attribute("src").startswith("blob:")  # the server only has ciphertext
    expect(viewer.get_by_role("button", name="Download whiteboard.png")).to_be_visible()
    expect(viewer.get_by_role("link", name=re.compile("in a new tab"))).to_be_hidden()
    b.page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(card).to_be_focused()


def test_on_a_phone_in_dark_mode_the_viewer_fills_the_screen_with_big_controls(
        people, off_loop, artifacts, tmp_path):
    ana = off_loop(make_user, name="Ana Lopez")
    channel = off_loop(make_channel, ana, "pictures")
    first, second = tmp_path / "sunset.png", tmp_path / "harbour.png"
    first.write_bytes(sunset_png())
    second.write_bytes(png_bytes((300, 200), "navy"))
    a = people(ana)
    page = a.page
    page.set_viewport_size({"width": 390, "height": 800})
    page.emulate_media(color_scheme="dark")
    a.go(channel.pk)
    send_files(page, [first], "The sunset")
    send_files(page, [second], "The harbour")
    expect(message_item(page, "The harbour").locator(".file-image img")).to_be_visible()
    message_item(page, "The sunset").locator(".file-image").click()
    viewer = page.get_by_role("dialog", name="sunset.png")
    expect(viewer).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    box = viewer.bounding_box()
    assert (box["width"], box["height"]) == (390, 800)
    controls = [c.bounding_box() for c in viewer.locator("button, a").all() if c.is_visible()]
    page.screenshot(path=str(artifacts / "file-viewer-phone-dark.png"))
    assert len(controls) >= 7 and min(min(c["width"], c["height"]) for c in controls) >= 44
    assert all(c["x"] >= 0 and c["x"] + c["width"] <= 390 for c in controls)
    viewer.get_by_role("button", name="Next file").click()
    expect(page.get_by_role("dialog", name="harbour.png")).to_be_visible()
    expect(page.locator("#viewer-position")).to_have_text("2 of 2")
