//! Offsite copies: a directory or S3-compatible storage. (Schedule issue.)
