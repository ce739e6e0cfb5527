//! A fresh Postgres database per test, on the server `DATABASE_URL` names (scripts/test sets it).

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Executor, PgConnection};

/// The admin URL where test databases are created.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database made for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates an empty database; fails loudly when Postgres is unreachable.
    pub async fn new() -> TestDb {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "gp_sys_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach Postgres at {admin} ({e}); run the tests through scripts/test, \
                 which finds, starts or installs a server and sets DATABASE_URL"
            )
        });
        conn.execute(format!(r#"create database "{name}""#).as_str())
            .await
            .expect("create test database");
        let url = with_database(&admin, &name);
        TestDb { name, url }
    }

    /// Drops the database (connections are closed by force).
    pub async fn drop_db(self) {
        if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
            let _ = conn
                .execute(
                    format!(r#"drop database if exists "{}" with (force)"#, self.name).as_str(),
                )
                .await;
        }
    }
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..authority_end], name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Waits until the server's filer has filed every device change of the feed (it files after
/// each push commits): reads of `check_ins` or `conflicts` made next see every push. Fails after
/// 30 s.
pub async fn filer_settled(pool: &sqlx::PgPool) {
    let start = std::time::Instant::now();
    loop {
        let pending: bool = sqlx::query_scalar(
            "select exists (select 1 from feed f
               left join filer_positions p on p.event_id = f.event_id
               where f.item is null
                 and (f.tx, f.pos + f.seq_end - f.seq)
                     > (coalesce(p.tx, '0'::xid8), coalesce(p.pos, 0)))",
        )
        .fetch_one(pool)
        .await
        .expect("read the filer's position");
        if !pending {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the server's filer did not file the pushed changes within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
