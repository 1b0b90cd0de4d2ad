"""Build the wheel and check that it ships every runtime file, where the code looks for it.

    python tests/tools/check_wheel.py                  # build into artifacts/dist, then check
    python tests/tools/check_wheel.py --wheel X.whl    # only check a wheel built elsewhere

The wheel stage of ``tests/run.sh`` runs this with the sqlalchemy2 environment's Python
(it needs ``build``, ``pip`` and the package's dependencies). Three steps, one line each;
the first that fails ends the run with exit status 1:

build
    ``python -m build``: the sdist, then the wheel from that sdist (what pip does with a
    release), in isolated environments whose setuptools and wheel are pinned by
    ``tests/constraints/build.txt``. Any warning in the build's output fails the step:
    setuptools warns, for example, about a folder it ships without its being declared in
    setup.cfg's ``packages``. The whole output is kept in ``artifacts/dist/build.log``.
files
    Every file under ``flask_session_epoch/`` and under each folder mapped by setup.cfg's
    ``package_dir`` (``migrations/`` -> ``flask_session_epoch/migrations/``) is in the
    wheel at its installed path, except ``__pycache__``; and the wheel ships nothing else
    besides its ``.dist-info``. A new template or migration that setup.cfg does not
    package fails here.
install
    ``pip install --no-deps --target`` into a temporary folder; a fresh interpreter with
    that folder first on ``sys.path`` imports the package and its migrations from there,
    finds ``alembic.ini`` and ``versions/`` beside them, and reads the same revision chain
    from the installed ``alembic.ini`` as from the source tree.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "flask_session_epoch"
BUILD_CONSTRAINTS = ROOT / "tests" / "constraints" / "build.txt"

# Lines of the build output that mention a warning but are not about the package.
HARMLESS = [
    # PYTHONDONTWRITEBYTECODE is set: nothing to compile, nothing wrong with the package.
    re.compile(r"byte-compiling is disabled"),
]
# setuptools' file operations: a file whose name contains "warn" is no warning.
FILE_OPERATION = re.compile(r"^\s*(adding|copying|creating|writing|reading|removing|hard linking) ")
WARNING = re.compile(r"warn", re.IGNORECASE)

PROBE = r"""
import contextlib, io, json, runpy, sys
from pathlib import Path

target, source_scripts = Path(sys.argv[1]).resolve(), sys.argv[2]
sys.path.insert(0, str(target))

import flask_session_epoch
import flask_session_epoch.migrations as migrations
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_session_epoch import migrate

problems = []
def installed(what, path):
    if not Path(path).resolve().is_relative_to(target):
        problems.append(f"{what} is {path}, not in the installed wheel")

installed("flask_session_epoch", flask_session_epoch.__file__)
installed("flask_session_epoch.migrations", migrations.__file__)
installed("ALEMBIC_INI", migrations.ALEMBIC_INI)
installed("SCRIPT_LOCATION", migrations.SCRIPT_LOCATION)
if not migrations.ALEMBIC_INI.is_file():
    problems.append(f"ALEMBIC_INI {migrations.ALEMBIC_INI} is missing")
if not (migrations.SCRIPT_LOCATION / "versions").is_dir():
    problems.append(f"the versions folder is missing in {migrations.SCRIPT_LOCATION}")

# `python -m flask_session_epoch.migrations` prints the alembic.ini that operators pass to alembic.
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    runpy.run_module("flask_session_epoch.migrations", run_name="__main__", alter_sys=True)
ini = printed.getvalue().strip()
installed("python -m flask_session_epoch.migrations", ini)

# Plain alembic with the installed alembic.ini (script_location = %(here)s) and the
# package's own head() read the chain from the install: the chain of the source tree.
script = ScriptDirectory.from_config(Config(ini))
installed("alembic's script directory", script.dir)
chain = [s.revision for s in script.walk_revisions()]
for revision in script.walk_revisions():
    installed(f"revision {revision.revision}", revision.path)
expected = [s.revision for s in ScriptDirectory(source_scripts).walk_revisions()]
if chain != expected:
    problems.append(f"installed revisions {chain}, source tree {expected}")
if migrate.head() != script.get_current_head():
    problems.append(f"migrate.head() is {migrate.head()}, the installed chain's head {script.get_current_head()}")
print(json.dumps({"problems": problems, "chain": chain[::-1]}))
"""


class Failed(Exception):
    """A step found a problem: the message says which and what to do."""


def mapped_folders() -> dict[str, str]:
    """Source folder -> installed path: the package itself and setup.cfg's package_dir."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    folders = {PACKAGE: PACKAGE}
    for line in config.get("options", "package_dir", fallback="").splitlines():
        if "=" in line:
            package, folder = (part.strip() for part in line.split("=", 1))
            if package:  # "= src" maps the root; nothing of the kind here
                folders[folder.rstrip("/")] = package.replace(".", "/")
    return folders


def source_files(folder: str) -> list[str]:
    """The files under a folder that belong to the project: git's view, else the disk's."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", folder],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.split("\0")
        names = [name for name in listed if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):  # no git, or not a checkout
        names = [path.relative_to(ROOT).as_posix() for path in (ROOT / folder).rglob("*") if path.is_file()]
    compiled = [name for name in names if "__pycache__" in name.split("/") or name.endswith((".pyc", ".pyo"))]
    return sorted(set(names) - set(compiled))


def build(outdir: Path) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    for old in [*outdir.glob("*.whl"), *outdir.glob("*.tar.gz")]:
        old.unlink()
    log = outdir / "build.log"
    env = dict(os.environ, PIP_CONSTRAINT=str(BUILD_CONSTRAINTS))
    with log.open("w") as out:
        result = subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    lines = log.read_text(errors="replace").splitlines()
    if result.returncode != 0:
        print("\n".join(lines[-150:]))
        raise Failed(f"python -m build failed (exit {result.returncode}); its output: {log}")
    warnings = [
        number for number, line in enumerate(lines)
        if WARNING.search(line) and not FILE_OPERATION.match(line) and not any(h.search(line) for h in HARMLESS)
    ]
    if warnings:
        for number in warnings:
            print(f"build.log:{number + 1}: {lines[number]}")
        print("--- the build's output from the first warning on ---")
        print("\n".join(lines[warnings[0]:warnings[0] + 120]))
        raise Failed(
            f"the build printed {len(warnings)} warning line(s), above; fix setup.cfg/pyproject.toml"
            f" (a known harmless message goes into HARMLESS in {Path(__file__).relative_to(ROOT)}); log: {log}"
        )
    wheels = sorted(outdir.glob("*.whl"))
    if len(wheels) != 1:
        raise Failed(f"expected one wheel in {outdir}, found {[w.name for w in wheels]}")
    versions = dict.fromkeys(line.strip(" -") for line in lines if re.match(r"\s+- (setuptools|wheel)==", line))
    built = ", ".join(path.name for path in sorted(outdir.glob("*.tar.gz")) + wheels)
    print(f"build: {built} ({', '.join(versions) or 'build dependencies unknown'}), no warnings")
    return wheels[0]


def check_files(wheel: Path) -> None:
    expected: dict[str, str] = {}  # path in the wheel -> path in the source tree
    for folder, installed in mapped_folders().items():
        for name in source_files(folder):
            expected[installed + name[len(folder):]] = name
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if not name.endswith("/")}
    payload = {name for name in shipped if not name.split("/")[0].endswith(".dist-info")}
    missing = sorted(set(expected) - payload)
    extra = sorted(payload - set(expected))
    for name in missing:
        where = "" if name == expected[name] else f" (ships as {name})"
        print(f"  not in the wheel: {expected[name]}{where}")
    for name in extra:
        print(f"  in the wheel but not in the source tree: {name}")
    if missing:
        raise Failed(
            f"{wheel.name} lacks {len(missing)} file(s) of the source tree: declare their folder in setup.cfg's"
            " packages and the files in [options.package_data]"
        )
    if extra:
        raise Failed(f"{wheel.name} ships {len(extra)} file(s) that are not in the source tree (a stale build?)")
    print(f"files: all {len(expected)} files of {', '.join(mapped_folders())} are in {wheel.name}, nothing else")


def check_install(wheel: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="check-wheel-") as tmp:
        target = Path(tmp) / "site"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
             "--no-deps", "--no-compile", "--target", str(target), str(wheel)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            print(result.stdout + result.stderr)
            raise Failed(f"pip install --no-deps --target failed (exit {result.returncode})")
        # -I: no PYTHONPATH, no user site, not the current folder, so the source tree (or
        # the editable install) cannot stand in for the installed wheel.
        scripts = ROOT / mapped_folder_of(f"{PACKAGE}/migrations")
        probe = subprocess.run(
            [sys.executable, "-I", "-c", PROBE, str(target), str(scripts)],
            cwd=tmp, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
        if probe.returncode != 0:
            print(probe.stdout + probe.stderr)
            raise Failed(f"importing the installed wheel failed (exit {probe.returncode})")
        report = json.loads(probe.stdout.strip().splitlines()[-1])
        for problem in report["problems"]:
            print(f"  {problem}")
        if report["problems"]:
            raise Failed("the installed wheel does not find its own files")
        print(
            "install: pip --no-deps --target; flask_session_epoch and its migrations import from there,"
            f" alembic.ini and versions/ beside them, chain {' -> '.join(report['chain'])}"
        )


def mapped_folder_of(installed: str) -> str:
    """The source folder that ships at an installed path (migrations/ for .../migrations)."""
    for folder, path in mapped_folders().items():
        if path == installed:
            return folder
    return installed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", type=Path, default=ROOT / "artifacts" / "dist", help="default: artifacts/dist")
    parser.add_argument("--wheel", type=Path, help="check this wheel instead of building one")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # in order with stderr in a log
    try:
        wheel = args.wheel.resolve() if args.wheel else build(args.outdir.resolve())
        check_files(wheel)
        check_install(wheel)
    except Failed as exc:
        print(f"check_wheel: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
