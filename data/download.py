"""``hypercolumns data --root DIR``: fetch VOC2012 and SBD into DIR and unpack them.

After a run, ``DIR/VOCdevkit/VOC2012`` is the root for :mod:`voc` and
``DIR/benchmark_RELEASE`` the root for :mod:`sbd`. An archive already in DIR
is not downloaded again, so on a machine without internet the archives can be
copied there by hand and the command run to check and unpack them.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import sys
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hypercolumns data", description="Download and unpack PASCAL VOC 2012 and SBD."
    )
    parser.add_argument(
        "--root", type=Path, default=os.environ.get("DATA_ROOT"),
        help="folder to download into (default: $DATA_ROOT)",
    )
    parser.add_argument(
        "--only", choices=sorted(SOURCES), nargs="+", default=sorted(SOURCES),
        help="which data sets (default: all)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S,
        help="seconds without an answer before giving up (default: %(default)s)",
    )
    return parser


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (0 on success, 1 on failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.root is None:
        parser.error("give --root DIR or set DATA_ROOT")
    root = Path(args.root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"hypercolumns data: error: cannot create {root} ({error})", file=sys.stderr)
        return 1
    for name in args.only:
        try:
            folder = fetch(SOURCES[name], root, args.timeout)
        except DownloadError as error:
            print(f"hypercolumns data: error: {error}", file=sys.stderr)
            return 1
        print(f"{name}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
