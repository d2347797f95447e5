//! Rotation of old backups: keep_last / daily / weekly / monthly. (Schedule issue.)
