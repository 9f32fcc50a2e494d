//! Storage behaviour on SQLite and PostgreSQL, with the real migrations. Every test body runs
//! on both databases (see `roster_storage::on_both_databases!`).

mod audit;
mod fixtures;
mod governance;
mod invitations;
mod licenses;
mod listing;
mod migrations;
mod search;
mod tenants;
mod tokens;
mod users;
