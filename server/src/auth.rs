//! Tokens (`--auth-secret`): HS256 JWTs verified with jsonwebtoken, taken from `?token=` or
//! `Authorization: Bearer`, and minted for the `token` subcommand. What a verified token
//! lets its holder do is the core's (`chat_core::auth`); this file only says whether a
//! token is genuine and what it claims.
//!
//! A refusal's reason never contains the token, so neither the 401 body nor the log can.

use chat_core::{name, Grant, Signed};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `exp` and `nbf` are checked with this much leeway (clocks differ).
const LEEWAY_SECS: u64 = 30;

/// The secret tokens are signed with, ready to verify and sign.
#[derive(Clone)]
pub struct Secret {
    decoding: DecodingKey,
    encoding: EncodingKey,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)") // never the secret itself
    }
}

/// The secret as given on the command line or in the environment: a string whose `Debug`
/// never shows it, so that printing the flags cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(…)")
    }
}

impl std::str::FromStr for SecretText {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretText(s.to_string()))
    }
}

impl SecretText {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Signed names as configured: `--auth-secret` and `--auth-required`.
#[derive(Clone, Debug)]
pub struct Auth {
    pub secret: Secret,
    /// Connections without a token get 401 `token required`.
    pub required: bool,
}

/// The claims a token may carry.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rooms: Option<Vec<String>>,
}

/// What to put in a new token.
#[derive(Debug, Clone)]
pub struct Mint<'a> {
    pub name: &'a str,
    pub ttl: Duration,
    pub admin: bool,
    pub rooms: &'a [String],
}

impl Secret {
    pub fn new(secret: &str) -> Secret {
        Secret {
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// Verifies `token`: its signature (HS256 only), `exp` (required) and `nbf`, and a
    /// `sub` that is a valid name not of the automatic form. The error is the reason, for
    /// `invalid token: REASON`.
    pub fn verify(&self, token: &str) -> Result<Signed, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| reason(e.kind()))?;
        let claims = data.claims;
        let sub = claims.sub.ok_or("missing sub")?;
        if !name::is_valid_name(&sub) {
            return Err("sub is not a valid name".into());
        }
        if chat_core::auth::is_automatic(&sub) {
            return Err("sub is an automatic name".into());
        }
        let rooms = match claims.rooms {
            None => Grant::None,
            Some(rooms) if rooms.iter().any(|r| r == "*") => Grant::All,
            Some(rooms) => Grant::Rooms(
                (rooms.iter())
                    .filter_map(|r| name::room_name(r))
                    .collect::<BTreeSet<Box<str>>>(),
            ),
        };
        Ok(Signed {
            name: sub.into(),
            admin: claims.admin,
            rooms,
        })
    }

    /// A token for `mint`, valid from now for its `ttl`.
    pub fn sign(&self, mint: &Mint<'_>) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let claims = Claims {
            sub: Some(mint.name.to_string()),
            exp: Some(now + mint.ttl.as_secs()),
            nbf: None,
            admin: mint.admin,
            rooms: (!mint.rooms.is_empty()).then(|| mint.rooms.to_vec()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())
    }
}

/// The reason a token is refused, in words that never contain it.
fn reason(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not valid yet",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "wrong algorithm",
        ErrorKind::MissingRequiredClaim(c) if c == "exp" => "missing exp",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => "malformed",
        ErrorKind::Json(_) => "malformed claims",
        _ => "not accepted",
    }
    .to_string()
}

/// `30s`, `15m`, `1h`, `7d`: the `token` subcommand's `--ttl`.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let bad = || format!("--ttl takes a number and s, m, h or d (30s, 15m, 1h, 7d), got {s:?}");
    let (digits, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    (secs > 0)
        .then(|| Duration::from_secs(secs))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mint(secret: &Secret, name: &str) -> String {
        let mint = Mint {
            name,
            ttl: Duration::from_secs(60),
            admin: true,
            rooms: &["Ops".to_string()],
        };
        secret.sign(&mint).unwrap()
    }

    #[test]
    fn a_minted_token_verifies_and_others_do_not() {
        let secret = Secret::new("s3cret");
        let token = mint(&secret, "alice");
        let signed = secret.verify(&token).unwrap();
        assert_eq!(&*signed.name, "alice");
        assert!(signed.admin && signed.rooms.allows("ops"));
        assert_eq!(
            Secret::new("other").verify(&token).unwrap_err(),
            "bad signature"
        );
        assert_eq!(secret.verify("garbage").unwrap_err(), "malformed");
        assert_eq!(
            secret.verify(&mint(&secret, "user7")).unwrap_err(),
            "sub is an automatic name"
        );
        assert!(secret.verify(&mint(&secret, "two words")).is_err());
        for junk in ["", ".", "..", "a.b.c", "\u{0}", "eyJhbGciOiJub25lIn0.e30."] {
            let refused = secret.verify(junk).unwrap_err();
            assert!(
                !refused.contains(junk) || junk.is_empty() || junk == ".",
                "{refused}"
            );
        }
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let text: SecretText = "hunter2".parse().unwrap();
        assert!(!format!("{text:?}").contains("hunter2"));
        assert!(!format!("{:?}", Secret::new("hunter2")).contains("hunter2"));
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_ttl("1w").is_err() && parse_ttl("0h").is_err() && parse_ttl("").is_err());
    }
}
