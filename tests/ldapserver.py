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
