"""The device side of the transactional outbox (the triggers that fill it are in
store/schema.py, step 4): switching it on or off, reading batches, and its state.

The outbox is written only while `meta['fleet.device_id']` is set, so a screen without
`[fleet] database_url` writes nothing to it, exactly as before fleet mode existed.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "configure",
    "read_batch",
    "delete_through",
    "settle",
    "depth",
    "meta_values",
    "set_meta",
    "KINDS",
    "META_PREFIX",
]

KINDS = ("play", "exposure", "session", "rating", "mobile_visit")
META_PREFIX = "fleet."
_UPSERT = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


async def configure(store: Any, device_id: str | None, outbox_max_rows: int = 0) -> None:
    """Start (device_id given) or stop (None) recording rows to ship."""
    if device_id:
        await store.executemany_now(
            [
                (_UPSERT, ("fleet.device_id", device_id)),
                (_UPSERT, ("fleet.outbox_max", str(outbox_max_rows))),
                ("INSERT OR IGNORE INTO meta (key, value) VALUES ('fleet.outbox_dropped', '0')", ()),
            ]
        )
    elif await store.scalar("SELECT 1 FROM meta WHERE key = 'fleet.device_id'"):
        await store.execute("DELETE FROM meta WHERE key = 'fleet.device_id'")


async def set_meta(store: Any, values: dict[str, Any]) -> None:
    await store.executemany_now([(_UPSERT, (k, "" if v is None else str(v))) for k, v in values.items()])


async def meta_values(store: Any) -> dict[str, str]:
    rows = await store.fetchall("SELECT key, value FROM meta WHERE key LIKE 'fleet.%' OR key = 'clock.synced'")
    return {r["key"]: r["value"] for r in rows}


async def read_batch(store: Any, limit: int) -> list[dict[str, Any]]:
    """The oldest `limit` rows to ship, in order."""
    return await store.fetchall(
        "SELECT seq, kind, device_id, clock_synced, created_at, payload FROM outbox WHERE refused IS NULL "
        "ORDER BY seq LIMIT ?",
        (limit,),
    )


async def delete_through(store: Any, first_seq: int, last_seq: int) -> None:
    """Forget rows the centre has committed. Sequence numbers only grow, so [first, last] holds
    exactly the rows of the batch read (minus any that retention already reported and removed)."""
    await store.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (first_seq, last_seq))


async def settle(store: Any, shipped: list[int], refused: list[tuple[int, str]]) -> None:
    """After a batch shipped row by row: forget the shipped rows, keep the refused ones aside."""
    statements: list[tuple[str, tuple[Any, ...]]] = [("DELETE FROM outbox WHERE seq = ?", (seq,)) for seq in shipped]
    statements += [("UPDATE outbox SET refused = ? WHERE seq = ?", (why, seq)) for seq, why in refused]
    await store.executemany_now(statements)


async def depth(store: Any) -> dict[str, Any]:
    row = await store.fetchone("SELECT COUNT(*) AS n, MIN(created_at) AS oldest, COUNT(refused) AS refused FROM outbox")
    return {
        "rows": int(row["n"]) if row else 0,
        "oldest_created_at": row["oldest"] if row else None,
        "refused": int(row["refused"]) if row else 0,
    }
