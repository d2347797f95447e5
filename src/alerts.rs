//! Alerts: webhooks on failure, overdue and failed-verification warnings. (Schedule issue.)
