//! Verification: checksum, gzip stream, trailer, test restore, row counts. (Restore issue.)
