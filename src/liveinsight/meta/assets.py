"""Uploaded images in the metadata database (so every node serves them): kept by the SHA-256
of their bytes, per site. One image uploaded for two sites is kept for the first; the second
upload is told it exists (same id) and belongs to another site only if that site differs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from liveinsight.errors import Conflict, NotFound
from liveinsight.images import ImageInfo
from liveinsight.meta import models
from liveinsight.meta.db import session_factory

MAX_PER_SITE = 200


@dataclass(frozen=True, slots=True)
class AssetInfo:
    id: str
    site_id: int
    name: str
    mime: str
    width: int
    height: int
    size: int
    created_at: datetime

    @classmethod
    def of(cls, row: models.Asset) -> AssetInfo:
        return cls(row.id, row.site_id, row.name, row.mime, row.width, row.height, row.size,
                   row.created_at)


class Assets:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def put(self, site_id: int, data: bytes, info: ImageInfo, name: str) -> tuple[AssetInfo, bool]:
        """Keep ``data`` (already checked by ``images.sniff``) for the site: ``(asset,
        created)``. Raises ``Conflict`` past :data:`MAX_PER_SITE` images or when the same
        image is kept for another site."""
        digest = hashlib.sha256(data).hexdigest()
        with self._sessions() as s:
            row = s.get(models.Asset, digest)
            if row is not None:
                if row.site_id != site_id:
                    raise Conflict("this image is already uploaded for another site",
                                   field="file")
                return AssetInfo.of(row), False
            count = s.scalar(select(func.count()).select_from(models.Asset).where(
                models.Asset.site_id == site_id)) or 0
            if count >= MAX_PER_SITE:
                raise Conflict(f"a site keeps at most {MAX_PER_SITE} images; delete some",
                               field="file")
            row = models.Asset(id=digest, site_id=site_id, name=name[:120], mime=info.mime,
                               width=info.width, height=info.height, size=len(data),
                               data=data)
            s.add(row)
            s.commit()
            return AssetInfo.of(row), True

    def exists(self, asset_id: str) -> bool:
        with self._sessions() as s:
            return s.scalar(select(models.Asset.id).where(models.Asset.id == asset_id)
                            ) is not None

    def get(self, asset_id: str) -> tuple[AssetInfo, bytes] | None:
        with self._sessions() as s:
            row = s.get(models.Asset, asset_id)
            return None if row is None else (AssetInfo.of(row), row.data)

    def of_site(self, site_id: int) -> list[AssetInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.Asset).where(models.Asset.site_id == site_id)
                             .order_by(models.Asset.created_at.desc())).all()
            return [AssetInfo.of(r) for r in rows]

    def delete(self, site_id: int, asset_id: str) -> None:
        with self._sessions() as s:
            row = s.get(models.Asset, asset_id)
            if row is None or row.site_id != site_id:
                raise NotFound(f"no image {asset_id[:64]!r} for this site")
            s.delete(row)
            s.commit()
