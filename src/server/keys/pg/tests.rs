//! The PostgreSQL key store against a throw-away cluster (see `server.rs`).

use std::collections::BTreeMap;

use super::server::PgServer;
use super::*;

fn key(token: &str) -> StoredKey {
    StoredKey {
        token: token.to_owned(),
        key_name: "sk-...abcd".to_owned(),
        settings: "{}".to_owned(),
        created_at: 1.5,
        spend: 0.0,
        budget_reset_at: None,
        model_spend: BTreeMap::new(),
    }
}

fn spend(token: &str, model: &str, amount: f64) -> Write {
    spend_in(token, model, amount, None)
}

fn spend_in(token: &str, model: &str, amount: f64, period: Option<f64>) -> Write {
    Write::Spend {
        token: token.to_owned(),
        model: model.to_owned(),
        amount,
        period,
    }
}

#[test]
fn keys_and_spend_survive_a_reopen_and_a_server_crash() {
    let mut server = PgServer::start();
    let (db, keys) = PgKeyDb::open(&server.url()).unwrap();
    assert!(keys.is_empty());
    block(db.write(Write::Put(key("t1")))).unwrap();
    db.defer(spend("t1", "gpt", 0.25));
    db.defer(spend("t1", "gpt", 0.5));
    db.defer(spend("t1", "other", 1.0));
    db.defer(spend("gone", "gpt", 9.0));
    db.close();
    drop(db);

    // A crash of the database server between two runs loses nothing committed.
    server.stop();
    server.restart();
    let (db, keys) = PgKeyDb::open(&server.url()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].token.as_str(), keys[0].spend), ("t1", 1.75));
    assert_eq!(
        keys[0].model_spend,
        BTreeMap::from([("gpt".into(), 0.75), ("other".into(), 1.0)])
    );
    block(db.write(Write::Delete("t1".into()))).unwrap();
    db.close();
    let (_db, keys) = PgKeyDb::open(&server.url()).unwrap();
    assert!(keys.is_empty());
}

#[test]
fn a_batch_sent_again_under_its_id_is_counted_once() {
    let server = PgServer::start();
    let (db, _) = PgKeyDb::open(&server.url()).unwrap();
    block(db.write(Write::Put(key("t")))).unwrap();
    let batch = [spend("t", "m", 2.0)];
    block(async {
        let mut guard = db.inner.client.lock().await;
        let client = db.inner.connected(&mut guard).await.unwrap();
        // The first commit went through but its answer was lost: the retry carries the same id.
        commit(client, "replica-a", 7, &batch).await.unwrap();
        commit(client, "replica-a", 7, &batch).await.unwrap();
        // Another replica's flush with the same number is its own.
        commit(client, "replica-b", 7, &batch).await.unwrap();
    });
    db.close();
    let (_db, keys) = PgKeyDb::open(&server.url()).unwrap();
    assert_eq!(keys[0].spend, 4.0);
}

#[test]
fn replicas_starting_at_once_migrate_one_after_the_other() {
    let server = PgServer::start();
    let url = server.url();
    let opened: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgKeyDb::open(&url).map(|(db, keys)| (db, keys.len())))
        })
        .collect();
    for handle in opened {
        let (db, keys) = handle.join().unwrap().expect("every replica opens the store");
        assert_eq!(keys, 0);
        db.close();
    }
    let versions = block(async {
        let (db, _) = PgKeyDb::open(&url).unwrap();
        let mut guard = db.inner.client.lock().await;
        let client = db.inner.connected(&mut guard).await.unwrap();
        let rows = client.query("SELECT version FROM liter_llm_schema", &[]).await.unwrap();
        rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>()
    });
    assert_eq!(versions, [1], "each migration applied once");
}

#[test]
fn a_database_migrated_by_a_newer_build_is_refused_and_no_password_shows() {
    let server = PgServer::start();
    // Trust authentication ignores the password: the store opens, and never shows it.
    let with_password = server.url().replace("liter@", "liter:pw-s3cret@");
    let (db, _) = PgKeyDb::open(&with_password).unwrap();
    assert!(!format!("{db:?}").contains("pw-s3cret"));
    assert!(db.shown().contains("***@127.0.0.1"), "{}", db.shown());
    block(async {
        let mut guard = db.inner.client.lock().await;
        let client = db.inner.connected(&mut guard).await.unwrap();
        client
            .execute("INSERT INTO liter_llm_schema (version) VALUES (99)", &[])
            .await
            .unwrap();
    });
    db.close();
    let err = PgKeyDb::open(&server.url()).unwrap_err();
    assert!(err.contains("version 99, newer"), "{err}");
    let url = server.url().replace("liter@", "liter:pw-s3cret@");
    let refused = PgKeyDb::open(&url.replace("/postgres", "/no_such_db")).unwrap_err();
    assert!(!refused.contains("pw-s3cret"), "{refused}");
}

#[test]
fn replicas_spend_and_resets_in_any_order_count_in_their_budget_period() {
    let server = PgServer::start();
    let (db, _) = PgKeyDb::open(&server.url()).unwrap();
    let mut stored = key("t");
    stored.budget_reset_at = Some(100.0);
    block(db.write(Write::Put(stored))).unwrap();
    let reset = |next: f64| Write::Reset {
        token: "t".into(),
        next: Some(next),
    };
    // Spend of the period ending at 200 arrives before the replica that rolled it writes the reset.
    block(db.write(spend_in("t", "m", 1.0, Some(200.0)))).unwrap();
    block(db.write(reset(200.0))).unwrap();
    // A late write of the finished period does not count in the new one; a second reset of the
    // same period (another replica rolled it too) does not wipe it.
    block(db.write(spend_in("t", "m", 5.0, Some(100.0)))).unwrap();
    block(db.write(reset(200.0))).unwrap();
    block(db.write(spend_in("t", "m", 2.0, Some(200.0)))).unwrap();
    block(db.write(spend("t", "m", 0.5))).unwrap();
    db.close();
    let (db, keys) = PgKeyDb::open(&server.url()).unwrap();
    assert_eq!((keys[0].spend, keys[0].budget_reset_at), (3.5, Some(200.0)));
    assert_eq!(
        keys[0].model_spend["m"], 8.5,
        "every cent in the model's all-time spend"
    );
    block(db.write(reset(300.0))).unwrap();
    db.close();
    let (_db, keys) = PgKeyDb::open(&server.url()).unwrap();
    assert_eq!((keys[0].spend, keys[0].budget_reset_at), (0.0, Some(300.0)));
}
