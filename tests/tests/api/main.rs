//! End-to-end tests: the real application on port 0, a fresh database per test, every test on
//! SQLite and on PostgreSQL.

mod access_cache;
mod activity;
mod audit;
mod auth;
mod bad_input;
mod budgets;
mod entitlements;
mod governance;
mod helpers;
mod invitation_rules;
mod invitations;
mod licenses;
mod listing;
mod metering;
mod metering_access;
mod metering_races;
mod oidc;
mod openapi;
mod seats;
mod sign_in;
mod transfer;
mod transfer_export;
mod transfer_limits;
mod transfer_options;
mod transfer_races;
mod transfer_scale;
mod users;
