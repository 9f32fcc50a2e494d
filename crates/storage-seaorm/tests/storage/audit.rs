//! The audit trail: filters, paging, and anonymisation on purge.

use std::collections::HashSet;

use roster_domain::audit::AuditCursor;
use roster_domain::ports::{AuditLog as _, UserRepository as _};
use roster_domain::{Actor, AuditAction, AuditEvent, AuditQuery, PageLimit, PersonName, Phone, Premises, Role};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{add, now, tenant};

async fn audit_events_filter_by_actor_target_action_and_time_and_page_newest_first(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let start = now();
    let mut created = Vec::new();
    for i in 0..30 {
        created.push(add(&db.store, &acme, &format!("u{i}@example.com"), Role::User).await);
    }
    let admin = Actor::user(acme.tenant.id, acme.admin.id, acme.admin.email.clone(), Role::Administrator);
    let target = &created[3];
    let renamed = target
        .with_profile(
            roster_domain::user::ProfileChanges {
                name: Some(Some(PersonName::parse("Three").unwrap())),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
    let premises = Premises::of(&admin, target, Some((renamed.role, renamed.status)));
    let update = AuditEvent::user_changed(&admin, AuditAction::UserUpdated, target, &renamed, now());
    db.store.update(&renamed, &premises, &update).await.unwrap();

    let by_actor = AuditQuery { actor: Some(acme.admin.id), ..AuditQuery::default() };
    assert_eq!(db.store.list_events(acme.tenant.id, &by_actor).await.unwrap().items, vec![update.clone()]);

    let by_target = AuditQuery { target: Some(target.id.into()), ..AuditQuery::default() };
    let actions: Vec<AuditAction> =
        db.store.list_events(acme.tenant.id, &by_target).await.unwrap().items.iter().map(|e| e.action).collect();
    assert_eq!(actions, [AuditAction::UserUpdated, AuditAction::UserCreated]);

    let since_start = AuditQuery { from: Some(start), action: Some(AuditAction::UserCreated), ..AuditQuery::default() };
    let mut seen = HashSet::new();
    let mut after: Option<AuditCursor> = None;
    let mut previous = None;
    loop {
        let query = AuditQuery { after, limit: PageLimit::new(7).unwrap(), ..since_start.clone() };
        let page = db.store.list_events(acme.tenant.id, &query).await.unwrap();
        for event in &page.items {
            assert!(seen.insert(event.id), "event listed twice");
            if let Some(prev) = previous {
                assert!((event.occurred_at, event.id) < prev, "not newest first");
            }
            previous = Some((event.occurred_at, event.id));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);

    let before_start = AuditQuery { to: Some(start), ..AuditQuery::default() };
    let actions: Vec<AuditAction> =
        db.store.list_events(acme.tenant.id, &before_start).await.unwrap().items.iter().map(|e| e.action).collect();
    assert_eq!(actions.len(), 3, "tenant, admin and token creation: {actions:?}");
}

async fn a_purge_deletes_the_user_and_anonymises_the_audit_trail(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let admin = Actor::user(acme.tenant.id, acme.admin.id, acme.admin.email.clone(), Role::Administrator);
    let user = add(&db.store, &acme, "secret.person@example.com", Role::Collaborator).await;
    let changed = user
        .with_profile(
            roster_domain::user::ProfileChanges {
                name: Some(Some(PersonName::parse("Secret Person").unwrap())),
                phone: Some(Some(Phone::parse("+14155552671").unwrap())),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
    let premises = Premises::of(&admin, &user, Some((changed.role, changed.status)));
    let update = AuditEvent::user_changed(&admin, AuditAction::UserUpdated, &user, &changed, now());
    db.store.update(&changed, &premises, &update).await.unwrap();
    // An event *by* the user, to be anonymised too.
    let as_user = Actor::user(acme.tenant.id, changed.id, changed.email.clone(), Role::Collaborator);
    let other = add(&db.store, &acme, "other@example.com", Role::User).await;
    let renamed = other
        .with_profile(
            roster_domain::user::ProfileChanges {
                name: Some(Some(PersonName::parse("Other").unwrap())),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
    let by_user = AuditEvent::user_changed(&as_user, AuditAction::UserUpdated, &other, &renamed, now());
    db.store
        .update(&renamed, &Premises::of(&as_user, &other, Some((renamed.role, renamed.status))), &by_user)
        .await
        .unwrap();

    let purge = AuditEvent::user_purged(&admin, &changed, now());
    db.store.purge(acme.tenant.id, &Premises::of(&admin, &changed, None), &purge).await.unwrap();

    assert_eq!(db.store.get(acme.tenant.id, user.id).await.unwrap(), None);
    let everything = AuditQuery { limit: PageLimit::new(200).unwrap(), ..AuditQuery::default() };
    let trail = db.store.list_events(acme.tenant.id, &everything).await.unwrap().items;
    let text = format!("{trail:?}");
    for personal in ["secret.person", "Secret Person", "+14155552671"] {
        assert!(!text.contains(personal), "{personal} survived the purge: {text}");
    }
    let about: Vec<&AuditEvent> = trail.iter().filter(|e| e.target.id == uuid::Uuid::from(user.id)).collect();
    assert_eq!(about.len(), 3, "created, updated, purged are kept");
    let updated = about.iter().find(|e| e.action == AuditAction::UserUpdated).unwrap();
    assert_eq!(updated.after, Some(serde_json::json!({})), "only personal fields changed, all removed");
    let created = about.iter().find(|e| e.action == AuditAction::UserCreated).unwrap();
    assert_eq!(created.after.as_ref().unwrap()["role"], "collaborator", "non-personal fields stay");
}

on_both_databases!(
    audit_events_filter_by_actor_target_action_and_time_and_page_newest_first,
    a_purge_deletes_the_user_and_anonymises_the_audit_trail,
);
