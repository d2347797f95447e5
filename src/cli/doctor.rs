//! `pgkeep doctor [--json]`: run the troubleshooting checks and print the fix for each
//! failure. Exit code 0 only when every check passes.

use clap::Args;
use color_eyre::eyre::Result;

use super::Context;
use crate::monitor::checks::Check;
use crate::monitor::doctor;

/// Arguments of `pgkeep doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object: {"ok": bool, "checks": [{name, ok, detail, fix}]}
    #[arg(long)]
    pub json: bool,
}

/// Runs `pgkeep doctor`.
pub async fn run(ctx: &Context, args: DoctorArgs) -> Result<i32> {
    let checks = doctor::run_checks(&ctx.config).await;
    let all_ok = checks.iter().all(|c| c.ok);
    if args.json {
        let v = serde_json::json!({ "ok": all_ok, "checks": checks });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(&checks));
    }
    Ok(if all_ok { 0 } else { 1 })
}

/// The checks as text: one line each, the fix indented under a failure, a summary last.
pub fn render(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        out.push_str(&format!("{mark}  {:<width$}  {}\n", c.name, c.detail));
        if let (false, Some(fix)) = (c.ok, &c.fix) {
            out.push_str(&format!("      {:<width$}  fix: {fix}\n", ""));
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        out.push_str(&format!("all {} checks passed\n", checks.len()));
    } else {
        out.push_str(&format!("{failed} of {} checks failed\n", checks.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_show_their_fix() {
        let checks = vec![
            Check {
                name: "docker".into(),
                ok: true,
                detail: "skipped".into(),
                fix: None,
            },
            Check {
                name: "backup dir".into(),
                ok: false,
                detail: "not yours".into(),
                fix: Some("sudo chown -R 1:1 /b".into()),
            },
        ];
        let text = render(&checks);
        assert!(text.contains("FAIL  backup dir  not yours\n"), "{text}");
        assert!(text.contains("fix: sudo chown -R 1:1 /b\n"), "{text}");
        assert!(text.ends_with("1 of 2 checks failed\n"), "{text}");
    }
}
