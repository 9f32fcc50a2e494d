//! Page sizes, pages of results, and the instants a query may name.

use chrono::Datelike as _;

use crate::Timestamp;

/// Whether an instant from outside (a filter, a cursor) is one Roster can store and compare
/// alike on every database: years 1 to 9999, UTC.
#[must_use]
pub fn is_storable(at: &Timestamp) -> bool {
    (1..=9999).contains(&at.year())
}

/// How many items a page holds: 1 to [`PageLimit::MAX`], [`PageLimit::DEFAULT`] when unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u16);

/// The requested page size is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and {}", PageLimit::MAX)]
pub struct PageLimitError;

impl PageLimit {
    /// The size of a page when none is asked for.
    pub const DEFAULT: u16 = 50;
    /// The largest page.
    pub const MAX: u16 = 200;

    /// A page size of `value`.
    ///
    /// # Errors
    /// [`PageLimitError`] when `value` is 0 or above [`PageLimit::MAX`].
    pub fn new(value: u64) -> Result<Self, PageLimitError> {
        match u16::try_from(value) {
            Ok(v) if (1..=Self::MAX).contains(&v) => Ok(Self(v)),
            _ => Err(PageLimitError),
        }
    }

    /// The size.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    /// The items, in the requested order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<C>,
    /// How many items match the filters in all pages, when the query reports it.
    pub total: Option<Total>,
}

/// How many items match a query in all its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    /// The count.
    pub count: u64,
    /// `false` when counting stopped at `count` (more items match): exact counts that would
    /// read too many rows are capped; see the adapter's documentation for when.
    pub exact: bool,
}
