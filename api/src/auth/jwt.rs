//! JWT verification with `jsonwebtoken`. Each key is bound to one algorithm, so a token can
//! never choose how it is checked (no `alg: none`, no HS/RS confusion).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Settings;

/// The claims carehub reads (DESIGN.md §3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub agency: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub region: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Set on tokens issued to partner API clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// Which check a token failed; the message is sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <JWT>`")]
    Missing,
    #[error("malformed Authorization header: expected `Bearer <JWT>`")]
    BadScheme,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token algorithm {0} is not accepted by this server")]
    Algorithm(String),
    #[error("token key id {0:?} is not in the configured key set")]
    UnknownKey(String),
    #[error("token signature does not verify")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("token issuer is not trusted (expected {0:?})")]
    Issuer(String),
    #[error("token audience is wrong (expected {0:?})")]
    Audience(String),
    #[error("token lacks required claim {0:?}")]
    MissingClaim(String),
    #[error("token claims are invalid: {0}")]
    Claims(String),
    #[error("token was revoked (client disabled)")]
    Revoked,
}

struct Verifier {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies tokens against the configured keys, issuer and audience.
pub struct Authenticator {
    hs256: Option<Verifier>,
    jwks: HashMap<String, Verifier>,
    issuer: String,
    audience: String,
    leeway: u64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("hs256", &self.hs256.is_some())
            .field("jwks_kids", &self.jwks.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

impl Authenticator {
    /// Builds from settings; `jwks_json` is the JWKS document when one is configured.
    pub fn new(settings: &Settings, jwks_json: Option<&str>) -> anyhow::Result<Self> {
        let hs256 = settings.jwt_secret.as_ref().map(|s| Verifier {
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(s.as_bytes()),
        });
        let mut jwks = HashMap::new();
        if let Some(doc) = jwks_json {
            let set: JwkSet =
                serde_json::from_str(doc).map_err(|e| anyhow::anyhow!("JWKS is not valid: {e}"))?;
            for (i, jwk) in set.keys.iter().enumerate() {
                let algorithm = match &jwk.algorithm {
                    AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => anyhow::bail!(
                        "JWKS key {i} is neither RSA nor EC; only RS256 and ES256 are accepted"
                    ),
                };
                let key =
                    DecodingKey::from_jwk(jwk).map_err(|e| anyhow::anyhow!("JWKS key {i}: {e}"))?;
                let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
                jwks.insert(kid, Verifier { algorithm, key });
            }
        }
        if hs256.is_none() && jwks.is_empty() {
            anyhow::bail!("no token verification key configured");
        }
        Ok(Self {
            hs256,
            jwks,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            leeway: settings.jwt_leeway_secs,
        })
    }

    /// Extracts the token from an `Authorization` header value.
    pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
        let h = header.ok_or(AuthError::Missing)?.trim();
        let (scheme, token) = h.split_once(' ').ok_or(AuthError::BadScheme)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::BadScheme);
        }
        Ok(token.trim())
    }

    /// Verifies signature, algorithm, `exp`, `nbf`, `iss` and `aud`, and returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = read_header(token)?;
        let alg = header.alg.unwrap_or_default();
        let verifier = match alg.as_str() {
            "HS256" => self
                .hs256
                .as_ref()
                .ok_or_else(|| AuthError::Algorithm(alg.clone()))?,
            "RS256" | "ES256" => {
                if self.jwks.is_empty() {
                    return Err(AuthError::Algorithm(alg));
                }
                let v = match &header.kid {
                    Some(kid) => self
                        .jwks
                        .get(kid)
                        .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?,
                    None => {
                        let mut same = self
                            .jwks
                            .values()
                            .filter(|v| format!("{:?}", v.algorithm) == alg);
                        match (same.next(), same.next()) {
                            (Some(v), None) => v,
                            _ => return Err(AuthError::UnknownKey(String::new())),
                        }
                    }
                };
                if format!("{:?}", v.algorithm) != alg {
                    return Err(AuthError::Algorithm(alg));
                }
                v
            }
            other => {
                return Err(AuthError::Algorithm(if other.is_empty() {
                    "(missing)".into()
                } else {
                    other.to_owned()
                }))
            }
        };
        let mut validation = Validation::new(verifier.algorithm);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        use jsonwebtoken::errors::ErrorKind as K;
        decode::<Claims>(token, &verifier.key, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                K::ExpiredSignature => AuthError::Expired,
                K::ImmatureSignature => AuthError::NotYetValid,
                K::InvalidSignature => AuthError::Signature,
                K::InvalidIssuer => AuthError::Issuer(self.issuer.clone()),
                K::InvalidAudience => AuthError::Audience(self.audience.clone()),
                K::InvalidAlgorithm | K::InvalidAlgorithmName => AuthError::Algorithm(alg.clone()),
                K::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
                K::Json(err) => AuthError::Claims(err.to_string()),
                K::InvalidToken | K::Base64(_) | K::Utf8(_) => {
                    AuthError::Malformed("not a JWS compact token".into())
                }
                other => AuthError::Malformed(format!("{other:?}")),
            })
    }
}

/// Reads the JOSE header ourselves so that `alg: none` and unknown algorithms get a clear
/// message instead of a parse error.
fn read_header(token: &str) -> Result<RawHeader, AuthError> {
    let first = token.split('.').next().unwrap_or_default();
    if token.split('.').count() != 3 {
        return Err(AuthError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("header is not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed("header is not JSON".into()))
}

/// Mints an HS256 token (development tokens and tests).
pub fn mint_hs256(claims: &Claims, secret: &str) -> anyhow::Result<String> {
    Ok(encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}
