//! Staff accounts, sessions, failed logins and the audit log on Postgres.

use sqlx::Row;
use sync_protocol::UnixMillis;
use uuid::Uuid;

use super::{PgStore, ms_to_secs};
use crate::store::{
    Actor, Attempt, AuditEntry, AuditRecord, Role, SessionUser, StaffStore, StoreError, UserRecord,
};

fn role_of(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError::Corrupt(format!("role {text:?}")))
}

/// Writes an audit entry through `db`: the pool for an action that changes nothing, or the
/// transaction of the change it records.
pub(crate) async fn write_audit<'e>(
    db: impl sqlx::PgExecutor<'e>,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let (kind, actor) = match &entry.actor {
        Actor::User { username } => ("user", username.clone()),
        Actor::Cli { os_user } => ("cli", os_user.clone()),
        Actor::Device { device_id } => ("device", device_id.to_string()),
    };
    sqlx::query(
        "insert into audit_log (actor_kind, actor, action, target, details, source)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(kind)
    .bind(actor)
    .bind(entry.action)
    .bind(&entry.target)
    .bind(&entry.details)
    .bind(&entry.source)
    .execute(db)
    .await?;
    Ok(())
}

impl StaffStore for PgStore {
    async fn create_user(&self, user: &UserRecord, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "insert into users (id, username, password_hash, role) values ($1, $2, $3, $4)
             on conflict (username) do nothing",
        )
        .bind(user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "a user named {:?} exists already",
                user.username
            )));
        }
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let id: Option<Uuid> = sqlx::query_scalar(
            "update users set password_hash = $2 where username = $1 returning id",
        )
        .bind(username)
        .bind(password_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or(StoreError::NotFound("user"))?;
        // A new password ends every session of the account.
        sqlx::query(
            "update sessions set revoked_at = now() where user_id = $1 and revoked_at is null",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(
            "select id, username, password_hash, role, disabled_at is not null as disabled
             from users where username = $1",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(UserRecord {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                password_hash: row.try_get("password_hash")?,
                role: role_of(row.try_get("role")?)?,
                disabled: row.try_get("disabled")?,
            })
        })
        .transpose()
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("select count(*) from users")
            .fetch_one(self.pool())
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: Uuid,
        expires_at: UnixMillis,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into sessions (token_hash, user_id, expires_at) values ($1, $2, to_timestamp($3))",
        )
        .bind(&token_hash[..])
        .bind(user_id)
        .bind(ms_to_secs(expires_at))
        .execute(&mut *tx)
        .await?;
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_user(
        &self,
        token_hash: [u8; 32],
        now: UnixMillis,
    ) -> Result<Option<SessionUser>, StoreError> {
        let row = sqlx::query(
            "select u.id, u.username, u.role, s.expires_at <= to_timestamp($2) as expired
             from sessions s join users u on u.id = s.user_id
             where s.token_hash = $1 and s.revoked_at is null and u.disabled_at is null",
        )
        .bind(&token_hash[..])
        .bind(ms_to_secs(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(SessionUser {
                user_id: row.try_get("id")?,
                username: row.try_get("username")?,
                role: role_of(row.try_get("role")?)?,
                expired: row.try_get("expired")?,
            })
        })
        .transpose()
    }

    async fn revoke_session(
        &self,
        token_hash: [u8; 32],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("update sessions set revoked_at = now() where token_hash = $1")
            .bind(&token_hash[..])
            .execute(&mut *tx)
            .await?;
        write_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn begin_attempt(
        &self,
        username: &str,
        source: &str,
        since: UnixMillis,
    ) -> Result<Attempt, StoreError> {
        // Attempts from one client take their turn (a transaction-level lock on its address), so
        // each counts every attempt before it: the k-th of a burst counts k, exactly.
        let mut tx = self.begin().await?;
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 7))")
            .bind(source)
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "insert into login_failures (username, source) values ($1, $2) returning id",
        )
        .bind(username)
        .bind(source)
        .fetch_one(&mut *tx)
        .await?;
        let (pair, from_source): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where username = $1), count(*) from login_failures
             where at > to_timestamp($3) and source = $2",
        )
        .bind(username)
        .bind(source)
        .bind(ms_to_secs(since))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Attempt {
            id,
            pair: pair.max(0) as u64,
            from_source: from_source.max(0) as u64,
        })
    }

    async fn forgive_attempt(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("delete from login_failures where id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        write_audit(self.pool(), entry).await
    }

    async fn list_audit(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "select id, (extract(epoch from at) * 1000)::bigint as at_ms, actor_kind, actor, action,
                    target, details, source
             from audit_log order by id desc limit $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                let at: i64 = row.try_get("at_ms")?;
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: UnixMillis(at.max(0) as u64),
                    actor_kind: row.try_get("actor_kind")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    details: row.try_get("details")?,
                    source: row.try_get("source")?,
                })
            })
            .collect()
    }
}
