//! `pgkeep demo`: a private cluster with sample invoices under `./.pgkeep-demo/`. (Demo issue.)
