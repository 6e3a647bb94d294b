"""The wheel of the Shipyard installed here, for an image (or a new project) to install.

``shipyard-ml`` is not on a package index, so whatever installs Shipyard elsewhere needs the wheel itself.
It comes from one of three places, in this order:

- ``--shipyard-wheel PATH``: a wheel the user built (``make dist``), checked to be this version's;
- an editable install (a clone with ``make demo``/``uv sync``/``pip install -e``): built from the source
  tree that ``direct_url.json`` names, with uv (or pip), as ``make dist`` does;
- an install from a wheel: the installed files packed again. ``RECORD`` lists every file with its hash, so
  the files are checked against it and the wheel gets a ``RECORD`` of its own; the installer's own files
  (``INSTALLER``, ``REQUESTED``, ``direct_url.json``) and the console scripts, which installers write from
  ``entry_points.txt``, stay out.

When none applies (Shipyard run from a source folder that is not installed, a source tree that moved, a
modified install), :class:`~shipyard.errors.ConfigError` says so and names ``--shipyard-wheel``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from ..errors import ConfigError
from ..extras import DISTRIBUTION, local_origin

_OPTION = "--shipyard-wheel"
_INSTALLER_FILES = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
_WHEEL_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-(?:\d[^-]*-)?[^-]+-[^-]+-[^-]+\.whl$")


@dataclass(frozen=True)
class Wheel:
    path: Path
    version: str
    origin: str  # "given", "built from <source tree>", "packed from the installed files"


def shipyard_wheel(folder: Path, *, given: Path | None = None) -> Wheel:
    """Put a wheel of the installed Shipyard into ``folder`` and return it (see the module docstring).

    Raises:
        ConfigError: no wheel can be had; the message names ``--shipyard-wheel``.
    """
    installed = _installed()
    folder.mkdir(parents=True, exist_ok=True)
    if given is not None:
        version = check_wheel(given)
        if version != installed.version:
            raise ConfigError(f"{_OPTION} {given} is shipyard-ml {version}, but {installed.version} is installed here "
                              "and the image's requirements are pinned from this environment; give the wheel of "
                              f"{installed.version} (make dist) or install {version} here.")
        target = folder / given.name
        if given.resolve() != target.resolve():
            shutil.copyfile(given, target)
        return Wheel(target, version, "given")
    source = editable_source(installed)
    if source is not None:
        return Wheel(build_from_source(source, folder, installed.version), installed.version,
                     f"built from {source}")
    return Wheel(repack_installed(installed, folder), installed.version, "packed from the installed files")


def check_wheel(path: Path) -> str:
    """The version of the shipyard-ml wheel at ``path``.

    Raises:
        ConfigError: the file is missing or is not a shipyard-ml wheel.
    """
    match = _WHEEL_NAME.match(path.name)
    if not path.is_file():
        raise ConfigError(f"{_OPTION} {path}: no such file; build one with `make dist` in a clone of Shipyard.")
    if match is None or _normalized(match.group("name")) != _normalized(DISTRIBUTION):
        raise ConfigError(f"{_OPTION} {path} is not a shipyard-ml wheel (a file named "
                          "shipyard_ml-VERSION-py3-none-any.whl, as `make dist` builds).")
    version = match.group("version")
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read(f"{match.group('name')}-{version}.dist-info/METADATA").decode()
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ConfigError(f"{_OPTION} {path} is not a readable wheel ({exc}); build it again with `make dist`.") \
            from None
    if f"\nVersion: {version}\n" not in f"\n{text}":
        raise ConfigError(f"{_OPTION} {path}: its METADATA does not say version {version}; build it again.")
    return version


def editable_source(distribution: metadata.Distribution) -> Path | None:
    """The source tree of an editable install (``direct_url.json``), or ``None`` for any other install."""
    origin = local_origin(distribution)
    return origin[0] if origin is not None and origin[1] else None


def build_from_source(source: Path, folder: Path, version: str) -> Path:
    """Build the wheel of the source tree ``source`` into ``folder`` (uv if installed here, else pip)."""
    if not (source / "pyproject.toml").is_file():
        raise ConfigError(f"Shipyard is installed in editable mode from {source}, which no longer holds its source "
                          f"(no pyproject.toml): reinstall it, or give a wheel with {_OPTION} PATH (make dist).")
    with tempfile.TemporaryDirectory(prefix="shipyard-wheel-") as temp:
        command = _build_command(source, Path(temp))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"Could not build the Shipyard wheel from {source} ({exc}); give one with "
                              f"{_OPTION} PATH (make dist).") from None
        built = sorted(Path(temp).glob("shipyard_ml-*.whl"))
        if done.returncode != 0 or len(built) != 1:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise ConfigError(f"Could not build the Shipyard wheel from {source} ({last[0]}); give one with "
                              f"{_OPTION} PATH (make dist).")
        built_version = check_wheel(built[0])
        if built_version != version:
            raise ConfigError(f"The source tree {source} is now shipyard-ml {built_version}, but {version} is "
                              f"installed: reinstall it (make demo, or uv sync) or give a wheel with {_OPTION} PATH.")
        target = folder / built[0].name
        shutil.move(str(built[0]), target)
    return target


def repack_installed(distribution: metadata.Distribution, folder: Path, *, compress: bool = True) -> Path:
    """Pack an installed distribution's files into a wheel in ``folder``, checked against its RECORD.

    The tags come from the installed ``WHEEL`` file, so this works for binary distributions too.

    Raises:
        ConfigError: no RECORD, no WHEEL file, or a file that is missing or differs from its RECORD hash.
    """
    name, version = distribution.metadata["Name"], distribution.version
    files = distribution.files
    wheel_text = distribution.read_text("WHEEL")
    if not files or not wheel_text:
        raise ConfigError(f"The installed {name} {version} has no RECORD or WHEEL file to pack it from; give a wheel "
                          f"with {_OPTION} PATH (make dist).")
    tags = [line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")]
    target = folder / f"{_normalized(name).replace('-', '_')}-{version}-{_compressed_tags(tags)}.whl"
    compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    record_lines: list[str] = []
    dist_info = ""
    folder.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(temp, "w", compression) as archive:
            for item in files:
                relative = item.as_posix()
                parts = relative.split("/")
                if parts[0] == ".." or "__pycache__" in parts:
                    continue  # console scripts (written again from entry_points.txt) and bytecode
                if parts[0].endswith(".dist-info"):
                    dist_info = parts[0]
                    if len(parts) == 2 and parts[1] in _INSTALLER_FILES:
                        continue
                data = _verified_bytes(distribution, item, name, version)
                archive.writestr(_entry(relative, distribution, item, compression), data)
                record_lines.append(f"{relative},sha256={_digest(data)},{len(data)}")
            if not dist_info:
                raise ConfigError(f"The RECORD of the installed {name} {version} lists no .dist-info folder; give "
                                  f"a wheel with {_OPTION} PATH (make dist).")
            record_lines.append(f"{dist_info}/RECORD,,")
            archive.writestr(f"{dist_info}/RECORD", "\n".join(record_lines) + "\n")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def _installed() -> metadata.Distribution:
    try:
        return metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ConfigError(f"Shipyard runs here without being installed (no {DISTRIBUTION} distribution), so there "
                          f"is nothing to build its wheel from; install it (make demo) or give a wheel with "
                          f"{_OPTION} PATH (make dist).") from None


def _build_command(source: Path, out: Path) -> list[str]:
    if find_spec("uv") is not None:
        return [sys.executable, "-m", "uv", "build", "--wheel", "--quiet", "--out-dir", str(out), str(source)]
    uv = shutil.which("uv")
    if uv is not None:
        return [uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(source)]
    return [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)]


def _verified_bytes(distribution: metadata.Distribution, item: metadata.PackagePath, name: str,
                    version: str) -> bytes:
    location = Path(str(distribution.locate_file(item)))
    try:
        data = location.read_bytes()
    except OSError:
        raise ConfigError(f"{location}, a file of the installed {name} {version}, cannot be read: reinstall it or "
                          f"give a wheel with {_OPTION} PATH (make dist).") from None
    recorded = item.hash
    if recorded is not None and (recorded.mode != "sha256" or recorded.value != _digest(data)):
        raise ConfigError(f"{location} differs from what the installed {name} {version} recorded (its RECORD hash): "
                          f"reinstall it, or give a wheel with {_OPTION} PATH (make dist).")
    return data


def _entry(relative: str, distribution: metadata.Distribution, item: metadata.PackagePath,
           compression: int) -> zipfile.ZipInfo:
    """A zip entry keeping the file's permission bits (shared libraries and scripts stay executable)."""
    info = zipfile.ZipInfo(relative, date_time=(2020, 1, 1, 0, 0, 0))
    mode = Path(str(distribution.locate_file(item))).stat().st_mode & 0o777
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = compression
    return info


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _compressed_tags(tags: list[str]) -> str:
    """``py3-none-any`` from the WHEEL's ``Tag:`` lines, several values joined by dots as wheel names do."""
    if not tags:
        return "py3-none-any"
    columns: list[list[str]] = [[], [], []]
    for tag in tags:
        for column, value in zip(columns, tag.split("-", 2), strict=True):
            if value not in column:
                column.append(value)
    return "-".join(".".join(column) for column in columns)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
