//! The invitation rules, one behaviour per test, with the ports mocked.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};

use super::*;
use crate::invitation::{InvitationTtl, TenantSettings};
use crate::mail::EmailError;
use crate::ports::{MockClock, MockEmailSender, MockInvitationRepository, MockTenantRepository, MockUserRepository};
use crate::{Email, Role, Timestamp, UserSource, Violation};

fn tenant() -> Tenant {
    Tenant {
        id: TenantId::from(uuid::Uuid::from_u128(7)),
        name: "acme".parse().unwrap(),
        created_at: Utc::now(),
        settings: TenantSettings::default(),
    }
}

fn user(email: &str, role: Role) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(tenant().id, new, UserSource::Created, Utc::now())
}

fn invited(email: &str) -> User {
    let new =
        NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role: Role::User, referral_code: None };
    User::invite(tenant().id, new, None, Utc::now())
}

fn actor_of(user: &User) -> Actor {
    Actor::user(user.tenant, user.id, user.email.clone(), user.role)
}

fn new_invitation(email: &str, role: Role, license: Option<LicenseKindId>) -> NewInvitation {
    let user = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    NewInvitation { user, license }
}

/// The ports of a service; each test sets the expectations it needs.
struct Ports {
    users: MockUserRepository,
    invitations: MockInvitationRepository,
    email: MockEmailSender,
    now: Timestamp,
}

impl Ports {
    fn new() -> Self {
        Self {
            users: MockUserRepository::new(),
            invitations: MockInvitationRepository::new(),
            email: MockEmailSender::new(),
            now: Utc::now(),
        }
    }

    fn knowing(mut self, known: &[&User]) -> Self {
        let known: Vec<User> = known.iter().map(|u| (*u).clone()).collect();
        self.users.expect_get().returning(move |_, id| Ok(known.iter().find(|u| u.id == id).cloned()));
        self
    }

    fn service(self) -> InvitationService {
        let mut tenants = MockTenantRepository::new();
        tenants.expect_get_tenant().returning(|_| Ok(Some(tenant())));
        let mut clock = MockClock::new();
        let now = self.now;
        clock.expect_now().returning(move || now);
        InvitationService::new(
            Arc::new(self.users),
            Arc::new(self.invitations),
            Arc::new(tenants),
            Arc::new(self.email),
            Arc::new(clock),
            AcceptLinks::new("https://roster.example.com/"),
        )
    }
}

#[tokio::test]
async fn a_failed_mailing_keeps_the_invitation_with_failed_delivery() {
    let admin = user("a@example.com", Role::Administrator);
    let mut ports = Ports::new();
    ports.invitations.expect_invite().times(1).returning(|_, _, _, _| Ok(()));
    ports.email.expect_send().times(1).returning(|_| Err(EmailError::Unavailable("connection refused".into())));
    ports
        .invitations
        .expect_record_delivery()
        .withf(|_, _, delivery| {
            delivery.status == DeliveryStatus::Failed
                && delivery.error.as_deref().unwrap().contains("connection refused")
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let issued = ports.service().invite(&actor_of(&admin), new_invitation("new@example.com", Role::User, None)).await;
    let issued = issued.unwrap();
    assert_eq!(issued.invitation.delivery.status, DeliveryStatus::Failed);
    assert_eq!(issued.user.status, UserStatus::Invited);
}

#[tokio::test]
async fn an_invitation_is_stored_before_it_is_mailed_with_the_link_the_tenant_and_the_lifetime() {
    let admin = user("a@example.com", Role::Administrator);
    let mut ports = Ports::new();
    let now = ports.now;
    let mut sequence = mockall::Sequence::new();
    ports
        .invitations
        .expect_invite()
        .withf(move |user, invitation, _, audit| {
            user.status == UserStatus::Invited
                && user.source == UserSource::Invited
                && invitation.expires_at == now + InvitationTtl::DEFAULT.as_delta()
                && audit.action == AuditAction::UserInvited
        })
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_, _, _, _| Ok(()));
    ports
        .email
        .expect_send()
        .withf(|email| {
            email.subject.contains("acme")
                && email.text.contains("https://roster.example.com/invitations/accept?token=inv_")
                && email.to.as_str() == "new@example.com"
        })
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_| Ok(()));
    ports.invitations.expect_record_delivery().times(1).returning(|_, _, _| Ok(()));
    let issued = ports.service().invite(&actor_of(&admin), new_invitation("new@example.com", Role::User, None)).await;
    let issued = issued.unwrap();
    assert_eq!(issued.invitation.delivery.status, DeliveryStatus::Sent);
    let secret = issued.link.rsplit("token=").next().unwrap();
    assert_eq!(
        InvitationSecret::parse(secret).unwrap().hash(),
        issued.invitation.hash,
        "the mailed link is the stored one"
    );
}

#[tokio::test]
async fn a_collaborator_cannot_invite_an_administrator_nor_reserve_a_seat() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let mut ports = Ports::new();
    ports.invitations.expect_invite().never();
    ports.email.expect_send().never();
    let service = ports.service();
    let admin =
        service.invite(&actor_of(&collaborator), new_invitation("x@example.com", Role::Administrator, None)).await;
    assert!(matches!(admin, Err(InviteError::Forbidden(Violation::AdministratorRoleReserved))), "{admin:?}");
    let seat = new_invitation("y@example.com", Role::User, Some(LicenseKindId::new()));
    let seat = service.invite(&actor_of(&collaborator), seat).await;
    assert!(matches!(seat, Err(InviteError::Forbidden(Violation::MissingCapability(_)))), "{seat:?}");
}

#[tokio::test]
async fn reinviting_an_active_user_is_refused() {
    let admin = user("a@example.com", Role::Administrator);
    let active = user("u@example.com", Role::User);
    let mut ports = Ports::new().knowing(&[&admin, &active]);
    ports.invitations.expect_reissue().never();
    ports.email.expect_send().never();
    let result = ports.service().reinvite(&actor_of(&admin), active.id).await;
    assert!(matches!(result, Err(ReissueInvitationError::NotInvited(UserStatus::Active))), "{result:?}");
}

#[tokio::test]
async fn reinviting_replaces_the_link_and_mails_the_new_one() {
    let admin = user("a@example.com", Role::Administrator);
    let invitee = invited("i@example.com");
    let mut ports = Ports::new().knowing(&[&admin, &invitee]);
    let version = invitee.version;
    ports
        .invitations
        .expect_reissue()
        .withf(move |_, premises, audit| premises.version == version && audit.action == AuditAction::InvitationReissued)
        .times(1)
        .returning(|_, _, _| Ok(()));
    ports.email.expect_send().times(1).returning(|_| Ok(()));
    ports.invitations.expect_record_delivery().times(1).returning(|_, _, _| Ok(()));
    let issued = ports.service().reinvite(&actor_of(&admin), invitee.id).await.unwrap();
    assert_eq!(issued.invitation.delivery.status, DeliveryStatus::Sent);
}

#[tokio::test]
async fn copying_a_link_replaces_it_without_mailing() {
    let admin = user("a@example.com", Role::Administrator);
    let invitee = invited("i@example.com");
    let mut ports = Ports::new().knowing(&[&admin, &invitee]);
    ports.invitations.expect_reissue().times(1).returning(|_, _, _| Ok(()));
    ports.email.expect_send().never();
    let issued = ports.service().copy_link(&actor_of(&admin), invitee.id).await.unwrap();
    assert_eq!(issued.invitation.delivery.status, DeliveryStatus::NotSent);
    assert!(issued.link.starts_with("https://roster.example.com/invitations/accept?token=inv_"));
}

#[tokio::test]
async fn a_collaborator_cannot_reinvite_or_revoke_an_invited_administrator() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let mut invitee = invited("boss@example.com");
    invitee.role = Role::Administrator;
    let mut ports = Ports::new().knowing(&[&collaborator, &invitee]);
    ports.invitations.expect_reissue().never();
    ports.users.expect_purge().never();
    let service = ports.service();
    let reinvite = service.reinvite(&actor_of(&collaborator), invitee.id).await;
    assert!(matches!(reinvite, Err(ReissueInvitationError::Forbidden(Violation::AdministratorTarget))));
    let revoke = service.revoke(&actor_of(&collaborator), invitee.id).await;
    assert!(matches!(revoke, Err(RevokeInvitationError::Forbidden(Violation::AdministratorTarget))));
}

#[tokio::test]
async fn revoking_removes_the_never_activated_user_and_refuses_anyone_else() {
    let admin = user("a@example.com", Role::Administrator);
    let invitee = invited("i@example.com");
    let active = user("u@example.com", Role::User);
    let mut ports = Ports::new().knowing(&[&admin, &invitee, &active]);
    let target = invitee.id;
    ports
        .users
        .expect_purge()
        .withf(move |_, premises, audit| premises.target == target && audit.action == AuditAction::InvitationRevoked)
        .times(1)
        .returning(|_, _, _| Ok(()));
    let service = ports.service();
    service.revoke(&actor_of(&admin), invitee.id).await.unwrap();
    let refused = service.revoke(&actor_of(&admin), active.id).await;
    assert!(matches!(refused, Err(RevokeInvitationError::NotInvited(UserStatus::Active))), "{refused:?}");
}

fn stored_invitation(invitee: &User, expires_at: Timestamp) -> (Invitation, InvitationSecret) {
    let (mut invitation, secret) =
        Invitation::issue(invitee.tenant, invitee.id, InvitationTtl::DEFAULT, None, Delivery::pending(), Utc::now());
    invitation.expires_at = expires_at;
    (invitation, secret)
}

#[tokio::test]
async fn accepting_makes_the_user_active_and_starts_their_first_session() {
    let invitee = invited("i@example.com");
    let mut ports = Ports::new().knowing(&[&invitee]);
    let (invitation, secret) = stored_invitation(&invitee, ports.now + TimeDelta::days(1));
    ports.invitations.expect_find_invitation().returning(move |_| Ok(Some(invitation.clone())));
    let (id, version) = (invitee.id, invitee.version);
    ports
        .invitations
        .expect_accept()
        .withf(move |_, accepted, v, token, audit| {
            accepted.status == UserStatus::Active
                && accepted.activated_at.is_some()
                && accepted.name.as_ref().map(PersonName::as_str) == Some("Iris")
                && *v == version
                && token.user == id
                && token.state == crate::session::SessionState::Active
                && audit.action == AuditAction::InvitationAccepted
                && audit.after.as_ref().is_some_and(|after| {
                    after["session"] == token.id.to_string().as_str() && after["method"] == "invitation"
                })
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(()));
    let accepted = ports.service().accept(secret.expose(), Some(PersonName::parse("Iris").unwrap())).await.unwrap();
    assert_eq!(accepted.user.status, UserStatus::Active);
    assert!(crate::session::SessionSecret::parse(accepted.token.expose()).is_some());
    assert_eq!(accepted.session.hash, accepted.token.hash());
}

#[tokio::test]
async fn an_expired_link_is_refused_as_expired() {
    let invitee = invited("i@example.com");
    let mut ports = Ports::new().knowing(&[&invitee]);
    let (invitation, secret) = stored_invitation(&invitee, ports.now - TimeDelta::seconds(1));
    ports.invitations.expect_find_invitation().returning(move |_| Ok(Some(invitation.clone())));
    ports.invitations.expect_accept().never();
    let result = ports.service().accept(secret.expose(), None).await;
    assert!(matches!(result, Err(AcceptInvitationError::Expired)), "{result:?}");
}

#[tokio::test]
async fn unknown_malformed_and_already_used_links_are_the_same_not_found() {
    let invitee = invited("i@example.com");
    let mut ports = Ports::new().knowing(&[&invitee]);
    let (invitation, used) = stored_invitation(&invitee, ports.now + TimeDelta::days(1));
    let used_hash = used.hash();
    ports
        .invitations
        .expect_find_invitation()
        .returning(move |hash| Ok((*hash == used_hash).then(|| invitation.clone())));
    // Another request accepted the link between the lookup and the write.
    ports.invitations.expect_accept().returning(|_, _, _, _, _| Err(StoreError::NotFound));
    let service = ports.service();
    for presented in ["garbage", InvitationSecret::generate().expose(), used.expose()] {
        let result = service.accept(presented, None).await;
        assert!(matches!(result, Err(AcceptInvitationError::NotFound)), "{presented}: {result:?}");
    }
}
