//! What the user list can filter and sort by, and its opaque keyset cursor.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;

use super::{Email, ReferralCode, SearchText, UserStatus};
use crate::invitation::InvitationState;
use crate::{PageLimit, Role, Timestamp, UserId};

/// Filters of the user list; every one set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Name or email contains this text, case-insensitively.
    pub q: Option<SearchText>,
    /// Has this role.
    pub role: Option<Role>,
    /// Has this status.
    pub status: Option<UserStatus>,
    /// Created at or after this instant.
    pub created_from: Option<Timestamp>,
    /// Created before this instant (exclusive).
    pub created_to: Option<Timestamp>,
    /// Signed up with exactly this referral or promo code.
    pub referral_code: Option<ReferralCode>,
    /// Holds a seat of this license kind.
    pub license: Option<crate::LicenseKindId>,
    /// Holds a seat of any kind (`true`) or none (`false`).
    pub licensed: Option<bool>,
    /// Is invited, with an invitation in this state.
    pub invitation: Option<InvitationFilter>,
}

/// Invited users whose invitation is in `state` at the instant `at` (now, for the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvitationFilter {
    /// Pending: their link works at `at`. Expired: it does not, or they have none.
    pub state: InvitationState,
    /// The instant the state is judged at.
    pub at: Timestamp,
}

/// The column the list is ordered by. Ties on `created_at` are broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSortField {
    /// Creation time.
    #[default]
    CreatedAt,
    /// Email address.
    Email,
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    /// Smallest first.
    Asc,
    /// Largest first.
    #[default]
    Desc,
}

/// How the list is ordered. The default is newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserSort {
    /// The column.
    pub field: UserSortField,
    /// The direction.
    pub direction: SortDirection,
}

/// The position after the last user of a page, for the next page (keyset pagination: every page
/// costs the same however deep, and concurrent inserts never duplicate or skip a user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCursor {
    /// After this `(created_at, id)`.
    CreatedAt(Timestamp, UserId),
    /// After this email (unique within a tenant).
    Email(Email),
}

/// The cursor text is not one this server issued for this sort order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is malformed or belongs to another sort order")]
pub struct CursorError;

impl UserCursor {
    /// The cursor positioned after `user` in `sort` order.
    #[must_use]
    pub fn after(user: &super::User, sort: UserSort) -> Self {
        match sort.field {
            UserSortField::CreatedAt => Self::CreatedAt(user.created_at, user.id),
            UserSortField::Email => Self::Email(user.email.clone()),
        }
    }

    /// The opaque text handed to clients, for pages in the `direction` the cursor was made in.
    #[must_use]
    pub fn encode(&self, direction: SortDirection) -> String {
        let way = direction_tag(direction);
        let plain = match self {
            Self::CreatedAt(at, id) => format!("c{way}|{}|{id}", at.timestamp_micros()),
            Self::Email(email) => format!("e{way}|{email}"),
        };
        URL_SAFE_NO_PAD.encode(plain)
    }

    /// Reads a cursor issued by [`encode`](Self::encode) for the same `sort` (field and
    /// direction: a position of one order says nothing of where the other continues).
    ///
    /// # Errors
    /// [`CursorError`] when the text was not issued by us or is for another sort order.
    pub fn decode(text: &str, sort: UserSort) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| CursorError)?;
        let plain = String::from_utf8(bytes).map_err(|_| CursorError)?;
        let (tag, rest) = plain.split_once('|').ok_or(CursorError)?;
        // Cursors issued before they named their direction (`c|`, `e|`) still page, so that a
        // client paging through an upgrade, or across instances of two versions, goes on.
        let field = match tag {
            "c" | "e" => tag,
            _ => tag.strip_suffix(direction_tag(sort.direction)).ok_or(CursorError)?,
        };
        let cursor = match (field, rest) {
            ("c", rest) => {
                let (micros, id) = rest.split_once('|').ok_or(CursorError)?;
                let micros = micros.parse().map_err(|_| CursorError)?;
                let at =
                    DateTime::from_timestamp_micros(micros).filter(crate::paging::is_storable).ok_or(CursorError)?;
                Self::CreatedAt(at, id.parse().map_err(|_| CursorError)?)
            }
            ("e", email) => Self::Email(Email::parse(email).map_err(|_| CursorError)?),
            _ => return Err(CursorError),
        };
        match (&cursor, sort.field) {
            (Self::CreatedAt(..), UserSortField::CreatedAt) | (Self::Email(_), UserSortField::Email) => Ok(cursor),
            _ => Err(CursorError),
        }
    }
}

/// How a cursor's text says its direction.
fn direction_tag(direction: SortDirection) -> &'static str {
    match direction {
        SortDirection::Asc => "a",
        SortDirection::Desc => "d",
    }
}

/// One page request of the user list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Which users.
    pub filter: UserFilter,
    /// In which order.
    pub sort: UserSort,
    /// Start after this position; `None` for the first page.
    pub after: Option<UserCursor>,
    /// How many users at most.
    pub limit: PageLimit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_for_their_sort_field() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let by_date = UserSort { field: UserSortField::CreatedAt, direction: SortDirection::Desc };
        let cursor = UserCursor::CreatedAt(at, UserId::new());
        assert_eq!(UserCursor::decode(&cursor.encode(SortDirection::Desc), by_date), Ok(cursor));

        let by_email = UserSort { field: UserSortField::Email, direction: SortDirection::Asc };
        let cursor = UserCursor::Email(Email::parse("a@example.com").unwrap());
        assert_eq!(UserCursor::decode(&cursor.encode(SortDirection::Asc), by_email), Ok(cursor.clone()));
        assert_eq!(UserCursor::decode(&cursor.encode(SortDirection::Asc), by_date), Err(CursorError));
    }

    #[test]
    fn a_cursor_of_one_direction_is_refused_in_the_other() {
        let cursor = UserCursor::Email(Email::parse("a@example.com").unwrap());
        let ascending = UserSort { field: UserSortField::Email, direction: SortDirection::Asc };
        let descending = UserSort { direction: SortDirection::Desc, ..ascending };
        assert_eq!(UserCursor::decode(&cursor.encode(SortDirection::Asc), descending), Err(CursorError));
        assert_eq!(UserCursor::decode(&cursor.encode(SortDirection::Desc), ascending), Err(CursorError));
        let before_directions = URL_SAFE_NO_PAD.encode("e|a@example.com");
        assert_eq!(UserCursor::decode(&before_directions, ascending), Ok(cursor));
    }

    #[test]
    fn foreign_cursors_are_refused() {
        let sort = UserSort::default();
        let far = URL_SAFE_NO_PAD.encode(format!("cd|-7000000000000000000|{}", UserId::new()));
        for bad in ["", "!!!", "Yw", "Y3w", &URL_SAFE_NO_PAD.encode("cd|x|y"), &URL_SAFE_NO_PAD.encode("d|x"), &far] {
            assert_eq!(UserCursor::decode(bad, sort), Err(CursorError), "{bad:?}");
        }
    }
}
