"""`make audit`: pip-audit over the locked dependencies.

Fails on any known vulnerability not explained in pyproject.toml's
[tool.teamchat.audit-exceptions] (vulnerability id -> why it does not apply). When the
vulnerability database cannot be reached (pip-audit then skips every dependency), it says
so plainly instead of claiming a clean result.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(lock: str) -> int:
    exceptions = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("tool", {}).get(
        "teamchat", {}).get("audit-exceptions", {})
    command = [sys.executable, "-m", "pip_audit", "-r", lock, "--no-deps", "--disable-pip",
               "--format", "json", "--progress-spinner", "off"]
    for vulnerability in exceptions:
        command += ["--ignore-vuln", vulnerability]
    # pip-audit, run by this interpreter with arguments built here.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)  # noqa: S603  # nosec B603
    try:
        report = json.loads(result.stdout)
    except ValueError:
        print(result.stdout + result.stderr)
        return 1
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    found = [(d["name"], d["version"], v["id"]) for d in audited for v in d.get("vulns", [])]
    for vulnerability, reason in exceptions.items():
        print(f"explained: {vulnerability}: {reason}")
    if found:
        for name, version, vulnerability in found:
            print(f"VULNERABLE: {name} {version}: {vulnerability}")
        return 1
    if dependencies and not audited:
        print(f"pip-audit: the vulnerability database was not reachable from this machine; "
              f"{len(dependencies)} locked dependencies could not be audited (not a clean result).")
        return 0
    print(f"pip-audit: {len(audited)} locked dependencies audited, no known vulnerabilities "
          f"({len(dependencies) - len(audited)} skipped).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "requirements.lock")))
