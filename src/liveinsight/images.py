"""Uploaded images: what a file really is, and its optimised variants (Pillow).

Only raster images are taken: PNG, JPEG, WebP, GIF and AVIF, recognised by their bytes (the
declared content type must agree). SVG is refused: it can carry scripts. Pixels are bounded
(:data:`MAX_PIXELS`, also Pillow's decompression-bomb limit for this process's work), as are
bytes (by the caller). Variants are re-encoded from the pixels, so nothing of the original's
metadata (EXIF, GPS, comments) reaches them, at fixed sizes (:data:`SIZES`) and formats
(:data:`FORMATS`), so the number of variants of an image is bounded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from liveinsight.errors import Invalid, TooLarge, UnsupportedMedia

MAX_PIXELS = 40_000_000
ACCEPTED = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif",
            "AVIF": "image/avif"}
FORMATS = {"webp": ("WEBP", "image/webp"), "avif": ("AVIF", "image/avif"),
           "png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg")}
SIZES = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str  # PNG, JPEG, ...
    mime: str
    width: int
    height: int


def sniff(data: bytes, declared: str | None = None) -> ImageInfo:
    """What ``data`` is. Raises ``UnsupportedMedia`` (415) for anything but the accepted
    raster formats or when ``declared`` disagrees with the bytes, ``Invalid`` (400) for a
    damaged image, ``TooLarge`` (413) past :data:`MAX_PIXELS`."""
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype", b"<html")):
        raise UnsupportedMedia("SVG and HTML are not accepted (they can carry scripts); "
                               "upload a PNG, JPEG, WebP, GIF or AVIF", field="file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, size = image.format or "", image.size
                if fmt in ACCEPTED and size[0] * size[1] <= MAX_PIXELS:
                    image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise UnsupportedMedia("the file is not an image of an accepted type (PNG, JPEG, "
                                   "WebP, GIF, AVIF)", field="file") from None
        raise TooLarge(f"the image has more than {MAX_PIXELS:,} pixels", field="file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Invalid(f"the image is damaged: {str(exc)[:120]}", field="file") from None
    if fmt not in ACCEPTED:
        raise UnsupportedMedia(f"{fmt or 'this'} images are not accepted (PNG, JPEG, WebP, "
                               "GIF, AVIF)", field="file")
    if size[0] * size[1] > MAX_PIXELS:
        raise TooLarge(f"the image has more than {MAX_PIXELS:,} pixels", field="file")
    mime = ACCEPTED[fmt]
    if declared and declared.split(";")[0].strip().lower() not in (mime, "application/"
                                                                   "octet-stream"):
        raise UnsupportedMedia(f"the file is {mime}, not {declared[:60]}", field="file")
    return ImageInfo(fmt, mime, size[0], size[1])


def variant(data: bytes, fmt: str, width: int | None, height: int | None) -> bytes:
    """``data`` re-encoded as ``fmt`` (a key of :data:`FORMATS`), fitted inside ``width`` by
    ``height`` (each one of :data:`SIZES` or None), never enlarged, oriented by its EXIF tag,
    without its metadata."""
    encoder, _ = FORMATS[fmt]
    with Image.open(io.BytesIO(data)) as opened:
        opened.seek(0)  # an animation's first frame
        image = ImageOps.exif_transpose(opened)
        if width or height:
            image.thumbnail((width or image.width, height or image.height),
                            Image.Resampling.LANCZOS)
        if encoder == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        elif image.mode in ("P", "CMYK", "I;16"):
            image = image.convert("RGBA")
        out = io.BytesIO()
        options = {"quality": 80} if encoder in ("WEBP", "AVIF", "JPEG") else {"optimize": True}
        image.save(out, encoder, **options)
        return out.getvalue()
