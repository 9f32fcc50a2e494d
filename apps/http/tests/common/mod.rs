//! What the CLI tests share: the `roster` binary in a temporary directory, and a running
//! `roster serve` with what it printed before serving.

#![allow(dead_code)] // each test crate uses its own part

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

/// A running `roster serve` and what it printed before serving.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub banner: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The token printed at first start, if any.
    pub fn token(&self) -> Option<String> {
        self.banner.iter().find_map(|line| line.trim().strip_prefix("export TOKEN=").map(str::to_owned))
    }
}

pub fn roster(dir: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(ROSTER);
    command.current_dir(dir).env_remove("ROSTER_DATABASE_URL").env("RUST_LOG", "warn");
    if let Some(url) = database_url {
        command.env("ROSTER_DATABASE_URL", url);
    }
    command
}

/// Starts `roster` (no subcommand: serve) on a free port and reads its banner.
pub fn serve(dir: &Path, database_url: Option<&str>) -> Server {
    serve_with(dir, database_url, &[])
}

/// As [`serve`], with more environment variables.
pub fn serve_with(dir: &Path, database_url: Option<&str>, environment: &[(&str, &str)]) -> Server {
    let mut child = roster(dir, database_url)
        .envs(environment.iter().copied())
        .env("ROSTER_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("roster starts");
    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let first = received.recv_timeout(Duration::from_secs(30)).expect("roster prints where it listens");
    let base = first.split_whitespace().find(|word| word.starts_with("http://")).expect("an address").to_owned();
    let mut banner = vec![first];
    // The first-start banner follows at once; a restart prints nothing more.
    while let Ok(line) = received.recv_timeout(Duration::from_millis(300)) {
        banner.push(line);
    }
    Server { child, base, banner }
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("roster runs")
}
