//! The fleet's `budget:`: in its reserve no new agent starts (running ones go on); at the
//! budget the running agents are stopped; `status` and `status --json` show the spend.

mod common;

use common::Fleet;

/// A `claude` stub that waits `$DELAY` seconds, reports `$COST` dollars in a stream-json
/// result event, then runs on for `$HOLD` seconds and ends well.
fn payer(f: &Fleet) -> String {
    let script = r#"#!/bin/sh
cat > /dev/null
sleep "$DELAY"
printf '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"paid","session_id":"s-%s","total_cost_usd":%s,"usage":{"input_tokens":100,"output_tokens":10}}\n' "$FLEET_AGENT" "$COST"
sleep "$HOLD"
echo finished
"#;
    f.stub("claude", script)
}

fn agent(name: &str, cost: &str, delay: u32, hold: u32) -> String {
    format!(
        "  - name: {name}\n    agent: claude\n    prompt: \"Pay.\"\n    env: {{COST: \"{cost}\", DELAY: \"{delay}\", HOLD: \"{hold}\"}}\n"
    )
}

#[test]
fn a_spent_fleet_budget_stops_running_agents_and_starts_nobody() {
    let f = Fleet::new();
    let path = payer(&f);
    f.manifest(&format!(
        "budget: {{usd: 5}}\nmax_parallel: 2\nagents:\n{}{}{}",
        agent("first", "2", 0, 60),
        agent("second", "4", 3, 60),
        agent("third", "1", 0, 0)
    ));
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.wait_for("both running agents stopped", 40, |f| {
        f.state("first") == "failed" && f.state("second") == "failed"
    });
    for name in ["first", "second"] {
        let a = f.agent(name);
        assert_eq!(a["reason"], "fleet budget", "{a}");
        assert!(!f.log(name).lines().any(|l| l == "finished"));
    }
    // the queued one never starts
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(f.state("third"), "queued");
    let json = f.status_json();
    assert_eq!(json["budget"]["state"], "spent", "{json}");
    assert_eq!(json["budget"]["spent_usd"], 6.0, "{json}");
    assert_eq!(json["budget"]["usd"], 5.0, "{json}");
    f.fleet(&["status"])
        .success()
        .stdout_has("queued (fleet budget)")
        .stdout_has("budget: $6.00 of $5: spent");
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    assert_eq!(f.state("third"), "queued");
}

#[test]
fn the_reserve_holds_new_starts_but_lets_running_agents_finish() {
    let f = Fleet::new();
    let path = payer(&f);
    f.manifest(&format!(
        "budget: {{usd: 5, reserve: 2}}\nmax_parallel: 1\nagents:\n{}{}",
        agent("first", "3.5", 0, 3),
        agent("second", "1", 0, 0)
    ));
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
        .success();
    f.wait_state("first", "done");
    assert!(f.log("first").lines().any(|l| l == "finished"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(f.state("second"), "queued");
    let json = f.status_json();
    assert_eq!(json["budget"]["state"], "reserve", "{json}");
    assert_eq!(json["budget"]["reserve"], 2.0, "{json}");
    f.fleet(&["status"])
        .success()
        .stdout_has("queued (fleet budget)");
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["validate"])
        .success()
        .stdout_has("(reserve $2) for the whole fleet (no new start in the reserve");
    // a budget without a unit is refused
    f.manifest("budget: {reserve: 2}\nagents:\n  - name: x\n    prompt: hi\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has("budget: give `usd:` and/or `tokens:`");
}
