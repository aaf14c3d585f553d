"""The build image for the Docker sandbox: imported, never pulled.

A minimal root file system (mount points, an unprivileged ``builder`` user, merged-/usr
symlinks); the toolchains come from the host, mounted read-only (compiler.toolchain_mounts).
In production, deploy/compiler/Dockerfile builds a self-contained image instead.

    python -m services.compiler.image   # creates compiler.docker_image when missing
"""

from __future__ import annotations

import io
import sys
import tarfile

from outlayer.config import load_settings
from outlayer.errors import ErrorCode, OutlayerError
from services.compiler.sandbox import BUILDER_UID

_PASSWD = f"root:x:0:0::/:/bin/false\nbuilder:x:{BUILDER_UID}:{BUILDER_UID}::/build:/bin/false\n"
_GROUP = f"root:x:0:\nbuilder:x:{BUILDER_UID}:\n"


def rootfs_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("usr", "etc", "tmp", "build", "proc", "dev", "sys"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for link in ("bin", "lib", "lib64", "sbin"):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, f"usr/{link}"
            tar.addfile(info)
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ensure_image(tag: str) -> bool:
    """Imports the image unless it exists; True when it was created."""
    import docker
    from docker.errors import DockerException, ImageNotFound

    try:
        client = docker.from_env(timeout=60)
        try:
            client.images.get(tag)
            return False
        except ImageNotFound:
            pass
        repository, _, version = tag.partition(":")
        client.api.import_image_from_data(rootfs_tar(), repository=repository, tag=version)
        return True
    except DockerException as exc:
        raise OutlayerError(
            ErrorCode.CONFIGURATION,
            f"cannot reach the Docker Engine to create {tag}: {exc}",
        ) from None


def main() -> None:
    tag = load_settings().compiler.docker_image
    try:
        created = ensure_image(tag)
    except OutlayerError as exc:
        sys.exit(f"error: {exc}")
    print(f"    build image {tag}: {'imported' if created else 'present'}")


if __name__ == "__main__":
    main()
