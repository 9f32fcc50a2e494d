//! API tokens: stored as hashes, and dead as soon as their user is not active.

use roster_domain::ports::{TokenRepository as _, UserRepository as _};
use roster_domain::{Actor, ApiToken, AuditAction, AuditEvent, Premises, Role, StoreError, TokenLabel, TokenSecret};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use sea_orm::{ConnectionTrait as _, Statement};

use crate::fixtures::{add, now, tenant};

async fn a_token_authenticates_its_user_until_the_user_is_deactivated(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::Collaborator).await;
    let (token, secret) = ApiToken::issue(acme.tenant.id, user.id, TokenLabel::parse("test").unwrap(), now());
    let system = Actor::system(acme.tenant.id);
    db.store.insert_token(&token, &AuditEvent::token_created(&system, &token, now())).await.unwrap();

    let actor = db.store.authenticate(&secret.hash()).await.unwrap().expect("authenticated");
    assert_eq!(actor, Actor::user(acme.tenant.id, user.id, user.email.clone(), Role::Collaborator));
    assert_eq!(db.store.authenticate(&TokenSecret::generate().hash()).await.unwrap(), None);

    let after = user.deactivated(now());
    let audit = AuditEvent::user_changed(&system, AuditAction::UserDeactivated, &user, &after, now());
    db.store.update(&after, &Premises::of(&system, &user, Some((after.role, after.status))), &audit).await.unwrap();
    assert_eq!(db.store.authenticate(&secret.hash()).await.unwrap(), None);

    let back = after.reactivated(now());
    let audit = AuditEvent::user_changed(&system, AuditAction::UserReactivated, &after, &back, now());
    db.store.update(&back, &Premises::of(&system, &after, Some((back.role, back.status))), &audit).await.unwrap();
    assert_eq!(db.store.authenticate(&secret.hash()).await.unwrap(), None, "deactivation revoked the token for good");
}

async fn no_token_is_stored_for_an_inactive_user(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let system = Actor::system(acme.tenant.id);
    let after = user.deactivated(now());
    let audit = AuditEvent::user_changed(&system, AuditAction::UserDeactivated, &user, &after, now());
    db.store.update(&after, &Premises::of(&system, &user, Some((after.role, after.status))), &audit).await.unwrap();
    let (token, secret) = ApiToken::issue(acme.tenant.id, user.id, TokenLabel::parse("late").unwrap(), now());
    let result = db.store.insert_token(&token, &AuditEvent::token_created(&system, &token, now())).await;
    assert!(matches!(result, Err(StoreError::Stale)), "{result:?}");
    let back = after.reactivated(now());
    let audit = AuditEvent::user_changed(&system, AuditAction::UserReactivated, &after, &back, now());
    db.store.update(&back, &Premises::of(&system, &after, Some((back.role, back.status))), &audit).await.unwrap();
    assert_eq!(db.store.authenticate(&secret.hash()).await.unwrap(), None);
}

async fn the_first_administrators_token_authenticates(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let actor = db.store.authenticate(&acme.token.hash()).await.unwrap().expect("authenticated");
    assert_eq!(actor.role, Role::Administrator);
    assert!(actor.is(acme.admin.id));
}

async fn no_token_secret_is_stored(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let backend = db.backend();
    let rows =
        db.store.connection().query_all_raw(Statement::from_string(backend, "SELECT * FROM api_tokens")).await.unwrap();
    assert_eq!(rows.len(), 1);
    let dump = format!("{rows:?}");
    assert!(!dump.contains(&acme.token.expose()[4..]), "the secret is stored: {dump}");
}

on_both_databases!(
    a_token_authenticates_its_user_until_the_user_is_deactivated,
    the_first_administrators_token_authenticates,
    no_token_secret_is_stored,
    no_token_is_stored_for_an_inactive_user,
);
