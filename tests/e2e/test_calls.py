"""Calls between two real browsers (fake camera and microphone), each signed in to a
different daphne process, connecting peer to peer over loopback."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from calls.models import CallRecord
from tests.e2e import message_item
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


START_RINGING_EVERYONE = """async () => {
  const { calls, state } = window.teamchat;
  const conversation = state.conversations.get(state.current);
  const frame = { type: "call.start", conversation: conversation.id, media: "video" };
  return calls.enter(conversation, "video", "Calling…", frame);
}"""


def test_a_call_too_large_for_the_mesh_is_refused_with_the_reason(people, off_loop):
    """A start that would ring everyone in a channel of five (what a client without the
    picker below sends) is refused by the server; the page says why and lets the camera go."""
    def scenario():
        people_ = [make_user(name=f"Person {n}") for n in range(5)]
        return people_[0], make_channel(people_[0], "everyone", members=people_[1:])

    ana, channel = off_loop(scenario)
    a = people(ana)
    a.go(channel.pk)
    assert a.page.evaluate(START_RINGING_EVERYONE) is None  # sent
    expect(a.page.locator("#toast")).to_contain_text("A call connects at most 4 people")
    expect(a.page.locator("#call-overlay")).to_be_hidden()
    assert a.page.evaluate("window.teamchat.calls.local") is None  # the camera is off again
    assert off_loop(lambda: CallRecord.objects.count()) == 0


def test_a_channel_larger_than_a_call_asks_whom_to_ring_within_the_limit(people, off_loop):
    """Calls connect everyone to everyone (at most 4 people here); in a larger channel the
    caller picks whom to ring. The server's refusal of more is in tests/calls."""
    def scenario():
        people_ = [make_user(name=f"Person {n}") for n in range(6)]
        return people_, make_channel(people_[0], "everyone", members=people_[1:])

    everyone, channel = off_loop(scenario)
    a, b = people(everyone[0]), people(everyone[1])
    a.go(channel.pk)
    b.go(channel.pk)
    a.page.get_by_role("button", name="Start a video call").click()
    dialog = a.page.get_by_role("dialog")
    expect(dialog).to_contain_text("Whom should the video call ring?")
    assert serious(a.page) == []
    dialog.get_by_role("button", name="Ring").click()
    expect(dialog).to_contain_text("Choose at least one person to ring.")
    for n in (1, 2, 3):
        dialog.get_by_label(f"Person {n}").check()
    expect(a.page.locator("#call-invite-count")).to_contain_text("3 of at most 3 chosen")
    expect(dialog.get_by_label("Person 4")).to_be_disabled()
    dialog.get_by_role("button", name="Cancel").click()
    expect(a.page.locator("#call-overlay")).to_be_hidden()
    assert off_loop(lambda: CallRecord.objects.count()) == 0

    a.page.get_by_role("button", name="Start a video call").click()
    dialog.get_by_label("Person 1").check()
    dialog.get_by_label("Person 3").check()
    dialog.get_by_role("button", name="Ring").click()
    expect(a.page.locator("#call-status")).to_have_text("Ringing Person 1, Person 3…")
    expect(b.page.get_by_role("alertdialog")).to_contain_text("is calling you: video call in #everyone")
    call = off_loop(lambda: CallRecord.objects.get())
    rung = off_loop(lambda: sorted(call.participants.values_list("user_id", "state")))
    assert rung == sorted([(everyone[0].pk, "joined"), (everyone[1].pk, "ringing"),
                           (everyone[3].pk, "ringing")])
    a.page.get_by_role("button", name="Leave the call").click()
    expect(b.page.get_by_role("alertdialog")).to_be_hidden()


ALL_CONNECTED = """(count) => {
  const pcs = window.teamchat.calls.peerConnections();
  return pcs.length === count && pcs.every((pc) => pc.connectionState === "connected");
}"""


def test_someone_who_declined_joins_the_call_going_on_and_can_join_again(people, off_loop):
    def scenario():
        trio = [make_user(name=n) for n in ("Ana Lopez", "Ben Okafor", "Cat Ng")]
        return (*trio, make_channel(trio[0], "standup", members=trio[1:]))

    ana, ben, cat, channel = off_loop(scenario)
    a, b, c = people(ana), people(ben), people(cat)
    for person in (a, b, c):
        person.go(channel.pk)
    join = c.page.locator("#call-join-button")
    expect(join).to_be_hidden()

    a.page.get_by_role("button", name="Start an audio call").click()
    b.page.get_by_role("button", name="Accept the audio call from Ana Lopez").click()
    c.page.get_by_role("button", name="Decline the audio call from Ana Lopez").click()
    for person in (a, b):
        person.page.wait_for_function(ALL_CONNECTED, arg=1, timeout=20000)

    # The call goes on without Cat, who is offered to join it instead of starting another.
    expect(join).to_be_visible()
    expect(join).to_have_text("Join the audio call (2 in it)")
    expect(c.page.get_by_role("button", name="Start an audio call")).to_be_hidden()
    join.click()
    expect(c.page.locator("#call-overlay")).to_be_visible()
    for person in (a, b, c):
        person.page.wait_for_function(ALL_CONNECTED, arg=2, timeout=20000)
    cat_tile = a.page.locator(f'#call-grid [data-user="{cat.pk}"]')
    expect(cat_tile).to_contain_text("Cat Ng")

    # Leaving while the others talk on: the Join button comes back.
    c.page.get_by_role("button", name="Leave the call").click()
    expect(c.page.locator("#call-overlay")).to_be_hidden()
    expect(join).to_be_visible()
    expect(join).to_have_text("Join the audio call (2 in it)")
    expect(cat_tile).to_have_count(0)

    b.page.get_by_role("button", name="Leave the call").click()
    for person in (a, b, c):
        expect(message_item(person.page, "Audio call with Ana Lopez, Ben Okafor and Cat Ng")
               ).to_be_visible()
    expect(join).to_be_hidden()
    expect(c.page.get_by_role("button", name="Start an audio call")).to_be_visible()


def test_a_one_to_one_call_ends_when_the_other_person_closes_their_tab(people, off_loop):
    """Leaving by the button is not the only way out: the other person closes the tab (or
    loses the network) and the call ends at once for the one left, with the reason."""
    _, _, a, b = two_people(people, off_loop)
    a.page.get_by_role("button", name="Start an audio call").click()
    b.page.get_by_role("button", name="Accept the audio call from Ana Lopez").click()
    for person in (a, b):
        person.page.wait_for_function(CONNECTED, timeout=20000)

    b.page.close()
    expect(a.page.locator("#call-overlay")).to_be_hidden(timeout=10000)
    expect(a.page.locator("#toast")).to_contain_text("Ben Okafor's connection was lost.")
    assert a.page.evaluate("window.teamchat.calls.peerConnections().length") == 0
    record = off_loop(lambda: CallRecord.objects.get())
    assert record.end_reason == "dropped" and record.ended_at is not None
    assert not a.errors
