//! `radar: tell` with the real Claude Code CLI (pinned in scripts/agent-clis.sh) against the
//! scripted Anthropic API: when claude's run ends with a file another agent of the fleet
//! also changes, fleet resumes its session with the radar's notice before it is done, once.
//! Runs only when `FLEET_REAL_CLAUDE` names the program; otherwise it skips.

mod common;
mod fake;

use std::time::Duration;

use common::Fleet;
use fake::anthropic::{Anthropic, Turn};

#[test]
fn a_real_claude_hears_of_an_overlap_in_its_own_session_when_its_run_ends() {
    let Some(claude) = common::real_cli("FLEET_REAL_CLAUDE") else {
        return;
    };
    let f = Fleet::new();
    let api = Anthropic::start(vec![
        // The other agent writes shared.txt at once; claude's write comes a little later.
        Turn::write("shared.txt", "from claude\n").slow(Duration::from_secs(4)),
        Turn::text("Done: shared.txt is written."),
        // The resumed run: the notice is the new user message.
        Turn::text("Understood: I keep my change to shared.txt small."),
    ]);
    let env = common::real::yaml_map(&api.env(1));
    f.manifest(&format!(
        "radar: tell\nagent: claude\nenv: {env}\nagents:\n  - name: a\n    prompt: Write shared.txt.\n  - name: other\n    prompt: x\n    command: \"printf 'from other\\\\n' > shared.txt; sleep 60\"\n"
    ));
    f.fleet_with(&claude, &["up"]).success();
    let code = f
        .fleet_with(&claude, &["wait", "a", "--timeout", "120"])
        .code;
    let log = f.log("a");
    assert_eq!(code, 0, "{}\n{log}", f.diagnostics());
    assert!(
        log.contains("[fleet] radar: agent other is also changing shared.txt"),
        "{log}"
    );
    // Three turns: two of the first run, one of the resumed one, whose request carries the
    // whole conversation and the notice.
    let reqs = api.turn_requests();
    assert_eq!(reqs.len(), 3, "{log}");
    let last = reqs[2].json().to_string();
    assert!(
        last.contains("agent other is also changing shared.txt"),
        "{last}"
    );
    assert!(last.contains("Done: shared.txt is written."), "{last}");
    let a = f.agent("a");
    assert_eq!(a["state"], "done", "{a}\n{log}");
    assert_eq!(a["usage"]["turns"], 3, "{a}");
    assert_eq!(
        f.status_json()["overlaps"][0]["told"],
        serde_json::json!(["a"])
    );
    f.fleet(&["down"]).success();
}
