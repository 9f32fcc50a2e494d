//! The `roster` application: configuration, wiring, the HTTP API and the command line. Thin:
//! every rule lives in `roster-domain`, every query in `roster-storage`.

pub mod api;
pub mod app;
pub mod cli;
pub mod settings;
pub mod state;
pub mod telemetry;

pub use app::{Application, StartupError};
pub use settings::Settings;
