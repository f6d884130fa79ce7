//! Tests against real SQLite files in a temporary directory, including a second process.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{Connection, OpenFlags};

use super::SqliteStore;
use crate::cache::store::{now_ms, Key, Record, Store};

/// A directory under the system temp dir, removed (with everything in it) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("liter_llm-sqlite-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::fs::remove_dir_all(&self.0).is_err() {
            make_writable(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Gives the owner full rights on `dir` and its subdirectories (undoes the permission test).
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&entry.path());
            }
        }
    }
}

fn key(group: u8, n: u32) -> Key {
    let mut bytes = [0u8; 32];
    bytes[0] = group;
    bytes[1..5].copy_from_slice(&n.to_be_bytes());
    Key(bytes)
}

fn record(written_ms: u64, value: &[u8]) -> Record {
    Record {
        written_ms,
        value: Bytes::copy_from_slice(value),
    }
}

/// `SUM(size)` over the rows and the trigger-kept total, read with a connection of our own.
fn totals(path: &Path) -> (u64, u64) {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open for totals");
    let sum: i64 = conn
        .query_row("SELECT COALESCE(SUM(size), 0) FROM entries", [], |r| r.get(0))
        .expect("sum");
    let kept: i64 = conn
        .query_row("SELECT total_size FROM meta", [], |r| r.get(0))
        .expect("meta");
    (u64::try_from(sum).expect("sum"), u64::try_from(kept).expect("meta"))
}

/// Polls `op` until it succeeds, failing the test after `limit`.
async fn eventually<T, E: std::fmt::Debug>(limit: Duration, mut op: impl AsyncFnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) if Instant::now() >= deadline => panic!("still failing after {limit:?}: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn round_trip_and_overwrite() {
    let dir = TempDir::new("roundtrip");
    let store = SqliteStore::new(dir.join("nested/dir/cache.sqlite"), 1 << 20);
    assert_eq!(store.kind(), "sqlite");
    assert!(format!("{store:?}").contains("nested/dir/cache.sqlite"));
    assert!(!dir.join("nested").exists(), "opening is lazy");

    let first = record(now_ms(), b"first answer");
    store.put(&key(0, 1), first.clone(), None).await.expect("put");
    assert_eq!(store.get(&key(0, 1)).await.expect("get"), Some(first));

    let second = record(now_ms(), b"second, longer answer");
    store
        .put(&key(0, 1), second.clone(), Some(Duration::from_secs(3600)))
        .await
        .expect("rewrite");
    assert_eq!(store.get(&key(0, 1)).await.expect("get"), Some(second));
    let (sum, kept) = totals(store.path());
    assert_eq!((sum, kept), (21 + 64, 21 + 64), "a rewrite replaces the row's size");
}

#[tokio::test]
async fn absent_key_is_none_and_relative_paths_work() {
    let dir = TempDir::new("absent");
    let store = SqliteStore::new(dir.join("cache.sqlite"), 1 << 20);
    assert_eq!(store.get(&key(0, 7)).await.expect("get"), None);

    // The temp dir seen from the current directory: climb to the root, then down.
    let depth = std::env::current_dir().expect("cwd").components().count();
    let relative: PathBuf = std::iter::repeat_n("..", depth)
        .collect::<PathBuf>()
        .join(dir.0.strip_prefix("/").expect("absolute temp dir"));
    let store = SqliteStore::new(relative.join("relative.sqlite"), 1 << 20);
    assert!(store.path().is_absolute());
    store.put(&key(0, 1), record(now_ms(), b"v"), None).await.expect("put");
    assert!(dir.join("relative.sqlite").is_file());
}

#[tokio::test]
async fn expired_records_read_as_absent() {
    let dir = TempDir::new("ttl");
    let store = SqliteStore::new(dir.join("cache.sqlite"), 1 << 20);
    let now = now_ms();
    // Written ten seconds ago with a one-second ttl: expired since nine seconds.
    store
        .put(&key(0, 1), record(now - 10_000, b"old"), Some(Duration::from_secs(1)))
        .await
        .expect("put");
    // Written as long ago, but with an hour to live.
    let fresh = record(now - 10_000, b"fresh");
    store
        .put(&key(0, 2), fresh.clone(), Some(Duration::from_secs(3600)))
        .await
        .expect("put");
    // No ttl: kept until evicted, however old.
    let forever = record(1, b"forever");
    store.put(&key(0, 3), forever.clone(), None).await.expect("put");

    assert_eq!(store.get(&key(0, 1)).await.expect("get"), None);
    assert_eq!(store.get(&key(0, 2)).await.expect("get"), Some(fresh));
    assert_eq!(store.get(&key(0, 3)).await.expect("get"), Some(forever));
}

#[tokio::test]
async fn size_cap_purges_expired_then_evicts_oldest() {
    let dir = TempDir::new("cap");
    let path = dir.join("cache.sqlite");
    // Each row counts 1000 + 64 bytes: nine fit under the 10 000-byte cap, ten do not.
    let store = SqliteStore::new(path.clone(), 10_000);
    let value = [7u8; 1000];
    let now = now_ms();
    store
        .put(&key(0, 0), record(now - 5_000, &value), None)
        .await
        .expect("put oldest");
    for n in 1..=3 {
        store
            .put(&key(1, n), record(now - 4_000, &value), Some(Duration::from_secs(1)))
            .await
            .expect("put expired");
    }
    for n in 1..=6 {
        store
            .put(&key(2, n), record(now + u64::from(n), &value), None)
            .await
            .expect("put");
        let (sum, kept) = totals(&path);
        assert_eq!(sum, kept);
        assert!(sum <= 10_000, "total {sum} over the cap");
    }
    // The sixth write went over the cap: the three expired rows went, which was enough.
    assert_eq!(totals(&path).0, 7 * 1064);
    assert!(
        store.get(&key(0, 0)).await.expect("get").is_some(),
        "the oldest live row is kept"
    );

    for n in 7..=30 {
        store
            .put(&key(2, n), record(now + u64::from(n), &value), None)
            .await
            .expect("put");
        let (sum, kept) = totals(&path);
        assert_eq!(sum, kept);
        assert!(sum <= 10_000, "total {sum} over the cap");
    }
    assert_eq!(
        store.get(&key(0, 0)).await.expect("get"),
        None,
        "the oldest row was evicted"
    );
    assert!(
        store.get(&key(2, 30)).await.expect("get").is_some(),
        "the newest row is kept"
    );
    assert!(
        store.get(&key(2, 1)).await.expect("get").is_none(),
        "old rows went before new ones"
    );
}

#[tokio::test]
async fn a_value_larger_than_the_cap_is_not_stored() {
    let dir = TempDir::new("toolarge");
    let store = SqliteStore::new(dir.join("cache.sqlite"), 1000);
    store
        .put(&key(0, 1), record(now_ms(), &[1u8; 1000]), None)
        .await
        .expect("skipped, not an error");
    assert_eq!(store.get(&key(0, 1)).await.expect("get"), None);
    store
        .put(&key(0, 2), record(now_ms(), &[1u8; 100]), None)
        .await
        .expect("put");
    assert!(store.get(&key(0, 2)).await.expect("get").is_some());
}

#[tokio::test]
async fn two_stores_share_one_file() {
    let dir = TempDir::new("shared");
    let path = dir.join("cache.sqlite");
    let a = SqliteStore::new(path.clone(), 1 << 24);
    let b = SqliteStore::new(path.clone(), 1 << 24);
    let written = record(now_ms(), b"from a");
    a.put(&key(0, 0), written.clone(), None).await.expect("put");
    assert_eq!(b.get(&key(0, 0)).await.expect("get"), Some(written));

    let writes_a = async {
        for n in 1..100 {
            a.put(&key(1, n), record(now_ms(), &n.to_le_bytes()), None)
                .await
                .expect("put a");
        }
    };
    let writes_b = async {
        for n in 1..100 {
            b.put(&key(2, n), record(now_ms(), &n.to_le_bytes()), None)
                .await
                .expect("put b");
        }
    };
    tokio::join!(writes_a, writes_b);
    for n in 1..100 {
        assert!(a.get(&key(2, n)).await.expect("get").is_some());
        assert!(b.get(&key(1, n)).await.expect("get").is_some());
    }
    b.clear().await.expect("clear");
    assert_eq!(a.get(&key(1, 5)).await.expect("get"), None);
    assert_eq!(totals(&path), (0, 0));
}

/// Waits until `key` can be read from `store`.
async fn wait_for(store: &SqliteStore, key: Key) {
    eventually(Duration::from_secs(20), async || match store.get(&key).await {
        Ok(Some(_)) => Ok(()),
        other => Err(other),
    })
    .await;
}

const CHILD_PATH: &str = "LITER_LLM_SQLITE_TEST_CHILD_PATH";
const PER_PROCESS: u32 = 300;

/// Writes keys of group 1 into the file named by the environment: the other half of
/// `two_processes_write_one_file`, run in a child process. Does nothing when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by two_processes_write_one_file in a child process"]
async fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_PATH) else {
        return;
    };
    let store = SqliteStore::new(PathBuf::from(path), 1 << 30);
    // Both processes may create the file at once: a write refused as busy meanwhile is a skipped
    // write for the cache, so the first one is retried.
    eventually(Duration::from_secs(20), async || {
        store.put(&key(1, 0), record(now_ms(), b"child"), None).await
    })
    .await;
    // Wait for the parent's first write, so the bulk of both runs overlaps.
    wait_for(&store, key(0, 0)).await;
    for n in 1..PER_PROCESS {
        store
            .put(&key(1, n), record(now_ms(), &[1u8; 512]), None)
            .await
            .expect("child put");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_write_one_file() {
    let dir = TempDir::new("processes");
    let path = dir.join("cache.sqlite");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "cache::sqlite::tests::child_writer",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_PATH, &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the child");

    let store = SqliteStore::new(path.clone(), 1 << 30);
    eventually(Duration::from_secs(20), async || {
        store.put(&key(0, 0), record(now_ms(), b"parent"), None).await
    })
    .await;
    wait_for(&store, key(1, 0)).await;
    for n in 1..PER_PROCESS {
        store
            .put(&key(0, n), record(now_ms(), &[0u8; 512]), None)
            .await
            .expect("parent put");
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "child failed: {status}");
    for group in 0..2 {
        for n in 0..PER_PROCESS {
            assert!(
                store.get(&key(group, n)).await.expect("get").is_some(),
                "missing {group}/{n}"
            );
        }
    }
    let (sum, kept) = totals(&path);
    assert_eq!(sum, kept);
}

/// Runs get, put and clear, each expected to fail, with no panic.
async fn assert_all_fail(store: &SqliteStore) {
    assert!(store.get(&key(0, 1)).await.is_err(), "get");
    assert!(
        store.put(&key(0, 1), record(now_ms(), b"v"), None).await.is_err(),
        "put"
    );
    assert!(store.clear().await.is_err(), "clear");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_left_alone() {
    let dir = TempDir::new("garbage");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let small_text = b"my notes, not a cache\n".to_vec();
    for (name, content) in [("garbage.bin", garbage), ("notes.txt", small_text)] {
        let path = dir.join(name);
        std::fs::write(&path, &content).expect("write");
        let store = SqliteStore::new(path.clone(), 1 << 20);
        let err = store.get(&key(0, 1)).await.expect_err("get");
        assert!(err.0.contains(name), "the error names the file: {err}");
        assert_all_fail(&store).await;
        drop(store);
        assert_eq!(std::fs::read(&path).expect("read"), content, "{name} was changed");
    }
    let mut left: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["garbage.bin", "notes.txt"], "no side files were created");
}

#[tokio::test]
async fn another_programs_database_is_left_alone() {
    let dir = TempDir::new("foreign");
    let path = dir.join("app.db");
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada');")
        .expect("create");
    drop(conn);
    let before = std::fs::read(&path).expect("read");
    let store = SqliteStore::new(path.clone(), 1 << 20);
    let err = store
        .put(&key(0, 1), record(now_ms(), b"v"), None)
        .await
        .expect_err("put");
    assert!(err.0.contains("another program"), "{err}");
    drop(store);
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

/// A cache file with 40 rows of 1 KiB, closed (so the WAL is checkpointed into it).
async fn filled_cache(path: &Path) -> u64 {
    let store = SqliteStore::new(path.to_path_buf(), 1 << 20);
    for n in 0..40 {
        store
            .put(&key(0, n), record(now_ms(), &[9u8; 1024]), None)
            .await
            .expect("put");
    }
    drop(store);
    assert!(
        !path.with_extension("sqlite-wal").exists(),
        "closing checkpointed the WAL"
    );
    std::fs::metadata(path).expect("stat").len()
}

#[tokio::test]
async fn a_truncated_database_fails_without_panicking() {
    let dir = TempDir::new("truncated");
    let path = dir.join("cache.sqlite");
    let len = filled_cache(&path).await;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");
    let store = SqliteStore::new(path, 1 << 20);
    assert_all_fail(&store).await;
}

#[tokio::test]
async fn overwritten_pages_fail_without_panicking() {
    let dir = TempDir::new("overwritten");
    let path = dir.join("cache.sqlite");
    let len = filled_cache(&path).await;
    // Keep page 1 (header and schema), scribble over every other page.
    let mut content = std::fs::read(&path).expect("read");
    for (i, byte) in content.iter_mut().enumerate().skip(4096) {
        *byte = (i % 251) as u8;
    }
    std::fs::write(&path, &content).expect("write");
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), len);
    let store = SqliteStore::new(path, 1 << 20);
    assert_all_fail(&store).await;
}

#[tokio::test]
async fn a_path_under_a_file_is_an_error() {
    let dir = TempDir::new("underfile");
    std::fs::write(dir.join("plain"), b"x").expect("write");
    let store = SqliteStore::new(dir.join("plain/cache.sqlite"), 1 << 20);
    assert_all_fail(&store).await;
    let store = SqliteStore::new(PathBuf::new(), 1 << 20);
    assert_all_fail(&store).await;
}

#[tokio::test]
async fn a_directory_without_write_permission_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("denied");
    let locked = dir.join("locked");
    std::fs::create_dir(&locked).expect("mkdir");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).expect("chmod");
    if std::fs::write(locked.join("probe"), b"").is_ok() {
        eprintln!("skipped: this user (root?) ignores directory permissions");
        return;
    }
    let store = SqliteStore::new(locked.join("cache.sqlite"), 1 << 20);
    assert_all_fail(&store).await;
    let store = SqliteStore::new(locked.join("sub/cache.sqlite"), 1 << 20);
    assert_all_fail(&store).await;
}

#[tokio::test]
async fn reopens_once_the_file_is_fixed() {
    let dir = TempDir::new("reopen");
    let path = dir.join("cache.sqlite");
    std::fs::write(&path, [0xA5u8; 4096]).expect("write garbage");
    let store = SqliteStore::new(path.clone(), 1 << 20);
    store.get(&key(0, 1)).await.expect_err("not a database");
    let started = Instant::now();
    let err = store.get(&key(0, 1)).await.expect_err("still failing");
    if started.elapsed() < Duration::from_millis(500) {
        assert!(err.0.contains("next attempt"), "fails fast until the retry: {err}");
    }

    std::fs::remove_file(&path).expect("remove garbage");
    let found = eventually(Duration::from_secs(10), async || store.get(&key(0, 1)).await).await;
    assert_eq!(found, None);
    let written = record(now_ms(), b"v");
    store.put(&key(0, 1), written.clone(), None).await.expect("put");
    assert_eq!(store.get(&key(0, 1)).await.expect("get"), Some(written));
}

#[tokio::test]
async fn a_value_past_the_largest_entry_reads_as_absent() {
    let dir = TempDir::new("oversize");
    let store = SqliteStore::new(dir.join("cache.sqlite"), u64::MAX);
    let huge = record(now_ms(), &vec![7u8; crate::cache::MAX_ENTRY_BYTES + 1]);
    store.put(&key(0, 1), huge, None).await.expect("put");
    assert_eq!(store.get(&key(0, 1)).await.expect("get"), None);
}
