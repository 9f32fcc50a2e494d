//! [`SessionRepository`] and [`OidcRepository`] on SeaORM: sessions and magic links by the
//! SHA-256 of their secrets, each user's TOTP state, and each tenant's OpenID Connect trust.
//!
//! Redeeming a magic link deletes it in the transaction that starts the session, so a link
//! works once however many requests race; the user's row is locked there first (PostgreSQL), as
//! a deactivation locks it before deleting the user's sessions, so neither misses the other.
//! A session also never authenticates if it began before its user's sessions were last revoked,
//! so a sign-in racing "end every session" cannot outlive it either.

use async_trait::async_trait;
use roster_domain::governance::Acting;
use roster_domain::identity::{Audience, EntraTenantId, ExternalLink, IssuerUrl, OidcSettings};
use roster_domain::ports::{OidcRepository, SessionRepository};
use roster_domain::session::{MagicLink, Mfa, SESSION_TTL, Session, SessionState, SignInMethod, TotpSecret};
use roster_domain::{
    Actor, AuditEvent, Email, Role, SessionId, StoreError, TenantId, Timestamp, TokenHash, UserId, UserStatus,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, QueryResult, Value};

use crate::Store;
use crate::audit::insert_event;
use crate::transaction::{corrupt, is_unique_violation, raw, unexpected};
use crate::users::{check_actor, lock_tenant};

/// Live magic links kept per user: requesting more drops the oldest.
const LINKS_PER_USER: u64 = 5;
/// Sessions listed per user, newest first.
const SESSIONS_LISTED: u64 = 100;

const SESSION_COLUMNS: &str =
    "s.id, s.tenant_id, s.user_id, s.hash, s.state, s.method, s.mfa, s.created_at, s.expires_at";

fn hash_of(bytes: Vec<u8>, what: &str) -> Result<TokenHash, StoreError> {
    Ok(TokenHash(bytes.try_into().map_err(|_| corrupt(what, "not 32 bytes"))?))
}

fn session_from(row: &QueryResult) -> Result<Session, StoreError> {
    let get_text = |column: &str| row.try_get::<String>("", column).map_err(unexpected);
    Ok(Session {
        id: row.try_get::<uuid::Uuid>("", "id").map_err(unexpected)?.into(),
        tenant: row.try_get::<uuid::Uuid>("", "tenant_id").map_err(unexpected)?.into(),
        user: row.try_get::<uuid::Uuid>("", "user_id").map_err(unexpected)?.into(),
        hash: hash_of(row.try_get("", "hash").map_err(unexpected)?, "session hash")?,
        state: SessionState::parse(&get_text("state")?).ok_or_else(|| corrupt("session state", "unknown"))?,
        method: SignInMethod::parse(&get_text("method")?).ok_or_else(|| corrupt("session method", "unknown"))?,
        mfa: row.try_get("", "mfa").map_err(unexpected)?,
        created_at: row.try_get("", "created_at").map_err(unexpected)?,
        expires_at: row.try_get("", "expires_at").map_err(unexpected)?,
    })
}

/// Stores `session` as part of `txn`.
pub(crate) async fn insert_session(txn: &DatabaseTransaction, session: &Session) -> Result<(), StoreError> {
    let sql = "INSERT INTO sessions (id, tenant_id, user_id, hash, state, method, mfa, created_at, expires_at) \
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let values: Vec<Value> = vec![
        session.id.as_uuid().into(),
        session.tenant.as_uuid().into(),
        session.user.as_uuid().into(),
        session.hash.as_bytes().to_vec().into(),
        session.state.as_str().into(),
        session.method.as_str().into(),
        session.mfa.into(),
        session.created_at.into(),
        session.expires_at.into(),
    ];
    txn.execute_raw(raw(txn.get_database_backend(), sql, values)).await.map_err(unexpected)?;
    Ok(())
}

/// Ends every session of `user` and drops their magic links as part of `txn`, and refuses
/// identity-provider tokens issued before `at`; answers how many sessions ended.
pub(crate) async fn revoke_all(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
    at: Timestamp,
) -> Result<u64, StoreError> {
    let backend = txn.get_database_backend();
    active_locked(txn, tenant, user).await?;
    let ended = txn
        .execute_raw(raw(backend, "DELETE FROM sessions WHERE user_id = ?", [user.as_uuid().into()]))
        .await
        .map_err(unexpected)?
        .rows_affected();
    txn.execute_raw(raw(backend, "DELETE FROM magic_links WHERE user_id = ?", [user.as_uuid().into()]))
        .await
        .map_err(unexpected)?;
    let sql = "INSERT INTO user_security (user_id, tenant_id, sessions_revoked_at) VALUES (?, ?, ?) \
               ON CONFLICT (user_id) DO UPDATE SET sessions_revoked_at = excluded.sessions_revoked_at";
    txn.execute_raw(raw(backend, sql, [user.as_uuid().into(), tenant.as_uuid().into(), at.into()]))
        .await
        .map_err(unexpected)?;
    Ok(ended)
}

/// Whether `user` of `tenant` is active, read with their row locked (PostgreSQL; SQLite's write
/// transaction serialises anyway). Every transaction here that writes a user's sessions, links
/// or security row takes this lock first, so that they queue instead of deadlocking (a row of
/// those tables referencing the user takes a share lock on the user's row).
async fn active_locked(txn: &DatabaseTransaction, tenant: TenantId, user: UserId) -> Result<bool, StoreError> {
    let backend = txn.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT status FROM users WHERE id = ? AND tenant_id = ?{lock}");
    let row = txn
        .query_one_raw(raw(backend, &sql, [user.as_uuid().into(), tenant.as_uuid().into()]))
        .await
        .map_err(unexpected)?;
    let status = row.map(|row| row.try_get::<String>("", "status")).transpose().map_err(unexpected)?;
    Ok(status.as_deref() == Some(UserStatus::Active.as_str()))
}

fn step_value(step: u64) -> Result<Value, StoreError> {
    i64::try_from(step).map(Into::into).map_err(|_| corrupt("totp step", "out of range"))
}

#[async_trait]
impl SessionRepository for Store {
    async fn insert_magic_link(&self, link: &MagicLink) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let backend = self.backend();
        let user = link.user.as_uuid();
        let sql = "INSERT INTO magic_links (hash, tenant_id, user_id, created_at, expires_at, failed_attempts) \
                   VALUES (?, ?, ?, ?, ?, 0)";
        let values: Vec<Value> = vec![
            link.hash.as_bytes().to_vec().into(),
            link.tenant.as_uuid().into(),
            user.into(),
            link.created_at.into(),
            link.expires_at.into(),
        ];
        txn.execute_raw(raw(backend, sql, values)).await.map_err(unexpected)?;
        let sql = format!(
            "DELETE FROM magic_links WHERE user_id = ? AND (expires_at <= ? OR hash NOT IN \
             (SELECT hash FROM magic_links WHERE user_id = ? ORDER BY created_at DESC LIMIT {LINKS_PER_USER}))"
        );
        txn.execute_raw(raw(backend, &sql, [user.into(), link.created_at.into(), user.into()]))
            .await
            .map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)
    }

    async fn find_magic_link(&self, hash: &TokenHash) -> Result<Option<MagicLink>, StoreError> {
        let sql =
            "SELECT hash, tenant_id, user_id, created_at, expires_at, failed_attempts FROM magic_links WHERE hash = ?";
        let row = self
            .db
            .query_one_raw(raw(self.backend(), sql, [hash.as_bytes().to_vec().into()]))
            .await
            .map_err(unexpected)?;
        let Some(row) = row else { return Ok(None) };
        let attempts: i32 = row.try_get("", "failed_attempts").map_err(unexpected)?;
        Ok(Some(MagicLink {
            hash: hash_of(row.try_get("", "hash").map_err(unexpected)?, "magic link hash")?,
            tenant: row.try_get::<uuid::Uuid>("", "tenant_id").map_err(unexpected)?.into(),
            user: row.try_get::<uuid::Uuid>("", "user_id").map_err(unexpected)?.into(),
            created_at: row.try_get("", "created_at").map_err(unexpected)?,
            expires_at: row.try_get("", "expires_at").map_err(unexpected)?,
            failed_attempts: u32::try_from(attempts).unwrap_or_default(),
        }))
    }

    async fn fail_magic_link(&self, hash: &TokenHash, limit: u32) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let backend = self.backend();
        let key: Value = hash.as_bytes().to_vec().into();
        let sql = "UPDATE magic_links SET failed_attempts = failed_attempts + 1 WHERE hash = ?";
        txn.execute_raw(raw(backend, sql, [key.clone()])).await.map_err(unexpected)?;
        let sql = "DELETE FROM magic_links WHERE hash = ? AND failed_attempts >= ?";
        txn.execute_raw(raw(backend, sql, [key, i64::from(limit).into()])).await.map_err(unexpected)?;
        txn.commit().await.map_err(unexpected)
    }

    async fn redeem_magic_link(
        &self,
        hash: &TokenHash,
        session: &Session,
        step: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let backend = self.backend();
        let user: Value = session.user.as_uuid().into();
        // The user's row first, as a deactivation takes it before their links: one lock order.
        if !active_locked(&txn, session.tenant, session.user).await? {
            return Err(StoreError::Stale);
        }
        let sql = "DELETE FROM magic_links WHERE hash = ? AND user_id = ?";
        let used = txn
            .execute_raw(raw(backend, sql, [hash.as_bytes().to_vec().into(), user.clone()]))
            .await
            .map_err(unexpected)?;
        if used.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(step) = step {
            let sql = "INSERT INTO user_security (user_id, tenant_id, last_totp_step) VALUES (?, ?, ?) \
                       ON CONFLICT (user_id) DO UPDATE SET last_totp_step = excluded.last_totp_step \
                       WHERE user_security.last_totp_step IS NULL OR user_security.last_totp_step < excluded.last_totp_step";
            let values = [user.clone(), session.tenant.as_uuid().into(), step_value(step)?];
            let accepted = txn.execute_raw(raw(backend, sql, values)).await.map_err(unexpected)?;
            if accepted.rows_affected() == 0 {
                return Err(StoreError::Stale);
            }
        }
        let sql = "DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?";
        txn.execute_raw(raw(backend, sql, [user, session.created_at.into()])).await.map_err(unexpected)?;
        insert_session(&txn, session).await?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn authenticate_session(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<(Actor, Session)>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, u.email, u.role FROM sessions s \
             JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id \
             LEFT JOIN user_security us ON us.user_id = s.user_id \
             WHERE s.hash = ? AND s.expires_at > ? AND u.status = ? \
             AND (us.sessions_revoked_at IS NULL OR us.sessions_revoked_at <= s.created_at)"
        );
        let values: [Value; 3] = [hash.as_bytes().to_vec().into(), now.into(), UserStatus::Active.as_str().into()];
        let row = self.db.query_one_raw(raw(self.backend(), &sql, values)).await.map_err(unexpected)?;
        let Some(row) = row else { return Ok(None) };
        let session = session_from(&row)?;
        let email: String = row.try_get("", "email").map_err(unexpected)?;
        let role: String = row.try_get("", "role").map_err(unexpected)?;
        let email = Email::parse(&email).map_err(|e| corrupt("user email", e))?;
        let role: Role = role.parse().map_err(|e| corrupt("user role", e))?;
        Ok(Some((Actor::user(session.tenant, session.user, email, role), session)))
    }

    async fn sessions_of(&self, tenant: TenantId, user: UserId, now: Timestamp) -> Result<Vec<Session>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.tenant_id = ? AND s.user_id = ? AND s.expires_at > ? \
             ORDER BY s.created_at DESC, s.id DESC LIMIT {SESSIONS_LISTED}"
        );
        let values: [Value; 3] = [tenant.as_uuid().into(), user.as_uuid().into(), now.into()];
        let rows = self.db.query_all_raw(raw(self.backend(), &sql, values)).await.map_err(unexpected)?;
        rows.iter().map(session_from).collect()
    }

    async fn end_session(
        &self,
        tenant: TenantId,
        user: UserId,
        id: SessionId,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let sql = "DELETE FROM sessions WHERE tenant_id = ? AND user_id = ? AND id = ?";
        let values: [Value; 3] = [tenant.as_uuid().into(), user.as_uuid().into(), id.as_uuid().into()];
        let ended = txn.execute_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        if ended.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn revoke_sessions(
        &self,
        tenant: TenantId,
        user: UserId,
        now: Timestamp,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        if acting.is_some() {
            lock_tenant(&txn, tenant).await?;
            check_actor(&txn, tenant, acting).await?;
        }
        let ended = revoke_all(&txn, tenant, user, now).await?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(ended)
    }

    async fn sessions_revoked_at(&self, tenant: TenantId, user: UserId) -> Result<Option<Timestamp>, StoreError> {
        let sql = "SELECT sessions_revoked_at FROM user_security WHERE tenant_id = ? AND user_id = ?";
        let values: [Value; 2] = [tenant.as_uuid().into(), user.as_uuid().into()];
        let row = self.db.query_one_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        Ok(row
            .map(|row| row.try_get::<Option<Timestamp>>("", "sessions_revoked_at"))
            .transpose()
            .map_err(unexpected)?
            .flatten())
    }

    async fn mfa_of(&self, tenant: TenantId, user: UserId) -> Result<Mfa, StoreError> {
        let sql = "SELECT totp_secret, totp_confirmed_at, mfa_required, last_totp_step FROM user_security \
                   WHERE tenant_id = ? AND user_id = ?";
        let values: [Value; 2] = [tenant.as_uuid().into(), user.as_uuid().into()];
        let row = self.db.query_one_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        let Some(row) = row else { return Ok(Mfa::default()) };
        let secret: Option<Vec<u8>> = row.try_get("", "totp_secret").map_err(unexpected)?;
        let last_step: Option<i64> = row.try_get("", "last_totp_step").map_err(unexpected)?;
        Ok(Mfa {
            secret: secret.map(TotpSecret::from_bytes),
            confirmed_at: row.try_get("", "totp_confirmed_at").map_err(unexpected)?,
            required: row.try_get("", "mfa_required").map_err(unexpected)?,
            last_step: last_step.and_then(|step| u64::try_from(step).ok()),
        })
    }

    async fn begin_enrollment(&self, tenant: TenantId, user: UserId, secret: &TotpSecret) -> Result<(), StoreError> {
        let sql = "INSERT INTO user_security (user_id, tenant_id, totp_secret) VALUES (?, ?, ?) \
                   ON CONFLICT (user_id) DO UPDATE SET totp_secret = excluded.totp_secret \
                   WHERE user_security.totp_confirmed_at IS NULL";
        let values: [Value; 3] = [user.as_uuid().into(), tenant.as_uuid().into(), secret.as_bytes().to_vec().into()];
        let stored = self.db.execute_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        if stored.rows_affected() == 0 { Err(StoreError::Stale) } else { Ok(()) }
    }

    async fn confirm_enrollment(
        &self,
        tenant: TenantId,
        user: UserId,
        secret: &TotpSecret,
        step: u64,
        session: Option<SessionId>,
        now: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let backend = self.backend();
        active_locked(&txn, tenant, user).await?;
        let sql = "UPDATE user_security SET totp_confirmed_at = ?, mfa_required = ?, last_totp_step = ? \
                   WHERE tenant_id = ? AND user_id = ? AND totp_confirmed_at IS NULL AND totp_secret = ?";
        let values: Vec<Value> = vec![
            now.into(),
            true.into(),
            step_value(step)?,
            tenant.as_uuid().into(),
            user.as_uuid().into(),
            secret.as_bytes().to_vec().into(),
        ];
        let confirmed = txn.execute_raw(raw(backend, sql, values)).await.map_err(unexpected)?;
        if confirmed.rows_affected() == 0 {
            return Err(StoreError::Stale);
        }
        if let Some(session) = session {
            let sql =
                "UPDATE sessions SET state = ?, mfa = ?, expires_at = ? WHERE id = ? AND user_id = ? AND state = ?";
            let values: Vec<Value> = vec![
                SessionState::Active.as_str().into(),
                true.into(),
                (now + SESSION_TTL).into(),
                session.as_uuid().into(),
                user.as_uuid().into(),
                SessionState::Enrolling.as_str().into(),
            ];
            txn.execute_raw(raw(backend, sql, values)).await.map_err(unexpected)?;
        }
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn reset_mfa(
        &self,
        tenant: TenantId,
        user: UserId,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        if acting.is_some() {
            lock_tenant(&txn, tenant).await?;
            check_actor(&txn, tenant, acting).await?;
        }
        active_locked(&txn, tenant, user).await?;
        let sql = "INSERT INTO user_security (user_id, tenant_id, mfa_required) VALUES (?, ?, ?) \
                   ON CONFLICT (user_id) DO UPDATE SET totp_secret = NULL, totp_confirmed_at = NULL, mfa_required = ?, \
                   last_totp_step = NULL";
        let values: [Value; 4] = [user.as_uuid().into(), tenant.as_uuid().into(), true.into(), true.into()];
        txn.execute_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }
}

fn settings_from(row: &QueryResult) -> Result<OidcSettings, StoreError> {
    let issuer: String = row.try_get("", "issuer").map_err(unexpected)?;
    let audience: String = row.try_get("", "audience").map_err(unexpected)?;
    let entra: Option<String> = row.try_get("", "entra_tenant_id").map_err(unexpected)?;
    Ok(OidcSettings {
        issuer: IssuerUrl::parse(&issuer).map_err(|e| corrupt("oidc issuer", e))?,
        audience: Audience::parse(&audience).map_err(|e| corrupt("oidc audience", e))?,
        entra_tenant: entra.map(|id| EntraTenantId::parse(&id)).transpose().map_err(|e| corrupt("entra tenant", e))?,
        just_in_time: row.try_get("", "just_in_time").map_err(unexpected)?,
    })
}

const OIDC_COLUMNS: &str = "tenant_id, issuer, audience, entra_tenant_id, just_in_time";

#[async_trait]
impl OidcRepository for Store {
    async fn oidc_settings(&self, tenant: TenantId) -> Result<Option<OidcSettings>, StoreError> {
        let sql = format!("SELECT {OIDC_COLUMNS} FROM tenant_oidc WHERE tenant_id = ?");
        let row =
            self.db.query_one_raw(raw(self.backend(), &sql, [tenant.as_uuid().into()])).await.map_err(unexpected)?;
        row.as_ref().map(settings_from).transpose()
    }

    async fn set_oidc_settings(
        &self,
        tenant: TenantId,
        settings: Option<OidcSettings>,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let backend = self.backend();
        lock_tenant(&txn, tenant).await?;
        check_actor(&txn, tenant, acting).await?;
        let id: Value = tenant.as_uuid().into();
        match &settings {
            Some(settings) => {
                let sql = "DELETE FROM external_identities WHERE tenant_id = ? AND issuer <> ?";
                txn.execute_raw(raw(backend, sql, [id.clone(), settings.issuer.as_str().into()]))
                    .await
                    .map_err(unexpected)?;
                let sql = format!(
                    "INSERT INTO tenant_oidc ({OIDC_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id) DO UPDATE \
                     SET issuer = excluded.issuer, audience = excluded.audience, \
                     entra_tenant_id = excluded.entra_tenant_id, just_in_time = excluded.just_in_time"
                );
                let values: Vec<Value> = vec![
                    id,
                    settings.issuer.as_str().into(),
                    settings.audience.as_str().into(),
                    settings.entra_tenant.as_ref().map(|t| t.as_str().to_owned()).into(),
                    settings.just_in_time.into(),
                ];
                txn.execute_raw(raw(backend, &sql, values)).await.map_err(|error| {
                    if is_unique_violation(&error) { StoreError::IssuerTaken } else { unexpected(error) }
                })?;
            }
            None => {
                for sql in [
                    "DELETE FROM external_identities WHERE tenant_id = ?",
                    "DELETE FROM tenant_oidc WHERE tenant_id = ?",
                ] {
                    txn.execute_raw(raw(backend, sql, [id.clone()])).await.map_err(unexpected)?;
                }
            }
        }
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn tenants_trusting(&self, issuer: &str) -> Result<Vec<(TenantId, OidcSettings)>, StoreError> {
        let sql = format!("SELECT {OIDC_COLUMNS} FROM tenant_oidc WHERE issuer = ? ORDER BY tenant_id");
        let rows = self.db.query_all_raw(raw(self.backend(), &sql, [issuer.into()])).await.map_err(unexpected)?;
        rows.iter()
            .map(|row| {
                let tenant: uuid::Uuid = row.try_get("", "tenant_id").map_err(unexpected)?;
                Ok((tenant.into(), settings_from(row)?))
            })
            .collect()
    }

    async fn linked_user(&self, tenant: TenantId, issuer: &str, subject: &str) -> Result<Option<UserId>, StoreError> {
        let sql = "SELECT user_id FROM external_identities WHERE tenant_id = ? AND issuer = ? AND subject = ?";
        let values: [Value; 3] = [tenant.as_uuid().into(), issuer.into(), subject.into()];
        let row = self.db.query_one_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        Ok(row.map(|row| row.try_get::<uuid::Uuid>("", "user_id")).transpose().map_err(unexpected)?.map(Into::into))
    }

    async fn link(&self, link: &ExternalLink, audit: &AuditEvent) -> Result<(), StoreError> {
        let sql = "INSERT INTO external_identities (tenant_id, issuer, subject, user_id, created_at) \
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, issuer, subject) DO NOTHING";
        let values: Vec<Value> = vec![
            link.tenant.as_uuid().into(),
            link.issuer.as_str().into(),
            link.subject.as_str().into(),
            link.user.as_uuid().into(),
            link.linked_at.into(),
        ];
        let txn = self.begin_write().await.map_err(unexpected)?;
        let inserted = txn.execute_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        if inserted.rows_affected() == 1 {
            insert_event(&txn, audit).await?;
        }
        txn.commit().await.map_err(unexpected)
    }
}
