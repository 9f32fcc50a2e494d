//! One id type per entity, so a `UserId` can never be passed where a `TenantId` is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUID v7) id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl From<$name> for Uuid {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

entity_id!(
    /// Identifies a tenant (an organisation using the platform).
    TenantId
);
entity_id!(
    /// Identifies a user within every tenant (ids are globally unique).
    UserId
);
entity_id!(
    /// Identifies an API token (never the secret itself).
    TokenId
);
entity_id!(
    /// Identifies an audit event.
    AuditEventId
);
entity_id!(
    /// Identifies a license kind (a pool of seats) of a tenant.
    LicenseKindId
);
entity_id!(
    /// Identifies a reservation of credits.
    ReservationId
);
entity_id!(
    /// Identifies a service credential (never the secret itself).
    ServiceCredentialId
);
entity_id!(
    /// Identifies a sign-in session (never the secret itself).
    SessionId
);
