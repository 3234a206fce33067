"""``hypercolumns data``: its flags, for ``data.download.download_sources``."""
import os
import sys
from pathlib import Path

from hypercolumns.data import download
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    """Returns the exit status: 0 on success, 1 when a download, checksum or unpacking failed."""
    parser = command_parser("data", "Download and unpack PASCAL VOC 2012 and SBD.")
    parser.add_argument("--root", type=Path, default=os.environ.get("DATA_ROOT"),
                        help="folder to download into (default: $DATA_ROOT)")
    parser.add_argument("--only", choices=sorted(download.SOURCES), nargs="+",
                        default=sorted(download.SOURCES), help="which data sets (default: all)")
    parser.add_argument("--timeout", type=float, default=download.DEFAULT_TIMEOUT_S,
                        help="seconds without an answer before giving up (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.root is None:
        parser.error("give --root DIR or set DATA_ROOT")
    try:
        download.download_sources(**vars(args))
    except download.DownloadError as error:
        print(f"hypercolumns data: error: {error}", file=sys.stderr)
        return 1
    return 0
