//! Authentication: verifying JWTs (HS256 for development, RS256/ES256 from a JWKS in
//! production), mapping their claims to a `Principal`, and minting development tokens.

mod jwt;

pub use jwt::{mint_hs256, AuthError, Authenticator, Claims};
