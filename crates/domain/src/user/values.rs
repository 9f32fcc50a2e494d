//! Value objects of a user. Each is parsed once at the edge and valid from then on.

use std::fmt;
use std::str::FromStr;

use email_address::{EmailAddress, Options};

/// The longest email address SMTP can carry (RFC 5321, 254 octets).
pub const EMAIL_MAX_LEN: usize = 254;

/// A user's login id: a syntactically valid address, trimmed and lowercased, so that
/// uniqueness per tenant is case-insensitive. Immutable once the user exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// Why a text is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("email is empty")]
    Empty,
    /// More than [`EMAIL_MAX_LEN`] bytes.
    #[error("email is longer than {EMAIL_MAX_LEN} characters")]
    TooLong,
    /// Not of the form `local@domain.tld`.
    #[error("{0:?} is not a valid email address")]
    Invalid(String),
}

impl Email {
    /// Parses `input`: surrounding whitespace is dropped, letters are lowercased, and the result
    /// must be `local@domain` with a dotted domain, no display name and no IP literal.
    ///
    /// # Errors
    /// [`EmailError`] says what is wrong.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let options = Options { minimum_sub_domains: 2, allow_domain_literal: false, allow_display_text: false };
        let lowered = trimmed.to_lowercase();
        EmailAddress::parse_with_options(&lowered, options).map_err(|_| EmailError::Invalid(trimmed.to_owned()))?;
        Ok(Self(lowered))
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The longest phone number text read (with its spaces and punctuation); E.164 numbers have at
/// most 15 digits.
pub const PHONE_MAX_CHARS: usize = 40;

/// A phone number in E.164 form (`+33612345678`), validated against libphonenumber's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

/// Why a text is not an acceptable phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// The number does not start with `+` and a country calling code.
    #[error("phone number {0:?} has no country code: write it as +<country code><number>")]
    MissingCountryCode(String),
    /// libphonenumber does not know this number.
    #[error("{0:?} is not a valid phone number")]
    Invalid(String),
}

impl Phone {
    /// Parses an international number: `+`, country calling code, national number; spaces,
    /// dots, dashes and parentheses are allowed between digits.
    ///
    /// # Errors
    /// [`PhoneError`] says what is wrong.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.chars().count() > PHONE_MAX_CHARS {
            return Err(PhoneError::Invalid(format!(
                "{}...",
                trimmed.chars().take(PHONE_MAX_CHARS).collect::<String>()
            )));
        }
        if !trimmed.starts_with('+') {
            return Err(PhoneError::MissingCountryCode(trimmed.to_owned()));
        }
        Self::valid(phonenumber::parse(None, trimmed).ok()).ok_or_else(|| PhoneError::Invalid(trimmed.to_owned()))
    }

    /// Parses a number given in two parts, as import files do: an optional `country` (a calling
    /// code such as `33` or `+33`, or an ISO country code such as `FR`) and the `number`,
    /// national (`06 12 34 56 78`) or international (`+33 6 12 34 56 78`, whatever `country`).
    /// A calling code shared by several countries (`1`, `7`, `44`, ...) is tried for each.
    ///
    /// # Errors
    /// [`PhoneError`] says what is wrong: a national number without a country, an unknown
    /// country, or a number libphonenumber refuses.
    pub fn parse_with_country(country: Option<&str>, number: &str) -> Result<Self, PhoneError> {
        let number = number.trim();
        if number.starts_with('+') || number.chars().count() > PHONE_MAX_CHARS {
            return Self::parse(number);
        }
        let country = country.map(str::trim).filter(|c| !c.is_empty());
        let country = country.ok_or_else(|| PhoneError::MissingCountryCode(number.to_owned()))?;
        let invalid = || PhoneError::Invalid(format!("{country} {number}"));
        let regions = regions(country).ok_or_else(invalid)?;
        let national =
            regions.iter().find_map(|(region, _)| Self::valid(phonenumber::parse(Some(*region), number).ok()));
        // libphonenumber reads a national number that starts with its country's calling code
        // (Kazakhstan's 727..., with 7) as an international one without the `+`: then the
        // number after the calling code is what was meant.
        national
            .or_else(|| {
                regions
                    .iter()
                    .find_map(|(_, code)| Self::valid(phonenumber::parse(None, format!("+{code} {number}")).ok()))
            })
            .ok_or_else(invalid)
    }

    /// Checks a country given without a number (an import file's country column): a calling
    /// code or an ISO country code libphonenumber knows.
    ///
    /// # Errors
    /// [`PhoneError::Invalid`] when it is neither.
    pub fn check_country(country: &str) -> Result<(), PhoneError> {
        regions(country.trim()).map(drop).ok_or_else(|| PhoneError::Invalid(format!("country code {country}")))
    }

    /// `parsed` in E.164 form when it is a valid number without an extension (which E.164 has
    /// no room for: refused rather than dropped).
    fn valid(parsed: Option<phonenumber::PhoneNumber>) -> Option<Self> {
        let parsed = parsed.filter(|p| p.is_valid() && p.extension().is_none())?;
        Some(Self(parsed.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// The E.164 form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Loads libphonenumber's metadata now (it is loaded lazily, which takes a noticeable moment
    /// on first use), so that no request pays for it.
    pub fn preload() {
        let _ = Self::parse("+14155552671");
    }
}

/// The regions of `country`, with their calling code: those of a calling code (`33`, `+7`), or
/// the one of an ISO country code (`FR`); `None` when libphonenumber knows neither.
fn regions(country: &str) -> Option<Vec<(phonenumber::country::Id, u16)>> {
    let calling_code = country.strip_prefix('+').unwrap_or(country);
    let regions = if !calling_code.is_empty() && calling_code.bytes().all(|b| b.is_ascii_digit()) {
        phonenumber::metadata::DATABASE.by_code(&calling_code.parse::<u16>().ok()?)?
    } else {
        vec![phonenumber::metadata::DATABASE.by_id(country.to_ascii_uppercase().as_str())?]
    };
    let regions: Vec<_> =
        regions.iter().filter_map(|region| Some((region.id().parse().ok()?, region.country_code()))).collect();
    (!regions.is_empty()).then_some(regions)
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest display name we keep.
pub const NAME_MAX_CHARS: usize = 200;

/// A person's display name: trimmed, 1 to [`NAME_MAX_CHARS`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

/// Why a text is not an acceptable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing but whitespace.
    #[error("name is empty")]
    Empty,
    /// Longer than [`NAME_MAX_CHARS`].
    #[error("name is longer than {NAME_MAX_CHARS} characters")]
    TooLong,
    /// Contains a control character such as a newline.
    #[error("name contains a control character")]
    ControlCharacter,
}

impl PersonName {
    /// Parses a display name.
    ///
    /// # Errors
    /// [`NameError`] says what is wrong.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        if trimmed.chars().count() > NAME_MAX_CHARS {
            return Err(NameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as given, trimmed.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest referral or promo code.
pub const REFERRAL_CODE_MAX_LEN: usize = 64;

/// The referral or promo code a user signed up with: 1 to 64 of `A-Z a-z 0-9 _ - .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReferralCode(String);

/// The text is not an acceptable referral code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("referral code must be 1 to {REFERRAL_CODE_MAX_LEN} of the characters A-Z a-z 0-9 _ - .")]
pub struct ReferralCodeError;

impl ReferralCode {
    /// Parses a referral code (case is kept; matching is exact).
    ///
    /// # Errors
    /// [`ReferralCodeError`] when empty, too long or containing other characters.
    pub fn parse(input: &str) -> Result<Self, ReferralCodeError> {
        let trimmed = input.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if trimmed.is_empty() || trimmed.len() > REFERRAL_CODE_MAX_LEN || !trimmed.chars().all(allowed) {
            return Err(ReferralCodeError);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest search text accepted by the user list's `q` filter.
pub const SEARCH_MAX_CHARS: usize = 100;

/// A case-insensitive "contains" search over a user's name and email: lowercased, trimmed,
/// 1 to [`SEARCH_MAX_CHARS`] characters, no control characters (no stored name or email has any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

/// The search text is empty, too long or has a control character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search text must be 1 to {SEARCH_MAX_CHARS} characters without control characters")]
pub struct SearchTextError;

impl SearchText {
    /// Parses a search text.
    ///
    /// # Errors
    /// [`SearchTextError`] when empty after trimming or too long.
    pub fn parse(input: &str) -> Result<Self, SearchTextError> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.chars().count() > SEARCH_MAX_CHARS || trimmed.chars().any(char::is_control) {
            return Err(SearchTextError);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The lowercased text to look for.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text a [`SearchText`] is matched against: email and name, lowercased. Adapters store it
/// so that one indexed column serves the search on every database.
#[must_use]
pub fn search_haystack(email: &Email, name: Option<&PersonName>) -> String {
    match name {
        Some(name) => format!("{} {}", email.as_str(), name.as_str().to_lowercase()),
        None => email.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let email = Email::parse("  Alice.Martin@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice.martin@example.com");
    }

    #[test]
    fn emails_without_domain_tld_or_with_display_text_are_refused() {
        for bad in
            ["", "alice", "alice@", "@example.com", "alice@example", "Alice <alice@example.com>", "a@[127.0.0.1]"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(Phone::parse("+33 6 12 34 56 78").unwrap().as_str(), "+33612345678");
        assert_eq!(Phone::parse("+1 (415) 555-2671").unwrap().as_str(), "+14155552671");
    }

    #[test]
    fn phones_without_country_code_or_invalid_are_refused() {
        assert!(matches!(Phone::parse("06 12 34 56 78"), Err(PhoneError::MissingCountryCode(_))));
        assert!(matches!(Phone::parse("+33 12"), Err(PhoneError::Invalid(_))));
        assert!(matches!(Phone::parse("+abc"), Err(PhoneError::Invalid(_))));
    }

    #[test]
    fn a_phone_text_longer_than_any_number_is_refused_without_echoing_it_whole() {
        let long = format!("+33 6 12 34 56 78{}", " 9".repeat(5000));
        let Err(PhoneError::Invalid(echo)) = Phone::parse(&long) else { panic!("refused") };
        assert!(echo.len() < 50, "{echo}");
        assert!(Phone::parse_with_country(Some("FR"), &"0".repeat(41)).is_err());
    }

    #[test]
    fn a_phone_with_an_extension_is_refused_rather_than_cut() {
        assert!(matches!(Phone::parse("+1 202 555 0143 ext. 1234"), Err(PhoneError::Invalid(_))));
        assert!(matches!(Phone::parse_with_country(Some("1"), "202 555 0143 x12"), Err(PhoneError::Invalid(_))));
    }

    #[test]
    fn a_calling_code_of_several_countries_is_tried_for_each() {
        // 7 is Russia's and Kazakhstan's; a Kazakh number is not Russian.
        assert_eq!(Phone::parse_with_country(Some("7"), "727 250 1234").unwrap().as_str(), "+77272501234");
        assert_eq!(Phone::parse_with_country(Some("KZ"), "727 250 1234").unwrap().as_str(), "+77272501234");
        assert_eq!(Phone::parse_with_country(Some("KZ"), "8 727 250 1234").unwrap().as_str(), "+77272501234");
        assert_eq!(Phone::parse_with_country(Some("+7"), "912 345 6789").unwrap().as_str(), "+79123456789");
        assert!(matches!(Phone::parse_with_country(Some("999"), "612345678"), Err(PhoneError::Invalid(_))));
    }

    #[test]
    fn a_country_alone_is_a_calling_code_or_an_iso_code_libphonenumber_knows() {
        for known in ["33", "+33", "FR", "fr", " 1 "] {
            assert_eq!(Phone::check_country(known), Ok(()), "{known}");
        }
        for unknown in ["12345", "+44 20", "ZZ", "999", "+", ""] {
            assert!(Phone::check_country(unknown).is_err(), "{unknown}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PersonName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
        assert_eq!(PersonName::parse("   "), Err(NameError::Empty));
        assert_eq!(PersonName::parse(&"x".repeat(201)), Err(NameError::TooLong));
        assert_eq!(PersonName::parse("Ada\nLovelace"), Err(NameError::ControlCharacter));
    }

    #[test]
    fn referral_codes_allow_only_a_safe_alphabet() {
        assert!(ReferralCode::parse("SPRING-2026_a.b").is_ok());
        assert!(ReferralCode::parse("has space").is_err());
        assert!(ReferralCode::parse("").is_err());
    }

    #[test]
    fn search_text_is_lowercased() {
        assert_eq!(SearchText::parse(" MarTin ").unwrap().as_str(), "martin");
        assert!(SearchText::parse(" ").is_err());
        assert!(SearchText::parse("a\0b").is_err());
    }
}
