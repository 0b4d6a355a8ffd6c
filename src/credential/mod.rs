//! Credentials as values: the formats of tokens and join tokens, their
//! generation and the hashes under which they are stored. How a presented
//! credential is checked is `auth`'s; here are only the values, so the
//! replica can mint them without depending on authentication.

pub mod join_token;
pub mod token;
