//! SeaORM entities: the tables as the adapter sees them. Private to this crate; the domain never
//! sees them.

pub mod api_tokens;
pub mod audit_events;
pub mod invitations;
pub mod license_kinds;
pub mod tenants;
pub mod users;
