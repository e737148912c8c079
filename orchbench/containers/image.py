"""The step image, built here from Debian packages and PyPI wheels only (no registry pulls).

Recipe (DESIGN.md, runner table): ``debootstrap --variant=minbase`` a Debian bookworm
with python3; a venv at ``/opt/venv`` holding the wheels of a lock file (``lock``: the
container runner passes its own; ``make image`` the ``IMAGE_LOCK`` its ``runner.mk`` sets),
fetched/built by the host's pip and
installed inside a chroot with ``--no-index`` (pip inside the chroot cannot verify this
network's TLS); this project's source at ``/opt/orchbench`` (a ``.pth`` puts it on the
path); ``docker import`` into the harness's own daemon.

Two caches keep rebuilds cheap: the base root filesystem (Debian + venv) is a tar keyed by
the recipe, the suite and the lock file; the image tag ``orchbench-step:<hash>`` adds the
project's source, so an unchanged image is reused and a changed one re-imported (seconds).
``build/image/<tag>.json`` records the inputs and the package versions inside the image.

A *variant* (``ensure_variant``) is the step image with some pins replaced, for a step
whose code needs another version than the shared lock (``env_mismatch``): the wheels are
fetched by the host's pip (``--no-deps``), installed into a container of the step image
(no network), committed as ``orchbench-step-variant:<hash>``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from orchbench.containers.daemon import DOCKER_CLI, REPO_ROOT, DockerDaemon

RECIPE_VERSION = "1"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
SOURCE_PACKAGES = ("orchbench", "fault_injection", "runners")
SOURCE_SUFFIXES = (".py", ".sh", ".yaml", ".json", ".txt")
BUILD = REPO_ROOT / "build" / "image"
REPO = "orchbench-step"
ENV_PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _log(msg: str) -> None:
    print(f"image: {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload]
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(cmd[:3])}... failed ({r.returncode}): " + " | ".join(tail))
    return r


def base_hash(lock: Path) -> str:
    h = hashlib.sha256()
    for part in (RECIPE_VERSION, SUITE, MIRROR, ",".join(PACKAGES), lock.read_text()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:12]


def source_files() -> list[Path]:
    files = []
    for pkg in SOURCE_PACKAGES:
        for p in sorted((REPO_ROOT / pkg).rglob("*")):
            if p.is_file() and p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts:
                files.append(p)
    return files


def image_tag(lock: Path) -> str:
    h = hashlib.sha256(base_hash(lock).encode())
    for p in source_files():
        h.update(str(p.relative_to(REPO_ROOT)).encode() + b"\0" + p.read_bytes())
    return f"{REPO}:{h.hexdigest()[:12]}"


def _requirement_lines(lock: Path) -> str:
    """The lock's pins (``name==version`` lines), without comments."""
    return "".join(
        line.split("#")[0].strip() + "\n"
        for line in lock.read_text().splitlines()
        if line.split("#")[0].strip()
    )


def _host_pip() -> Path:
    """A pip on the host (uv's venvs have none): a small venv seeded with pip by uv."""
    venv = BUILD / "pip-venv"
    pip = venv / "bin" / "pip"
    if not pip.exists():
        uv = shutil.which("uv") or str(REPO_ROOT / ".tools" / "bin" / "uv")
        _run([uv, "venv", "--quiet", "--seed", "--python", "3.11", str(venv)])
    return pip


def build_base(h: str, lock: Path) -> Path:
    """Debian + venv with the pinned wheels, as a tar; reused when the inputs are unchanged."""
    out = BUILD / f"base-{h}.tar"
    if out.exists():
        return out
    BUILD.mkdir(parents=True, exist_ok=True)
    rootfs = BUILD / f"rootfs-{h}.tmp"
    wheels = BUILD / f"wheels-{h}"
    shutil.rmtree(rootfs, ignore_errors=True)
    t0 = time.monotonic()
    _log(f"debootstrap {SUITE} (minbase + {', '.join(PACKAGES)})")
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
          str(rootfs), MIRROR])  # fmt: skip
    req = BUILD / f"requirements-{h}.txt"
    req.write_text(_requirement_lines(lock))
    _log(f"wheels for {_shown(lock)} (host pip)")
    _run([str(_host_pip()), "wheel", "--quiet", "--no-deps", "-r", str(req), "-w", str(wheels)])
    _log("venv inside the chroot, installed from those wheels only")
    shutil.copytree(wheels, rootfs / "tmp" / "wheels")
    shutil.copy(req, rootfs / "tmp" / "requirements.txt")
    _run(["chroot", str(rootfs), "python3", "-m", "venv", "/opt/venv"])
    _run(["chroot", str(rootfs), "/opt/venv/bin/pip", "install", "--quiet", "--no-index",
          "--no-deps", "--find-links", "/tmp/wheels", "-r", "/tmp/requirements.txt"])  # fmt: skip
    freeze = _run(["chroot", str(rootfs), "/opt/venv/bin/pip", "freeze"]).stdout
    (BUILD / f"base-{h}.freeze.txt").write_text(freeze)
    shutil.rmtree(rootfs / "tmp" / "wheels")
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for p in (rootfs / junk).glob("*"):
            if p.is_file():
                p.unlink()
    tmp = out.with_suffix(".tar.tmp")
    _run(["tar", "-C", str(rootfs), "-cf", str(tmp), "."])
    tmp.rename(out)
    shutil.rmtree(rootfs, ignore_errors=True)
    shutil.rmtree(wheels, ignore_errors=True)
    _log(f"base {out.name} built in {time.monotonic() - t0:.0f} s")
    return out


def _with_source(base: Path, out: Path) -> None:
    shutil.copyfile(base, out)
    with tarfile.open(out, "a") as tar:
        for p in source_files():
            tar.add(p, arcname=f"./opt/orchbench/{p.relative_to(REPO_ROOT)}")
        pth = b"/opt/orchbench\n"
        info = tarfile.TarInfo("./opt/venv/lib/python3.11/site-packages/orchbench.pth")
        info.size = len(pth)
        tar.addfile(info, io.BytesIO(pth))


def image_exists(daemon: DockerDaemon, tag: str) -> bool:
    return image_on(daemon.env(), tag)


def image_on(env: dict[str, str], tag: str) -> bool:
    """Whether the daemon at ``env``'s DOCKER_HOST has the image ``tag``."""
    r = subprocess.run([str(DOCKER_CLI), "image", "inspect", tag], env=env,
                       capture_output=True)  # fmt: skip
    return r.returncode == 0


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def ensure_image(daemon: DockerDaemon, lock: Path) -> str:
    """The current step image's tag (its venv from ``lock``), building or importing what is
    missing."""
    tag = image_tag(lock)
    if image_exists(daemon, tag):
        return tag
    h = base_hash(lock)
    base = build_base(h, lock)
    final = BUILD / "image.tar.tmp"
    _with_source(base, final)
    _log(f"docker import {tag}")
    _run([str(DOCKER_CLI), "import", "--change", f"ENV PATH={ENV_PATH}", "--change",
          "WORKDIR /", str(final), tag], env=daemon.env())  # fmt: skip
    final.unlink()
    _prune(daemon, keep=tag)
    manifest = {
        "tag": tag,
        "base": base.name,
        "suite": SUITE,
        "debian_packages": list(PACKAGES),
        "requirements": _shown(lock),
        "python_packages": (BUILD / f"base-{h}.freeze.txt").read_text().split(),
    }
    (BUILD / f"{tag.replace(':', '-')}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return tag


VARIANT_REPO = "orchbench-step-variant"


def ensure_variant(env: dict[str, str], base_tag: str, requirements: list[str]) -> str:
    """The step image ``base_tag`` with ``requirements`` (``name==version``) installed over
    its pins; built once per (base, requirements) on the daemon of ``env``."""
    key = base_tag + "\0" + "\0".join(sorted(requirements))
    tag = f"{VARIANT_REPO}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if image_on(env, tag) and manifest(tag) is not None:
        return tag
    wheels = BUILD / f"variant-wheels-{tag.split(':')[1]}"
    shutil.rmtree(wheels, ignore_errors=True)
    _log(f"variant of {base_tag}: {', '.join(requirements)}")
    _run([str(_host_pip()), "download", "--quiet", "--no-deps", "--only-binary=:all:",
          "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "--platform",
          "manylinux_2_28_x86_64", "-d", str(wheels), *requirements])  # fmt: skip
    name = f"orchbench-variant-build-{tag.split(':')[1]}"
    docker = str(DOCKER_CLI)
    subprocess.run([docker, "rm", "-f", name], env=env, capture_output=True)
    try:
        _run([docker, "run", "--name", name, "--network=none", "-v", f"{wheels}:/wheels:ro",
              base_tag, "sh", "-c", "/opt/venv/bin/pip install --quiet --no-index --no-deps "
              "/wheels/*.whl"], env=env)  # fmt: skip
        _run([docker, "commit", name, tag], env=env)
    finally:
        subprocess.run([docker, "rm", "-f", name], env=env, capture_output=True)
        shutil.rmtree(wheels, ignore_errors=True)
    freeze = _run([docker, "run", "--rm", "--network=none", tag, "/opt/venv/bin/pip", "list",
                   "--format=freeze"], env=env).stdout  # fmt: skip
    record = {"tag": tag, "base": base_tag, "requirements": sorted(requirements),
              "python_packages": freeze.split()}  # fmt: skip
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / f"{tag.replace(':', '-')}.json").write_text(json.dumps(record, indent=2) + "\n")
    return tag


def _prune(daemon: DockerDaemon, keep: str) -> None:
    """Remove older step images and every variant (all of an older base once ``keep`` is
    new), with their manifests, so the data root does not grow."""
    old_tags = []
    for repo in (REPO, VARIANT_REPO):
        r = subprocess.run([str(DOCKER_CLI), "image", "ls", repo, "--format",
                            "{{.Repository}}:{{.Tag}}"], env=daemon.env(), capture_output=True,
                           text=True)  # fmt: skip
        old_tags += r.stdout.split()
    for old in old_tags:
        if old != keep:
            subprocess.run([str(DOCKER_CLI), "image", "rm", old], env=daemon.env(),
                           capture_output=True)  # fmt: skip
            (BUILD / f"{old.replace(':', '-')}.json").unlink(missing_ok=True)


def manifest(tag: str) -> dict[str, object] | None:
    """What ``ensure_image`` recorded about an image (for env.json), or None."""
    p = BUILD / f"{tag.replace(':', '-')}.json"
    return json.loads(p.read_text()) if p.exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m orchbench.containers.image")
    ap.add_argument("--lock", type=Path, required=True, help="the lock file the venv installs")
    ap.add_argument("--print-tag", action="store_true", help="print the tag; build nothing")
    args = ap.parse_args(argv)
    if not args.lock.is_file():
        ap.error(f"--lock {args.lock}: no such file")
    lock = args.lock.resolve()
    if args.print_tag:
        print(image_tag(lock))
        return 0
    t0 = time.monotonic()
    with DockerDaemon() as d:
        tag = ensure_image(d, lock)
    _log(f"{tag} ready in {time.monotonic() - t0:.1f} s")
    print(tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
