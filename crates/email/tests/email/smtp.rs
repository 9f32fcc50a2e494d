//! `SmtpSender` against a real SMTP server: delivery, retries, refusals, dead relays.

use std::time::{Duration, Instant};

use roster_domain::mail::{EmailError, escape_html};
use roster_domain::ports::EmailSender;
use roster_email::testing::{Answer, SilentListener, TestSmtpServer, closed_port};
use roster_email::{SmtpConfigError, SmtpSender, SmtpSettings, SmtpTls};

use crate::fixtures::{LINK, invitation};

fn settings(port: u16, attempts: u32) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".to_owned(),
        port,
        tls: SmtpTls::None,
        credentials: None,
        from: "Roster <roster@example.com>".to_owned(),
        timeout: Duration::from_secs(5),
        attempts,
    }
}

fn sender(port: u16, attempts: u32) -> SmtpSender {
    SmtpSender::new(settings(port, attempts)).unwrap()
}

#[tokio::test]
async fn a_sent_message_arrives_with_recipient_subject_and_both_bodies_with_the_link_intact() {
    let server = TestSmtpServer::start();
    let email = invitation();

    sender(server.port(), 3).send(&email).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert_eq!(message.to, ["new.user@example.com"]);
    let data = &message.data;
    assert!(data.contains("From: Roster <roster@example.com>"), "{data}");
    assert!(data.contains("To: new.user@example.com"), "{data}");
    assert!(data.contains(&format!("Subject: {}", email.subject)), "{data}");
    assert!(data.contains("Content-Type: multipart/alternative"), "{data}");
    assert!(data.contains("Content-Type: text/plain; charset=utf-8"), "{data}");
    assert!(data.contains("Content-Type: text/html; charset=utf-8"), "{data}");
    assert!(data.contains("Content-Transfer-Encoding: 7bit"), "{data}");
    // The raw message carries the link as written: no quoted-printable soft breaks or `=3D`.
    assert!(data.contains(&format!("\r\n{LINK}\r\n")), "the text part lost the link: {data}");
    assert!(data.contains(&format!("href=\"{}\"", escape_html(LINK))), "the HTML part lost the link: {data}");
    assert!(data.find("text/plain") < data.find("text/html"), "the text part comes first: {data}");
}

#[tokio::test]
async fn the_test_server_hands_out_each_message_once_with_its_envelope_and_headers() {
    let server = TestSmtpServer::start();
    let sender = sender(server.port(), 1);
    let email = invitation();
    assert_eq!(server.next_message(Duration::from_millis(50)).await, None, "nothing sent yet");

    // A message that arrives while the test waits is handed out as soon as it is taken.
    let late = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sender.send(&email).await.unwrap();
    };
    let (first, ()) = tokio::join!(server.next_message(Duration::from_secs(5)), late);
    sender.send(&email).await.unwrap();

    let first = first.expect("the first message");
    assert_eq!(first.from, "roster@example.com");
    assert_eq!(first.to, ["new.user@example.com"]);
    assert_eq!(first.header("subject"), Some(email.subject.clone()));
    assert_eq!(first.header("X-Missing"), None);
    let second = server.next_message(Duration::from_secs(5)).await.expect("the second message");
    assert_eq!(second.header("To").as_deref(), Some("new.user@example.com"));
    assert_eq!(server.next_message(Duration::from_millis(50)).await, None, "each message is handed out once");
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_try_later_answer_is_retried_and_the_second_attempt_delivers() {
    let server = TestSmtpServer::answering(Answer::TryLaterOnce);

    let started = Instant::now();

    sender(server.port(), 3).send(&invitation()).await.unwrap();

    assert_eq!(server.attempts(), 2);
    assert_eq!(server.received().len(), 1);
    // The retry followed the 451 after the first pause, not after a timeout.
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_permanent_refusal_is_rejected_after_exactly_one_attempt() {
    let server = TestSmtpServer::answering(Answer::RefuseRecipients);

    let result = sender(server.port(), 3).send(&invitation()).await;

    assert!(matches!(&result, Err(EmailError::Rejected(reason)) if reason.contains("550")), "{result:?}");
    assert_eq!(server.attempts(), 1);
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_relay_that_refuses_connections_is_unavailable_after_every_attempt_within_bounded_time() {
    let started = Instant::now();

    let result = sender(closed_port(), 3).send(&invitation()).await;

    let elapsed = started.elapsed();
    assert!(matches!(&result, Err(EmailError::Unavailable(reason)) if reason.contains("3 attempts")), "{result:?}");
    // Three attempts mean two pauses: 200 ms, then 400 ms.
    assert!(elapsed >= Duration::from_millis(600), "no pause between attempts: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "took too long: {elapsed:?}");
}

#[tokio::test]
async fn a_relay_that_hangs_up_at_once_is_tried_exactly_attempts_times() {
    let relay = SilentListener::start(true);

    let result = sender(relay.port(), 3).send(&invitation()).await;

    assert!(matches!(result, Err(EmailError::Unavailable(_))), "{result:?}");
    assert_eq!(relay.connections(), 3);
}

#[tokio::test]
async fn a_relay_that_never_answers_times_out_on_every_attempt() {
    let relay = SilentListener::start(false);
    let settings = SmtpSettings { timeout: Duration::from_millis(300), ..settings(relay.port(), 2) };
    let started = Instant::now();

    let result = SmtpSender::new(settings).unwrap().send(&invitation()).await;

    assert!(matches!(result, Err(EmailError::Unavailable(_))), "{result:?}");
    assert_eq!(relay.connections(), 2);
    assert!(started.elapsed() < Duration::from_secs(5), "took too long: {:?}", started.elapsed());
}

#[test]
fn a_sender_that_is_not_a_mailbox_is_refused_at_start() {
    let settings = SmtpSettings { from: "Roster <not an address>".to_owned(), ..settings(25, 3) };

    let result = SmtpSender::new(settings);

    assert!(matches!(result, Err(SmtpConfigError::InvalidFrom(_))), "{result:?}");
}

#[test]
fn an_empty_host_is_refused_at_start() {
    let settings = SmtpSettings { host: " ".to_owned(), ..settings(25, 3) };

    assert!(matches!(SmtpSender::new(settings), Err(SmtpConfigError::MissingHost)));
}

#[test]
fn tls_settings_build_a_sender_for_a_named_host() {
    for tls in [SmtpTls::StartTls, SmtpTls::Implicit] {
        let settings = SmtpSettings { host: "smtp.example.com".to_owned(), tls, ..settings(587, 3) };

        SmtpSender::new(settings).unwrap();
    }
}

#[test]
fn the_debug_output_never_shows_the_password() {
    let settings =
        SmtpSettings { credentials: Some(("mailer".to_owned(), "s3cret-pa55".to_owned())), ..settings(25, 3) };

    let printed = [format!("{settings:?}"), format!("{:?}", SmtpSender::new(settings.clone()).unwrap())];

    for printed in printed {
        assert!(!printed.contains("s3cret-pa55"), "{printed}");
        assert!(printed.contains("mailer") && printed.contains("***"), "{printed}");
    }
}
