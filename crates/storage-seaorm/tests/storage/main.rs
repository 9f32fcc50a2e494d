//! Storage behaviour on SQLite and PostgreSQL, with the real migrations. Every test body runs
//! on both databases (see `roster_storage::on_both_databases!`).

mod access_cache;
mod activity;
mod audit;
mod batch;
mod budget_races;
mod budgets;
mod fixtures;
mod governance;
mod group_commit;
mod invitations;
mod ledger;
mod licenses;
mod listing;
mod migrations;
mod search;
mod service_credentials;
mod sessions;
mod tenants;
mod tokens;
mod usage;
mod users;
