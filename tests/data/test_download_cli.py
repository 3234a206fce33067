"""``hypercolumns data``: failure messages and unpacking, without the network.

urlopen is replaced by a function that fails, or the sources point at a local
``file://`` archive; no test opens a connection.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.error

import pytest

from hypercolumns.data import download
from hypercolumns.pipelines.commands import data as data_command


def fail_to_connect(calls):
    def urlopen(url, timeout=None):
        calls.append((url, timeout))
        raise urllib.error.URLError("Name or service not known")
    return urlopen


def test_unreachable_server_fails_fast_with_advice(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(download.urllib.request, "urlopen", fail_to_connect(calls))
    assert data_command.main(["--root", str(tmp_path), "--only", "voc2012"]) == 1
    error = capsys.readouterr().err
    url = download.SOURCES["voc2012"].url
    assert calls == [(url, 10.0)]
    assert url in error and "by hand" in error and str(tmp_path) in error and "DATA_ROOT" in error
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def make_archive(tmp_path):
    """A small tar in the layout of VOC's archive, and its MD5."""
    archive = tmp_path / "src" / "VOCtrainval_11-May-2012.tar"
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tar:
        payload = b"2008_000008\n"
        member = tarfile.TarInfo("VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


def test_downloads_checks_and_unpacks(tmp_path, monkeypatch, capsys):
    archive, md5 = make_archive(tmp_path)
    source = download.Source(archive.as_uri(), md5, "VOCdevkit/VOC2012")
    monkeypatch.setattr(download, "SOURCES", {"voc2012": source})
    root = tmp_path / "data"
    assert data_command.main(["--root", str(root)]) == 0
    unpacked = root / "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt"
    assert unpacked.read_text() == "2008_000008\n"
    assert (root / archive.name).is_file()
    # A second run unpacks the archive already there without downloading.
    monkeypatch.setattr(download.urllib.request, "urlopen", fail_to_connect([]))
    assert data_command.main(["--root", str(root)]) == 0
    assert "already here" in capsys.readouterr().out


def test_wrong_checksum_is_reported(tmp_path, monkeypatch, capsys):
    archive, _ = make_archive(tmp_path)
    source = download.Source(archive.as_uri(), "0" * 32, "x")
    monkeypatch.setattr(download, "SOURCES", {"voc2012": source})
    assert data_command.main(["--root", str(tmp_path / "data")]) == 1
    assert "MD5 differs" in capsys.readouterr().err


def test_root_is_required(monkeypatch):
    monkeypatch.delenv("DATA_ROOT", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        data_command.main([])
    assert exit_info.value.code == 2
