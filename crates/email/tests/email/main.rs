//! The email adapters against real I/O: `roster_email::testing`'s SMTP server on 127.0.0.1, which
//! each test starts on a free port, and outbox directories in temporary folders.

mod fixtures;
mod outbox;
mod smtp;
