"""Calls between two real browsers (fake camera and microphone), each signed in to a
different daphne process, connecting peer to peer over loopback."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from calls.models import CallRecord
from tests.e2e.test_accessibility import serious
from tests.factories import make_channel, make_direct, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONNECTED = """() => window.teamchat.calls.peerConnections().some(
  (pc) => pc.connectionState === "connected"
    && ["connected", "completed"].includes(pc.iceConnectionState))"""

FRAMES_DECODED = """async () => {
  let frames = 0;
  for (const pc of window.teamchat.calls.peerConnections()) {
    (await pc.getStats()).forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "video") frames += report.framesDecoded || 0;
    });
  }
  return frames > 0;
}"""


@pytest.fixture
def daphne_pair(call_daphne_pair):
    """These tests' servers ring for a few seconds only (tests/conftest.py)."""
    return call_daphne_pair


def message_item(page, text: str):
    return page.locator("#message-list .message", has_text=text)


def two_people(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    direct = off_loop(make_direct, ana, ben)
    a, b = people(ana), people(ben)
    a.go(direct.pk)
    b.go(direct.pk)
    return ana, ben, a, b


def test_a_video_call_connects_shows_mute_and_hangs_up_with_a_record(people, artifacts,
                                                                      off_loop):
    ana, ben, a, b = two_people(people, off_loop)

    a.page.get_by_role("button", name="Start a video call").click()
    incoming = b.page.get_by_role("alertdialog")
    expect(incoming).to_contain_text("Ana Lopez")
    expect(incoming).to_contain_text("is calling you: video call")
    expect(a.page.locator("#call-status")).to_have_text("Ringing Ben Okafor…")
    assert serious(b.page) == []
    b.page.get_by_role("button", name="Accept the video call from Ana Lopez").click()
    expect(incoming).to_be_hidden()

    for person in (a, b):
        expect(person.page.locator("#call-overlay")).to_be_visible()
        person.page.wait_for_function(CONNECTED, timeout=20000)
        person.page.wait_for_function(FRAMES_DECODED, timeout=20000, polling=250)
    remote_ana = b.page.locator(f'#call-grid [data-user="{ana.pk}"]')
    remote_ben = a.page.locator(f'#call-grid [data-user="{ben.pk}"]')
    expect(remote_ana).to_contain_text("Ana Lopez")
    expect(remote_ben).to_contain_text("Ben Okafor")
    # The fake microphone beeps: the speaking indicator lights up at the other end.
    b.page.wait_for_function(
        f"""() => document.querySelector('#call-grid [data-user="{ana.pk}"]')
              .dataset.speaking === "true" """, timeout=15000, polling=100)
    a.page.screenshot(path=str(artifacts / "call-video.png"))
    assert serious(a.page) == []

    a.page.get_by_role("button", name="Mute microphone").click()
    expect(a.page.get_by_role("button", name="Unmute microphone")).to_have_attribute(
        "aria-pressed", "true")
    expect(remote_ana).to_have_attribute("data-muted", "true")
    expect(remote_ana.locator(".call-tile-state")).to_have_text("muted")
    a.page.get_by_role("button", name="Share your screen").click()
    expect(remote_ana).to_have_attribute("data-screen", "true")
    expect(remote_ana.locator(".call-tile-state")).to_have_text("muted, sharing their screen")
    a.page.get_by_role("button", name="Stop sharing your screen").click()
    expect(remote_ana).to_have_attribute("data-screen", "false")
    a.page.get_by_role("button", name="Turn camera off").click()
    expect(remote_ana).to_have_attribute("data-video", "false")

    b.page.get_by_role("button", name="Leave the call").click()
    for person in (a, b):
        expect(person.page.locator("#call-overlay")).to_be_hidden()
        expect(message_item(person.page, "Video call with Ana Lopez and Ben Okafor")).to_be_visible()
    expect(a.page.locator("#toast")).to_contain_text("The call ended.")
    assert a.page.evaluate("window.teamchat.calls.peerConnections().length") == 0
    record = off_loop(lambda: CallRecord.objects.get())
    assert record.end_reason == "completed" and record.message_id is not None


def test_a_declined_call_ends_for_the_caller_with_the_reason(people, off_loop):
    _, _, a, b = two_people(people, off_loop)
    a.page.get_by_role("button", name="Start an audio call").click()
    b.page.get_by_role("button", name="Decline the audio call from Ana Lopez").click()

    expect(a.page.locator("#toast")).to_contain_text("Ben Okafor declined the call.")
    expect(a.page.locator("#call-overlay")).to_be_hidden()
    expect(b.page.get_by_role("alertdialog")).to_be_hidden()
    for person in (a, b):
        expect(message_item(person.page, "Audio call from Ana Lopez · declined by Ben Okafor")
               ).to_be_visible()
    assert off_loop(lambda: CallRecord.objects.get().end_reason) == "declined"


def test_an_unanswered_call_is_missed_on_both_sides(people, off_loop):
    _, _, a, b = two_people(people, off_loop)
    a.page.get_by_role("button", name="Start an audio call").click()
    incoming = b.page.get_by_role("alertdialog")
    expect(incoming).to_contain_text("is calling you: audio call")

    expect(incoming).to_be_hidden(timeout=15000)
    expect(b.page.locator("#toast")).to_contain_text(re.compile("You missed a call from Ana Lopez"))
    expect(a.page.locator("#call-overlay")).to_be_hidden()
    for person in (a, b):
        expect(message_item(person.page, "Missed audio call from Ana Lopez · no answer")
               ).to_be_visible()
    assert off_loop(lambda: CallRecord.objects.get().end_reason) == "missed"


def test_a_call_too_large_for_the_mesh_is_refused_with_the_reason(people, off_loop):
    def scenario():
        people_ = [make_user(name=f"Person {n}") for n in range(5)]
        return people_[0], make_channel(people_[0], "everyone", members=people_[1:])

    ana, channel = off_loop(scenario)
    a = people(ana)
    a.go(channel.pk)
    a.page.get_by_role("button", name="Start a video call").click()
    expect(a.page.locator("#toast")).to_contain_text("A call connects at most 4 people")
    expect(a.page.locator("#call-overlay")).to_be_hidden()
    assert a.page.evaluate("window.teamchat.calls.local") is None  # the camera is off again
    assert off_loop(lambda: CallRecord.objects.count()) == 0
