"""The demo organisation `make run` creates on an empty database, built through the same
services people use."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction

from accounts import services as accounts
from accounts.models import Organisation, Role, User
from messaging import services as messaging

DEMO_CREDENTIALS_FILE = "demo-sign-in.txt"
DEMO_DOMAIN = "demo.teamchat.local"


def seed_demo() -> str | None:
    """Create the demo on an empty database; return the sign-in text, or None."""
    if User.objects.exists():
        return None
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        organisation = Organisation.get()
        organisation.name = "Acme Corp (demo)"
        organisation.save()
        people = {
            key: accounts.user_create(
                email=f"{key}@{DEMO_DOMAIN}", display_name=name, password=password, role=role,
                validate_password_rules=False, title=title)
            for key, name, role, title in [
                ("olivia", "Olivia Owner", Role.OWNER, "CEO"),
                ("adam", "Adam Admin", Role.ADMIN, "IT"),
                ("ana", "Ana Lopez", Role.MEMBER, "Engineer"),
                ("ben", "Ben Okafor", Role.MEMBER, "Designer"),
                ("chen", "Chen Wei", Role.MEMBER, "Product manager"),
                ("cora", "Cora Compliance", Role.COMPLIANCE, "Compliance officer"),
                ("gus", "Gus Guest", Role.GUEST, "Contractor"),
            ]
        }
        owner, ana, ben, chen = people["olivia"], people["ana"], people["ben"], people["chen"]
        everyone = [u.pk for key, u in people.items() if key != "gus"]
        general = messaging.conversation_create(
            actor=owner, kind="public", name="general", topic="Company-wide announcements",
            member_ids=everyone)
        # Whoever is invited next lands here.
        messaging.conversation_update(actor=owner, conversation_id=general.pk, default=True)
        engineering = messaging.conversation_create(
            actor=ana, kind="public", name="engineering", topic="Build, ship, repeat",
            member_ids=[owner.pk, ben.pk, chen.pk, people["gus"].pk])
        messaging.conversation_create(actor=ben, kind="public", name="random",
                                      member_ids=everyone)
        leadership = messaging.conversation_create(
            actor=owner, kind="private", name="leadership", member_ids=[people["adam"].pk, chen.pk])
        direct, _ = messaging.conversation_direct_open(actor=owner, member_ids=[ana.pk])

        def say(author: User, conversation, text: str, **kwargs):
            return messaging.message_create(author=author, conversation_id=conversation.pk,
                                            text=text, **kwargs).message

        welcome = say(owner, general, "Welcome to **teamchat**, everyone! :wave:\n\n"
                      "Ask questions in #engineering, chat in #random.")
        messaging.reaction_add(actor=ana, message_id=welcome.pk, emoji_value=":tada:")
        messaging.reaction_add(actor=ben, message_id=welcome.pk, emoji_value="👍")
        plan = say(ana, engineering, "Release plan for Friday:\n\n1. Freeze at noon\n"
                   "2. Run the migration\n3. Ship :rocket:")
        say(ben, engineering, "Looks good. Can I still land the new icons?", thread_root_id=plan.pk)
        say(ana, engineering, "@**Ben Okafor** yes, until noon.", thread_root_id=plan.pk)
        say(chen, engineering, "Here is the spec: https://example.com/spec\n\n"
            "```python\nprint('hello, teamchat')\n```")
        say(owner, leadership, "Board meeting moved to Thursday.")
        say(owner, direct, "Hi Ana, do you have five minutes today?")
        say(ana, direct, "Sure, after lunch?")
    text = (
        f"Sign in as the owner: {owner.email} / {password}\n"
        f"(every demo person, e.g. {ana.email}, has the same password)\n"
    )
    path = settings.DATA_DIR / DEMO_CREDENTIALS_FILE
    path.write_text(text)
    path.chmod(0o600)
    return text
