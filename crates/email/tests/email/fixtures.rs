//! The email every test sends: Roster's real invitation, with a link worth checking.

use roster_domain::Email;
use roster_domain::mail::{InvitationMail, OutgoingEmail};

/// The accept link; its `&` must survive as is in the text and as `&amp;` in the HTML.
pub const LINK: &str = "https://x.test/invitations/accept?token=inv_abc&tenant=acme";

pub fn recipient() -> Email {
    Email::parse("new.user@example.com").unwrap()
}

pub fn invitation() -> OutgoingEmail {
    let to = recipient();
    InvitationMail { to: &to, tenant: "acme", inviter: Some("Ann"), link: LINK, expires_at: chrono::Utc::now() }
        .render()
}
