//! Safe restore: checks, safety backup, load into a scratch database, swap. (Restore issue.)
