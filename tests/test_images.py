"""Uploaded images (images.py): recognised by their bytes, bounded, variants without
metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from liveinsight import images
from liveinsight.errors import Invalid, TooLarge, UnsupportedMedia


def picture(fmt: str = "PNG", size: tuple[int, int] = (300, 200), **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(out, fmt, **save)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                           ("WEBP", "image/webp"), ("GIF", "image/gif"),
                                           ("AVIF", "image/avif")])
def test_accepted_formats_are_recognised_by_their_bytes(fmt: str, mime: str) -> None:
    info = images.sniff(picture(fmt), declared=mime)
    assert (info.format, info.mime, info.width, info.height) == (fmt, mime, 300, 200)


def test_a_declared_type_that_the_bytes_deny_is_refused() -> None:
    with pytest.raises(UnsupportedMedia, match="image/png, not image/jpeg"):
        images.sniff(picture("PNG"), declared="image/jpeg")


@pytest.mark.parametrize("data", [
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"  <?xml version='1.0'?><svg/>", b"<!DOCTYPE html><html><script>x</script>",
    b"GIF89a not really", b"%PDF-1.7", b"\x00" * 100])
def test_scripts_and_non_images_are_refused(data: bytes) -> None:
    with pytest.raises((UnsupportedMedia, Invalid)):
        images.sniff(data)


def test_a_decompression_bomb_is_refused() -> None:
    bomb = picture("PNG", (8000, 6000))  # 48 Mpx of one colour: a small file
    assert len(bomb) < 2 << 20
    with pytest.raises(TooLarge, match="pixels"):
        images.sniff(bomb)


def test_a_truncated_image_is_refused_as_damaged() -> None:
    with pytest.raises((Invalid, UnsupportedMedia)):
        images.sniff(picture("PNG")[:200])


def test_variants_fit_the_box_never_grow_and_drop_metadata() -> None:
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    original = picture("JPEG", (1000, 500), exif=exif.tobytes())
    small = Image.open(io.BytesIO(images.variant(original, "webp", 256, None)))
    assert (small.format, small.size) == ("WEBP", (256, 128))
    assert "exif" not in small.info
    boxed = Image.open(io.BytesIO(images.variant(original, "png", 512, 64)))
    assert boxed.size == (128, 64)
    same = Image.open(io.BytesIO(images.variant(original, "avif", 2048, None)))
    assert (same.format, same.size) == ("AVIF", (1000, 500))  # never enlarged
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    out = io.BytesIO()
    rgba.save(out, "PNG")
    assert Image.open(io.BytesIO(images.variant(out.getvalue(), "jpeg", 32, None))).mode == "RGB"
