"""Read addon/Dockerfile into the steps scripts/addon_image carries out.

Prints one "KIND<TAB>argument" line per file-system step: RUN (a shell command,
with WORKDIR, ENV and ARG values applied), COPY (source, destination) and ADD
(destination of the release archive). With --cmd, prints the image's command,
working folder and environment as JSON instead; with --version, the add-on's
version; with --extracts, the folders the image takes from the release archive.
Only the instructions our Dockerfile uses are understood; any other fails, so
the check cannot silently skip a step.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import shlex
import sys

# scripts/addon_image builds Debian forky minbase with debootstrap in its place.
BASE_IMAGE = "docker.io/library/debian:forky-slim"
CONFIG_VERSION = re.compile(r'^version:\s*"?([^"\s]+)"?', re.MULTILINE)


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in joined.splitlines()
        if line.strip()
    ]


def main() -> None:
    """Print the steps of the Dockerfile named last on the command line."""
    args = sys.argv[1:]
    want_cmd = args[:1] == ["--cmd"]
    dockerfile = Path(args[-1])
    version = CONFIG_VERSION.search((dockerfile.parent / "config.yaml").read_text())
    assert version is not None, "config.yaml has no version"
    if args[:1] == ["--version"]:
        print(version.group(1))
        return
    if args[:1] == ["--extracts"]:
        print("\n".join(re.findall(r"'\*/([\w/]+)'", dockerfile.read_text())))
        return
    values = {"BUILD_VERSION": version.group(1)}
    env: dict[str, str] = {}
    workdir, cmd = "/", None
    steps: list[str] = []

    def expand(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: {**values, **env}.get(m.group(1), ""), text)

    for kind, arg in instructions(dockerfile.read_text()):
        if kind == "ARG":
            name, _, default = arg.partition("=")
            values.setdefault(name, expand(default))
        elif kind == "FROM":
            assert arg == BASE_IMAGE, f"scripts/addon_image stands in for {BASE_IMAGE}, not {arg}"
        elif kind == "ENV":
            name, _, value = arg.partition("=")
            env[name] = expand(value)
        elif kind == "WORKDIR":
            workdir = expand(arg)
        elif kind == "RUN":
            exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in env.items())
            steps.append(f"RUN\t{exports}mkdir -p {workdir} && cd {workdir} && {expand(arg)}")
        elif kind == "COPY":
            steps.append(f"COPY\t{expand(arg)}")
        elif kind == "ADD":
            source, destination = expand(arg).split()
            assert source.endswith(f"/v{values['BUILD_VERSION']}.tar.gz"), source
            steps.append(f"ADD\t{destination}")
        elif kind == "CMD":
            cmd = json.loads(arg)
        else:
            raise SystemExit(f"{kind}: not understood by scripts/dockerfile_steps.py")
    print(
        json.dumps({"cmd": cmd, "workdir": workdir, "env": env}) if want_cmd else "\n".join(steps)
    )


if __name__ == "__main__":
    main()
