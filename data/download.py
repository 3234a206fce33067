"""``hypercolumns data --root DIR``: fetch VOC2012 and SBD into DIR and unpack them.

After a run, ``DIR/VOCdevkit/VOC2012`` is the root for :mod:`voc` and
``DIR/benchmark_RELEASE`` the root for :mod:`sbd`. An archive already in DIR
is not downloaded again, so on a machine without internet the archives can be
copied there by hand and the command run to check and unpack them.
"""
from __future__ import annotations

import hashlib
import http.client
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Source:
    """One archive: where it comes from, its checksum, what it unpacks to."""

    url: str
    md5: str
    unpacks_to: str

    @property
    def archive(self) -> str:
        return self.url.rsplit("/", 1)[-1]


SOURCES = {
    "voc2012": Source(
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
        "6cd6e144f989b92b3379bac3b3de84fd",
        "VOCdevkit/VOC2012",
    ),
    "sbd": Source(
        "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
        "82b4d87ceb2ed10f6038a1cba92111cb",
        "benchmark_RELEASE",
    ),
}
"""Name -> :class:`Source`; the checksums are those torchvision checks."""


class DownloadError(RuntimeError):
    """A download, checksum or unpacking failed; the message says what to do."""


def download(url: str, destination: Path, timeout: float = DEFAULT_TIMEOUT_S) -> Path:
    """Stream ``url`` to ``destination`` (via a ``.part`` file, renamed when complete).

    Raises
    ------
    DownloadError
        If the server cannot be reached or stops answering for ``timeout`` seconds.
    """
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (OSError, http.client.HTTPException) as error:  # URLError and timeouts are OSErrors
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"could not download {url} ({getattr(error, 'reason', error)}). Download it by hand "
            f"into {destination.parent} (your DATA_ROOT) and run this command again to unpack it."
        ) from error
    partial.rename(destination)
    return destination


def md5_of(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(archive: Path, root: Path) -> None:
    """Unpack a tar archive into ``root``, refusing members that point outside it."""
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, filter="data")
            else:  # Python < 3.10.12 / 3.11.4 has no extraction filters
                _check_members(tar, root, archive)
                tar.extractall(root)
    except (tarfile.TarError, OSError) as error:
        raise DownloadError(
            f"could not unpack {archive} ({error}); delete it and download it again"
        ) from error


def _check_members(tar: tarfile.TarFile, root: Path, archive: Path) -> None:
    resolved_root = root.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if member.issym() or member.islnk() or resolved_root not in (target, *target.parents):
            raise DownloadError(f"{archive}: member {member.name!r} would land outside {root}")


def fetch(source: Source, root: Path, timeout: float = DEFAULT_TIMEOUT_S) -> Path:
    """Download (unless present), check and unpack one source; returns the unpacked folder."""
    archive = root / source.archive
    if archive.is_file():
        print(f"{archive}: already here, not downloading again")
    else:
        print(f"downloading {source.url} -> {archive}")
        download(source.url, archive, timeout)
    if md5_of(archive) != source.md5:
        raise DownloadError(
            f"{archive}: MD5 differs from {source.md5} (truncated or wrong file); delete it and "
            f"download {source.url} again"
        )
    extract(archive, root)
    return root / source.unpacks_to


def download_sources(root: Path, only=None, timeout: float = DEFAULT_TIMEOUT_S) -> dict:
    """Fetch, check and unpack the sources named in ``only`` (default: all) into ``root``.

    Prints each unpacked folder as it is done; returns ``{name: folder}``.

    Raises
    ------
    DownloadError
        If ``root`` cannot be made, or a download, checksum or unpacking fails.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create {root} ({error})") from error
    folders = {}
    for name in sorted(SOURCES) if only is None else only:
        folders[name] = fetch(SOURCES[name], root, timeout)
        print(f"{name}: {folders[name]}")
    return folders
