//! `OutboxSender`: one readable `.eml` file per message.

use std::path::{Path, PathBuf};

use roster_domain::mail::EmailError;
use roster_domain::ports::EmailSender;
use roster_email::OutboxSender;

use crate::fixtures::{LINK, invitation};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files
}

#[tokio::test]
async fn each_send_writes_one_readable_file_with_recipient_subject_and_link() {
    let root = tempfile::tempdir().unwrap();
    let outbox = OutboxSender::new(root.path().join("outbox")).unwrap();
    let email = invitation();

    outbox.send(&email).await.unwrap();
    outbox.send(&email).await.unwrap();

    let files = files(outbox.dir());
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        assert_eq!(file.extension().unwrap(), "eml");
        let content = std::fs::read_to_string(file).unwrap();
        assert!(content.contains("From: Roster <roster@localhost>"), "{content}");
        assert!(content.contains("To: new.user@example.com"), "{content}");
        assert!(content.contains(&format!("Subject: {}", email.subject)), "{content}");
        assert!(content.contains("Date: "), "{content}");
        assert!(content.contains(&format!("\r\n{LINK}\r\n")), "the link is not readable: {content}");
    }
}

#[tokio::test]
async fn a_configured_sender_and_non_ascii_text_stay_readable() {
    let root = tempfile::tempdir().unwrap();
    let outbox =
        OutboxSender::new(root.path().to_owned()).unwrap().with_from("Équipe Roster <roster@example.com>").unwrap();
    let mut email = invitation();
    email.text = format!("Bienvenue chez Société Générale !\n\n{LINK}\n");

    outbox.send(&email).await.unwrap();

    let content = std::fs::read_to_string(&files(outbox.dir())[0]).unwrap();
    assert!(content.contains("roster@example.com"), "{content}");
    assert!(content.contains("Bienvenue chez Société Générale !"), "{content}");
    assert!(content.contains(&format!("\r\n{LINK}\r\n")), "{content}");
}

#[tokio::test]
async fn a_file_that_cannot_be_written_is_unavailable() {
    let root = tempfile::tempdir().unwrap();
    let outbox = OutboxSender::new(root.path().join("outbox")).unwrap();
    std::fs::remove_dir(outbox.dir()).unwrap();

    let result = outbox.send(&invitation()).await;

    assert!(matches!(result, Err(EmailError::Unavailable(_))), "{result:?}");
}

#[test]
fn a_sender_that_is_not_a_mailbox_is_refused() {
    let root = tempfile::tempdir().unwrap();

    assert!(OutboxSender::new(root.path().to_owned()).unwrap().with_from("nobody").is_err());
}
