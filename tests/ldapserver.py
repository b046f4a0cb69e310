"""A real OpenLDAP server (Debian's slapd) on loopback, on a port of its own, with a seeded
directory: people under ou=people, groupOfNames under ou=groups, a read-only service
account, and the root account the tests change the directory with."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import ldap
import ldap.modlist
from django_auth_ldap.config import LDAPSearch

from tests.servers import free_port, self_signed_certificate

SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SCHEMA = Path("/etc/ldap/schema")
SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"

CONFIG = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
pidfile {base}/slapd.pid
argsfile {base}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {base}/data
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
"""


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


class Slapd:
    """With `tls`, it also listens for LDAPS (ldaps_uri) and offers StartTLS, with a
    certificate for 127.0.0.1 signed by itself (ca_file)."""

    def __init__(self, base: Path, *, tls: bool = False) -> None:
        self.base = base
        self.port = free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.tls = tls
        self.ldaps_uri = f"ldaps://127.0.0.1:{free_port()}" if tls else ""
        self.ca_file: Path | None = None
        self.process: subprocess.Popen | None = None

    def start(self) -> Slapd:
        (self.base / "data").mkdir(parents=True, exist_ok=True)
        config = self.base / "slapd.conf"
        text = CONFIG.format(schema=SCHEMA, base=self.base, suffix=SUFFIX, root_dn=ROOT_DN,
                             root_password=ROOT_PASSWORD)
        if self.tls:
            self.ca_file, key = self_signed_certificate(self.base / "tls")
            # Global directives: before the database section.
            text = text.replace("database mdb", f"TLSCACertificateFile {self.ca_file}\n"
                                f"TLSCertificateFile {self.ca_file}\nTLSCertificateKeyFile {key}\n"
                                "database mdb", 1)
        config.write_text(text)
        listen = " ".join(uri + "/" for uri in (self.uri, self.ldaps_uri) if uri)
        # -d keeps it in the foreground (so it ends with the test); 0 logs nothing.
        self.process = subprocess.Popen([SLAPD, "-f", str(config), "-h", listen, "-d", "0"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.root().unbind_s()
                return self
            except ldap.SERVER_DOWN:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("slapd did not start: "
                                       + self.process.stderr.read().decode()[-2000:]) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def root(self):
        conn = ldap.initialize(self.uri, bytes_mode=False)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 2)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def add(self, dn: str, **attrs: str | list[str]) -> None:
        entry = {name: [v.encode() for v in ([value] if isinstance(value, str) else value)]
                 for name, value in attrs.items()}
        conn = self.root()
        conn.add_s(dn, ldap.modlist.addModlist(entry))
        conn.unbind_s()

    def delete(self, dn: str) -> None:
        conn = self.root()
        conn.delete_s(dn)
        conn.unbind_s()

    def modify(self, dn: str, attr: str, values: list[str]) -> None:
        conn = self.root()
        conn.modify_s(dn, [(ldap.MOD_REPLACE, attr, [v.encode() for v in values])])
        conn.unbind_s()

    def add_person(self, uid: str, *, name: str, email: str, password: str) -> str:
        dn = person_dn(uid)
        self.add(dn, objectClass=["inetOrgPerson"], uid=uid, cn=name, sn=name.split()[-1],
                 displayName=name.split()[0], mail=email, userPassword=password)
        return dn

    def add_group(self, cn: str, members: list[str]) -> str:
        dn = group_dn(cn)
        # groupOfNames needs a member: the root stands in for an empty group.
        self.add(dn, objectClass=["groupOfNames"], cn=cn, member=members or [ROOT_DN])
        return dn

    def seed(self) -> Slapd:
        self.add(SUFFIX, objectClass=["dcObject", "organization"], dc="example", o="Example")
        self.add(READER_DN, objectClass=["organizationalRole", "simpleSecurityObject"], cn="reader",
                 userPassword=READER_PASSWORD)
        self.add(PEOPLE, objectClass=["organizationalUnit"], ou="people")
        self.add(GROUPS, objectClass=["organizationalUnit"], ou="groups")
        return self


ADA_PASSWORD = "ada-directory-pw"
GRACE_PASSWORD = "grace-directory-pw"


def seeded_directory(base: Path) -> Slapd:
    """Ada (an admin, in engineering), Grace (compliance, in engineering), Linus; the
    server speaks LDAPS and StartTLS too."""
    server = Slapd(base, tls=True).start().seed()
    ada = server.add_person("ada", name="Ada Lovelace", email="ada@example.com", password=ADA_PASSWORD)
    grace = server.add_person("grace", name="Grace Hopper", email="Grace@Example.com",
                              password=GRACE_PASSWORD)
    server.add_person("linus", name="Linus Torvalds", email="linus@example.com", password="linus-pw")
    server.add_group("chat-admins", [ada])
    server.add_group("compliance", [grace])
    server.add_group("engineering", [ada, grace])
    return server


ENVIRONMENT = {
    "LDAP_BIND_DN": READER_DN, "LDAP_BIND_PASSWORD": READER_PASSWORD,
    "LDAP_USER_SEARCH_BASE": PEOPLE, "LDAP_USER_SEARCH_FILTER": "(mail=%(user)s)",
    "LDAP_SYNC_FILTER": "(&(objectClass=inetOrgPerson)(mail=*))",
    "LDAP_ADMIN_GROUP": group_dn("chat-admins"), "LDAP_COMPLIANCE_GROUP": group_dn("compliance"),
}


def server_environment(slapd: Slapd) -> dict[str, str]:
    """The environment a teamchat process (tests.servers.DaphneServer) needs for it."""
    return {"LDAP_SERVER_URI": slapd.uri, **ENVIRONMENT,
            "LDAP_USER_GROUPS": f'{{"{group_dn("engineering")}": "engineering"}}'}


def configure(settings, slapd: Slapd, **overrides) -> None:
    """What teamchat/settings.py makes of the LDAP_* environment, for this server."""
    values = {
        "LDAP_SERVER_URI": slapd.uri, "LDAP_ENABLED": True, "LDAP_START_TLS": False,
        **ENVIRONMENT, "LDAP_USER_DN_TEMPLATE": "", "LDAP_REQUIRE_GROUP": "",
        "LDAP_USER_GROUPS": {group_dn("engineering"): "engineering"},
        "LDAP_CREATE_USERS": True, "LDAP_GROUP_NESTED": False, "LDAP_GROUP_MEMBER_ATTR": "member",
        "LDAP_CA_FILE": "",
        **overrides,
    }
    for name, value in values.items():
        setattr(settings, name, value)
    settings.AUTH_LDAP_SERVER_URI = values["LDAP_SERVER_URI"]
    settings.AUTH_LDAP_START_TLS = values["LDAP_START_TLS"]
    settings.AUTH_LDAP_BIND_DN = values["LDAP_BIND_DN"]
    settings.AUTH_LDAP_BIND_PASSWORD = values["LDAP_BIND_PASSWORD"]
    if values["LDAP_USER_DN_TEMPLATE"]:
        settings.AUTH_LDAP_USER_DN_TEMPLATE = values["LDAP_USER_DN_TEMPLATE"]
        settings.AUTH_LDAP_BIND_AS_AUTHENTICATING_USER = not values["LDAP_BIND_DN"]
    else:
        settings.AUTH_LDAP_USER_SEARCH = LDAPSearch(PEOPLE, ldap.SCOPE_SUBTREE,
                                                    values["LDAP_USER_SEARCH_FILTER"])
    settings.AUTH_LDAP_CONNECTION_OPTIONS = {
        ldap.OPT_NETWORK_TIMEOUT: 3.0, ldap.OPT_TIMEOUT: 3.0, ldap.OPT_REFERRALS: 0,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
        **({ldap.OPT_X_TLS_CACERTFILE: values["LDAP_CA_FILE"]} if values.get("LDAP_CA_FILE") else {}),
        ldap.OPT_X_TLS_NEWCTX: 0}
    settings.AUTH_LDAP_ALWAYS_UPDATE_USER = False
    settings.AUTHENTICATION_BACKENDS = ["integrations.ldap_auth.TeamchatLDAPBackend",
                                        "accounts.backends.LockoutModelBackend"]
