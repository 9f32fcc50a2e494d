//! Outgoing email: the messages Roster sends (rendered here, without I/O) and the
//! [`EmailSender`](crate::ports::EmailSender) port that delivers them.

use std::fmt::Write as _;

use crate::{Email, Timestamp};

/// A rendered email to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The recipient.
    pub to: Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (the same content).
    pub html: String,
}

/// Why an email was not delivered to the mail system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// The mail system refused the message for good (a 5xx answer, a bad address): sending it
    /// again unchanged will fail again.
    #[error("the mail server refused the message: {0}")]
    Rejected(String),
    /// The mail system could not be reached or answered "try later", also after the adapter's
    /// retries: sending again later may succeed.
    #[error("the mail server is unavailable: {0}")]
    Unavailable(String),
}

/// Escapes text for HTML element content and attribute values.
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The invitation email: who invites the recipient to which tenant, the accept link and its
/// expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationMail<'a> {
    /// The recipient.
    pub to: &'a Email,
    /// The tenant's name, shown in the subject.
    pub tenant: &'a str,
    /// Who invites, when a user does (their name or email).
    pub inviter: Option<&'a str>,
    /// The single-use accept link.
    pub link: &'a str,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

impl InvitationMail<'_> {
    /// The email, in text and HTML.
    #[must_use]
    pub fn render(&self) -> OutgoingEmail {
        let who = self.inviter.map_or_else(|| "You are".to_owned(), |inviter| format!("{inviter} has"));
        let expiry = self.expires_at.format("%Y-%m-%d %H:%M UTC");
        let mut text = String::new();
        let _ = writeln!(text, "{who} invited you to join {} on the AI platform.\n", self.tenant);
        let _ = writeln!(text, "Accept the invitation with this link (it works once, until {expiry}):\n");
        let _ = writeln!(text, "{}\n", self.link);
        let _ = writeln!(text, "If you did not expect this invitation, ignore this email.");
        let link = escape_html(self.link);
        let html = format!(
            "<!DOCTYPE html><html><body><p>{who} invited you to join <strong>{tenant}</strong> on the AI platform.</p>\
             <p><a href=\"{link}\">Accept the invitation</a> (the link works once, until {expiry}).</p>\
             <p>Or paste this address into your browser: {link}</p>\
             <p>If you did not expect this invitation, ignore this email.</p></body></html>",
            who = escape_html(&who),
            tenant = escape_html(self.tenant),
        );
        OutgoingEmail { to: self.to.clone(), subject: format!("You are invited to join {}", self.tenant), text, html }
    }
}

/// The sign-in email: a single-use magic link to the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagicLinkMail<'a> {
    /// The recipient.
    pub to: &'a Email,
    /// The tenant's name.
    pub tenant: &'a str,
    /// The single-use sign-in link.
    pub link: &'a str,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

impl MagicLinkMail<'_> {
    /// The email, in text and HTML.
    #[must_use]
    pub fn render(&self) -> OutgoingEmail {
        let expiry = self.expires_at.format("%Y-%m-%d %H:%M UTC");
        let mut text = String::new();
        let _ = writeln!(
            text,
            "Sign in to {} on the AI platform with this link (it works once, until {expiry}):\n",
            self.tenant
        );
        let _ = writeln!(text, "{}\n", self.link);
        let _ = writeln!(text, "If you did not ask to sign in, ignore this email: nobody can use the link without it.");
        let link = escape_html(self.link);
        let html = format!(
            "<!DOCTYPE html><html><body><p><a href=\"{link}\">Sign in to <strong>{tenant}</strong></a> on the AI platform \
             (the link works once, until {expiry}).</p>\
             <p>Or paste this address into your browser: {link}</p>\
             <p>If you did not ask to sign in, ignore this email.</p></body></html>",
            tenant = escape_html(self.tenant),
        );
        OutgoingEmail { to: self.to.clone(), subject: format!("Sign in to {}", self.tenant), text, html }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invitation_names_the_tenant_and_carries_the_link_in_both_bodies() {
        let to = Email::parse("new@example.com").unwrap();
        let link = "https://roster.example.com/invitations/accept?token=inv_abc&x=1";
        let mail = InvitationMail {
            to: &to,
            tenant: "acme",
            inviter: Some("Ann <ann@acme.test>"),
            link,
            expires_at: chrono::Utc::now(),
        }
        .render();
        assert_eq!(mail.subject, "You are invited to join acme");
        assert!(mail.text.contains(link));
        assert!(mail.text.contains("Ann <ann@acme.test> has invited you"));
        assert!(mail.html.contains("token=inv_abc&amp;x=1"));
        assert!(mail.html.contains("Ann &lt;ann@acme.test&gt;"));
    }
}
