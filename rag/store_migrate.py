"""Moving an index made by qdrant-client's local mode into the embedded engine.

Before rag.store_edge, the embedded store was qdrant-client's local mode in
DATA_DIR/qdrant. When the Edge index is empty and that folder holds an index, its points
are copied, vectors and payloads as they are (guide records and canonical texts, the
calibration, the answer units): no re-embedding, so it takes seconds, and nothing is lost
even when a guide's file is gone from the corpus. The old folder is then renamed, not
deleted, and a one-line notice says where it is. A copy that fails midway leaves the old
folder as it was and the Edge index empty (the unfinished generation is deleted on the
next open), so the next start tries again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rag.store import StoreError

if TYPE_CHECKING:
    from rag.settings import Settings
    from rag.store_edge import EdgeStore

log = logging.getLogger("careerbot")

MIGRATED_SUFFIX = ".before-edge"


def migrate_local_mode(settings: Settings, store: EdgeStore) -> bool:
    """Copy the local-mode index into `store` when `store` is empty; True when it did."""
    old = settings.local_mode_dir
    if store.dense_size() is not None or not (old / "collection").is_dir():
        return False
    from qdrant_client import QdrantClient

    from rag.store_qdrant import QdrantStore

    try:
        client = QdrantClient(path=str(old))
    except RuntimeError as e:  # qdrant-client's words for a folder another process holds
        raise StoreError(f"the old index at {old} is in use by another process (an older "
                         "careerbot?); stop it, then start again to move it") from e
    try:
        source = QdrantStore(client, settings.collection, local=True)
        dim = source.dense_size()
        if dim is None:
            return False  # a folder without this collection's index: nothing to move
        new = store.generation()
        new.ensure(dim)
        for src, dst in zip((source.chunks, source.units, source.docs),
                            (new.chunks, new.units, new.docs), strict=True):
            new.upsert(dst, source.points(src))
        new.finish_writes()
        store.promote(new)
    finally:
        client.close()
    kept = old.with_name(old.name + MIGRATED_SUFFIX)
    old.rename(kept)
    log.warning("moved the index from %s (qdrant-client local mode) to %s (Qdrant's engine "
                "in-process): %d guides, %d chunks; the old folder is kept as %s, delete it "
                "when you no longer need it", old, settings.index_dir, len(store.list_docs()),
                store.count(), kept)
    return True
