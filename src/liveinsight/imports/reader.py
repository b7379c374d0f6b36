"""Reading an uploaded import: a zip of CSV files or one CSV file, within limits.

Nothing is extracted to disk: each CSV is streamed out of the archive and decoded as UTF-8
(a byte-order mark is skipped). Limits (:class:`Limits`) are checked on the sizes the archive
declares before anything is read (files, total uncompressed size, compression ratio of
each: zip bombs) and again while reading (a member that inflates past its declared size is
refused by ``zipfile``; rows past :attr:`Limits.rows` stop the import).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from liveinsight.errors import Invalid, TooLarge
from liveinsight.imports.layout import MAX_FIELD, Where


@dataclass(frozen=True, slots=True)
class Limits:
    upload_bytes: int = 100 << 20
    uncompressed_bytes: int = 1 << 30
    rows: int = 5_000_000
    files: int = 50
    ratio: int = 200
    """Largest uncompressed / compressed size of one member (zip bombs reach thousands)."""


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    size: int


class Upload:
    """The file an import reads: ``path`` on disk, ``filename`` as uploaded."""

    def __init__(self, path: Path, filename: str, limits: Limits) -> None:
        self.path = path
        self.filename = filename.rsplit("/", 1)[-1][:255] or "upload"
        self.limits = limits
        size = path.stat().st_size
        if size > limits.upload_bytes:
            raise TooLarge(f"the upload is larger than {limits.upload_bytes} bytes",
                           field="file")
        if size == 0:
            raise Invalid("the upload is empty", field="file")
        with path.open("rb") as fh:
            self.is_zip = fh.read(4) == b"PK\x03\x04"
        self.members = self._members() if self.is_zip else [Member(self.filename, size)]

    def _members(self) -> list[Member]:
        try:
            with zipfile.ZipFile(self.path) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir() and not _clutter(i.filename)]
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise Invalid(f"{self.filename}: not a readable zip archive ({exc})",
                          field="file") from None
        limits = self.limits
        if not infos:
            raise Invalid(f"{self.filename}: the archive holds no file", field="file")
        if len(infos) > limits.files:
            raise TooLarge(f"{self.filename}: the archive holds {len(infos)} files, at most "
                           f"{limits.files}", field="file")
        total = sum(i.file_size for i in infos)
        if total > limits.uncompressed_bytes:
            raise TooLarge(f"{self.filename}: its files hold {total} bytes uncompressed, at "
                           f"most {limits.uncompressed_bytes}", field="file")
        for info in infos:
            if info.file_size > max(info.compress_size, 1) * limits.ratio \
                    and info.file_size > 1 << 20:
                raise TooLarge(f"{info.filename}: compressed more than {limits.ratio} to 1 "
                               "(refused as a possible zip bomb)", field="file")
            if info.flag_bits & 0x1:
                raise Invalid(f"{info.filename}: encrypted files are not read", field="file")
        return [Member(i.filename, i.file_size) for i in infos]

    @contextmanager
    def open(self, member: Member) -> Iterator[IO[bytes]]:
        if not self.is_zip:
            with self.path.open("rb") as fh:
                yield fh
            return
        with zipfile.ZipFile(self.path) as zf, zf.open(member.name) as fh:
            yield fh

    def rows(self, member: Member, where: Where) -> Iterator[list[str]]:
        """The member's CSV records (the header first), each numbered in ``where.line``.
        Blank lines and, before the header, lines starting with ``#`` (Google Analytics
        writes its report's title and range so) are skipped."""
        csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD * 4))
        with self.open(member) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            lines = _numbered(text, where)
            reader = csv.reader(lines, strict=True)
            started = False
            try:
                for record in reader:
                    if not record or record == [""]:
                        continue
                    if not started and record[0].startswith("#"):
                        continue
                    started = True
                    yield record
            except UnicodeDecodeError:
                raise where.fail(None, "not UTF-8 text") from None
            except (csv.Error, zipfile.BadZipFile, EOFError) as exc:
                raise where.fail(None, f"not a readable CSV record ({exc})") from None


def _clutter(name: str) -> bool:
    """What archivers add beside the files (macOS resource forks, hidden files)."""
    return name.startswith("__MACOSX/") or name.rsplit("/", 1)[-1].startswith(".")


def _numbered(text: IO[str], where: Where) -> Iterator[str]:
    for line in text:
        where.line += 1
        if len(line) > MAX_FIELD * 64:
            raise where.fail(None, f"a line longer than {MAX_FIELD * 64} characters")
        yield line
