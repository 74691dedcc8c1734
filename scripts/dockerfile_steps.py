"""Read addon/Dockerfile into the steps scripts/addon_image carries out.

Prints one "KIND<TAB>argument" line per file-system step: RUN (a shell command,
with WORKDIR, ENV and ARG values applied), COPY (source, destination) and ADD
(destination of the release archive). With --cmd, prints the image's command,
working folder and environment as JSON instead; with --version, the add-on's
version; with --sources, what the image installs from the release archive;
with --packages, the Debian packages it installs; with --arches, the add-on's
architectures.
Only the instructions our Dockerfile uses are understood; any other fails, so
the check cannot silently skip a step.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import re
import shlex
import sys
import tomllib

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


def config_version(dockerfile: Path) -> str:
    """The add-on's version, from config.yaml beside the Dockerfile."""
    version = CONFIG_VERSION.search((dockerfile.parent / "config.yaml").read_text())
    assert version is not None, "config.yaml has no version"
    return version.group(1)


def debian_packages(dockerfile: Path) -> str:
    """The packages of the Dockerfile's apt-get install, one a line."""
    steps = " ".join(argument for _, argument in instructions(dockerfile.read_text()))
    installs = re.search(r"apt-get install ([^&]+)", steps)
    assert installs is not None, "the Dockerfile installs no Debian package"
    return "\n".join(word for word in installs.group(1).split() if not word.startswith("-"))


def config_arches(dockerfile: Path) -> str:
    """config.yaml's architectures, one a line (the image's Python has no YAML parser)."""
    config = (dockerfile.parent / "config.yaml").read_text()
    block = re.search(r"^arch:\n((?:\s+- \w+\n)+)", config, re.MULTILINE)
    assert block is not None, "config.yaml lists no arch"
    return "\n".join(re.findall(r"- (\w+)", block.group(1)))


def archive_sources(dockerfile: Path) -> str:
    """What the image installs from the release archive: pyproject.toml and its packages."""
    pyproject = tomllib.loads((dockerfile.parent.parent / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    folders = [setuptools["package-dir"].get(name, name) for name in setuptools["packages"]]
    return "\n".join(["pyproject.toml", *folders])


QUERIES: dict[str, Callable[[Path], str]] = {
    "--version": config_version,
    "--packages": debian_packages,
    "--arches": config_arches,
    "--sources": archive_sources,
}


def main() -> None:
    """Print the steps of the Dockerfile named last on the command line."""
    args = sys.argv[1:]
    want_cmd = args[:1] == ["--cmd"]
    dockerfile = Path(args[-1])
    if args[0] in QUERIES:
        print(QUERIES[args[0]](dockerfile))
        return
    values = {"BUILD_VERSION": config_version(dockerfile)}
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
