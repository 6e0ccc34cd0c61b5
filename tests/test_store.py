"""Store: real SQLite files; migrations, refusal of newer files, batched writes that survive."""

import sqlite3

import pytest

from signage.store import SCHEMA_VERSION, Store, StoreError, schema


async def test_new_file_gets_the_latest_schema_and_pragmas(tmp_path):
    store = Store(tmp_path / "s.db", flush_seconds=60)
    await store.open()
    try:
        assert await store.scalar("PRAGMA user_version") == SCHEMA_VERSION
        assert (await store.scalar("PRAGMA journal_mode")).lower() == "wal"
        assert await store.scalar("PRAGMA foreign_keys") == 1
        assert await store.scalar("PRAGMA synchronous") == 1  # NORMAL
        tables = {r["name"] for r in await store.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"ads", "plays", "sessions", "exposures", "ratings", "mobile_visits"} <= tables
    finally:
        await store.close()


async def test_old_file_is_upgraded_step_by_step(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    # A file made by a release that knew only step 1, with data in it.
    con = sqlite3.connect(path)
    con.executescript(schema.MIGRATIONS[0][1])
    con.execute("PRAGMA user_version=1")
    con.execute("INSERT INTO meta VALUES ('made_by', 'v1')")
    con.commit()
    con.close()
    extra = (SCHEMA_VERSION + 1, "CREATE TABLE upgraded_marker (x INTEGER);")
    monkeypatch.setattr("signage.store.db.MIGRATIONS", schema.MIGRATIONS + [extra])
    monkeypatch.setattr("signage.store.db.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    store = Store(path)
    await store.open()
    try:
        assert await store.scalar("PRAGMA user_version") == SCHEMA_VERSION + 1
        assert await store.scalar("SELECT value FROM meta WHERE key='made_by'") == "v1"
        assert await store.scalar("SELECT count(*) FROM upgraded_marker") == 0
    finally:
        await store.close()


async def test_a_failing_migration_leaves_the_file_at_its_version(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    store = Store(path)
    await store.open()
    await store.close()
    broken = (SCHEMA_VERSION + 1, "CREATE TABLE half (x);\nTHIS IS NOT SQL;")
    monkeypatch.setattr("signage.store.db.MIGRATIONS", schema.MIGRATIONS + [broken])
    monkeypatch.setattr("signage.store.db.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError):
        await Store(path).open()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert not con.execute("SELECT 1 FROM sqlite_master WHERE name='half'").fetchone()
    con.close()


async def test_newer_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "new.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE future (x)")
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(
        StoreError, match=f"schema version {SCHEMA_VERSION + 5} is newer than this signage release knows"
    ):
        await Store(path).open()
    assert path.read_bytes() == before


async def test_not_a_database_is_moved_aside_and_a_new_one_started(tmp_path):
    """Issue 10 item 8: a corrupt file used to stop start-up (a black screen)."""
    path = tmp_path / "junk.db"
    junk = b"this is not sqlite" * 100
    path.write_bytes(junk)
    store = Store(path)
    await store.open()
    try:
        assert store.mode == "file" and "moved aside" in store.problem
        assert store.moved_aside.read_bytes() == junk  # kept for the technician, untouched
        await store.execute("INSERT INTO meta VALUES ('k', 'v')")
        assert (await store.status())["problem"] == store.problem
    finally:
        await store.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


async def test_batched_writes_flush_on_close_and_survive_a_locked_file(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path, flush_seconds=60)
    await store.open()
    store.enqueue("INSERT INTO meta VALUES (?, ?)", ("a", "1"))
    # Another process holds a write lock: the flush fails, keeps its batch, and retries.
    other = sqlite3.connect(path, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    await store.db.execute("PRAGMA busy_timeout=50")
    assert await store.flush() == 0
    assert store.pending == 1 and "will retry" in store.last_error
    other.rollback()
    other.close()
    store.enqueue("INSERT INTO meta VALUES (?, ?)", ("b", "2"))
    await store.close()  # flushes
    con = sqlite3.connect(path)
    assert con.execute("SELECT key, value FROM meta ORDER BY key").fetchall() == [("a", "1"), ("b", "2")]
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


async def test_flush_timer_writes_without_close(tmp_path):
    store = Store(tmp_path / "s.db", flush_seconds=0.1)
    await store.open()
    try:
        store.enqueue("INSERT INTO meta VALUES ('t', 'x')")
        import asyncio

        for _ in range(50):
            await asyncio.sleep(0.05)
            if store.flushed_rows:
                break
        con = sqlite3.connect(tmp_path / "s.db")
        assert con.execute("SELECT value FROM meta WHERE key='t'").fetchone() == ("x",)
        con.close()
    finally:
        await store.close()


async def test_a_refused_write_is_dropped_without_losing_the_rest_of_its_batch(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path, flush_seconds=60)
    await store.open()
    store.enqueue("INSERT INTO meta VALUES ('ok1', 'x')")
    store.enqueue("INSERT INTO meta VALUES ('ok1', 'duplicate key')")  # refused: PRIMARY KEY
    store.enqueue("INSERT INTO meta VALUES ('ok2', 'y')")
    assert await store.flush() == 2
    assert store.pending == 0 and store.refused_writes == 1
    assert "refused" in store.last_error
    await store.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT key, value FROM meta ORDER BY key").fetchall() == [("ok1", "x"), ("ok2", "y")]
    con.close()


async def test_a_flush_cancelled_mid_write_keeps_its_batch_for_close(tmp_path):
    """Shutdown cancels the background flusher; if it was writing, its batch (e.g. the sessions
    ended at shutdown) must still reach the file in close()'s final flush, not be lost."""
    import asyncio

    store = Store(tmp_path / "c.db", flush_seconds=60)
    await store.open()
    for i in range(2000):
        store.enqueue("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "v"))
    try:
        task = asyncio.create_task(store.flush())
        for _ in range(200):  # let the write start (the batch has left the queue)...
            await asyncio.sleep(0)
            if store.pending == 0:
                break
        assert store.pending == 0 and not task.done()
        task.cancel()  # ...and cancel it mid-batch, as close() cancels the flusher
        with pytest.raises(asyncio.CancelledError):
            await task
        assert store.pending == 2000  # rolled back and kept, in order
    finally:
        await store.close()
    con = sqlite3.connect(tmp_path / "c.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'k%'").fetchone()[0] == 2000
    finally:
        con.close()


async def test_a_statement_refused_for_good_is_dropped_and_does_not_block_later_flushes(tmp_path):
    """Issue 10 item 7: every OperationalError used to count as transient, so one statement
    SQLite refuses permanently (a missing column) blocked every later flush, and a batch that
    also held a constraint failure lost its good writes."""
    path = tmp_path / "s.db"
    store = Store(path, flush_seconds=60)
    await store.open()
    store.enqueue("INSERT INTO meta VALUES ('a', '1')")
    store.enqueue("INSERT INTO meta (key, no_such_column) VALUES ('b', '2')")  # OperationalError
    store.enqueue("INSERT INTO meta VALUES ('a', 'duplicate')")  # IntegrityError
    store.enqueue("INSERT INTO meta VALUES ('c', '3')")
    assert await store.flush() == 2
    assert store.pending == 0 and store.refused_writes == 2 and store.failed_flushes == 0
    store.enqueue("INSERT INTO meta VALUES ('d', '4')")
    assert await store.flush() == 1
    await store.close()
    con = sqlite3.connect(path)
    assert [k for (k,) in con.execute("SELECT key FROM meta ORDER BY key")] == ["a", "c", "d"]
    con.close()


async def test_pending_writes_are_bounded_but_proof_of_play_is_never_shed(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path, flush_seconds=60, max_pending=100, spill_dir=tmp_path / "spill")
    await store.open()
    other = sqlite3.connect(path, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    await store.db.execute("PRAGMA busy_timeout=20")
    try:
        for i in range(150):
            store.enqueue("INSERT INTO meta VALUES (?, 'x')", (f"m{i}",))
        for i in range(1, 21):
            store.enqueue("INSERT INTO plays (id, kind, started_at) VALUES (?, 'healing', 0)", (i,))
        assert await store.flush() == 0
        status = await store.status()
        assert status["state"] == "failing" and status["shed_writes"] == 50
        assert status["pending_writes"] == 120 and status["spilled_writes"] == 120
    finally:
        other.rollback()
        other.close()
    await store.db.execute("PRAGMA busy_timeout=5000")
    store._retry_at = 0.0
    assert await store.flush() == 120
    assert not any(p.exists() for p in store.spill_paths)  # written: the spill is gone
    await store.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM plays").fetchone()[0] == 20
    con.close()


async def test_writes_that_cannot_be_made_at_close_are_spilled_and_replayed_at_the_next_start(tmp_path):
    """Issue 10 item 7: closing while the database cannot be written used to drop the batch
    silently (and the process exited 0)."""
    path = tmp_path / "s.db"
    store = Store(path, flush_seconds=60, spill_dir=tmp_path / "spill")
    await store.open()
    await store.db.execute("PRAGMA busy_timeout=20")
    other = sqlite3.connect(path, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    for i in range(1, 6):
        store.enqueue("INSERT INTO plays (id, kind, started_at) VALUES (?, 'healing', 0)", (i,))
    await store.close()
    other.rollback()
    other.close()
    assert store.spilled_at_close == 5 and store.lost_at_close == 0 and store.unsaved_at_close == 5
    assert store.spill_paths[0].exists()
    again = Store(path, flush_seconds=60, spill_dir=tmp_path / "spill")
    await again.open()
    try:
        assert again.replayed_writes == 5
        assert await again.scalar("SELECT COUNT(*) FROM plays") == 5
        assert not any(p.exists() for p in again.spill_paths)
    finally:
        await again.close()
