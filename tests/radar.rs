//! The radar: while agents work, `status` (its table and `--json`'s `overlaps`) says which
//! agents change the same files, uncommitted or committed, and whether their commits would
//! conflict; agents editing different files produce nothing.
mod common;

use common::Fleet;
use serde_json::{json, Value};

fn overlaps(f: &Fleet) -> Value {
    f.status_json()["overlaps"].clone()
}

#[test]
fn two_running_agents_editing_one_file_show_in_status_and_json() {
    let f = Fleet::new();
    f.manifest(
        "agents:\n  - name: one\n    prompt: x\n    command: \"printf 'one\\\\n' >> README.md; sleep 60\"\n  - name: two\n    prompt: x\n    command: \"printf 'two\\\\n' >> README.md; sleep 60\"\n  - name: apart\n    prompt: x\n    command: \"printf 'apart\\\\n' > apart.txt; sleep 60\"\n",
    );
    f.fleet(&["up"]).success();
    // Each agent's edit lands on its first seconds: one refresh after it, the radar has it.
    f.wait_for("both edits", 20, |f| {
        ["one", "two", "apart"]
            .iter()
            .all(|n| f.agent(n)["uncommitted"] == true)
    });
    assert_eq!(
        overlaps(&f),
        json!([{"agents": ["one", "two"], "files": ["README.md"], "conflict": false}]),
    );
    f.fleet(&["status"])
        .success()
        .stdout_has("one and two both change README.md\n");
    f.fleet(&["down"]).success();
}

#[test]
fn agents_editing_different_files_produce_nothing_and_committed_clashes_would_conflict() {
    let f = Fleet::new();
    let commits = |file: &str, text: &str| {
        format!("printf '{text}' > {file}; git add {file}; git commit -qm 'write {file}'")
    };
    f.manifest(&format!(
        "agents:\n  - name: a\n    prompt: x\n    command: \"{}\"\n  - name: b\n    prompt: x\n    command: \"{}\"\n",
        commits("a.txt", "a\\n"),
        commits("b.txt", "b\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    assert_eq!(overlaps(&f), json!([]));
    let plain = f.fleet(&["status"]);
    assert!(
        !plain.success().stdout.contains("both change"),
        "{}",
        plain.stdout
    );

    // Two more agents commit README.md each their own way: their merge would conflict.
    f.manifest(&format!(
        "agents:\n  - name: a\n    prompt: x\n    command: \"{}\"\n  - name: b\n    prompt: x\n    command: \"{}\"\n  - name: left\n    prompt: x\n    command: \"{}\"\n  - name: right\n    prompt: x\n    command: \"{}\"\n",
        commits("a.txt", "a\\n"),
        commits("b.txt", "b\\n"),
        commits("README.md", "# left\\n"),
        commits("README.md", "# right\\n"),
    ));
    f.fleet(&["up"]).success();
    f.fleet(&["wait", "--timeout", "20"]).success();
    assert_eq!(
        overlaps(&f),
        json!([{"agents": ["left", "right"], "files": ["README.md"], "conflict": true}]),
    );
    f.fleet(&["status"])
        .success()
        .stdout_has("left and right both change README.md (would conflict)\n");
    // Asked again, from what the radar keeps: the same answer.
    assert_eq!(overlaps(&f)[0]["conflict"], true);
}

/// A `claude` that keeps each run's arguments and stdin in `$CALLS/NAME.N` (outside its
/// worktree, so the radar does not see them) and reports session s-NAME. Its first run
/// appends its name to `$FILE`, waiting for the file `$WAIT` (when set) after the edit, or
/// before it with `WAIT_FIRST`; a resumed run changes nothing.
const TELLS: &str = r#"#!/bin/sh
n=$(ls "$CALLS" | grep -c "^$FLEET_AGENT\.")
{ printf '%s\n' "$@"; echo ---; cat; } > "$CALLS/$FLEET_AGENT.$n"
gate() { [ -z "$WAIT" ] || while [ ! -f "$WAIT" ]; do sleep 0.1; done; }
case " $* " in
  *" --resume "*) ;;
  *) [ -z "$WAIT_FIRST" ] || gate; echo "$FLEET_AGENT" >> "$FILE"; [ -n "$WAIT_FIRST" ] || gate ;;
esac
echo '{"type":"system","subtype":"init","session_id":"s-'"$FLEET_AGENT"'","model":"m"}'
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s-'"$FLEET_AGENT"'","total_cost_usd":0.1,"usage":{"input_tokens":3,"output_tokens":2}}'
"#;

/// The stdin of each run of `name`'s CLI, in order.
fn runs(f: &Fleet, name: &str) -> Vec<String> {
    let calls = f.root.join("calls");
    (0..)
        .map(|n| calls.join(format!("{name}.{n}")))
        .take_while(|p| p.exists())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The manifest of `radar` with claude stubs: (name, file it edits, extra env lines).
fn telling_fleet(f: &Fleet, radar: &str, agents: &[(&str, &str, &str)]) -> String {
    let calls = f.root.join("calls");
    std::fs::create_dir_all(&calls).unwrap();
    let mut yaml = format!(
        "radar: {radar}\nagent: claude\nenv:\n  CALLS: {}\nagents:\n",
        calls.display()
    );
    for (name, file, env) in agents {
        yaml.push_str(&format!(
            "  - name: {name}\n    prompt: \"Edit {file}.\"\n    env:\n      FILE: {file}\n{env}"
        ));
    }
    f.manifest(&yaml);
    f.stub("claude", TELLS)
}

fn gate(f: &Fleet, name: &str) -> String {
    format!(
        "      WAIT: {}\n",
        f.root.join(format!("go-{name}")).display()
    )
}

fn open_gate(f: &Fleet, name: &str) {
    std::fs::write(f.root.join(format!("go-{name}")), "").unwrap();
}

#[test]
fn with_radar_tell_running_agents_on_one_file_each_hear_of_it_once_at_their_next_turn() {
    let f = Fleet::new();
    let (one, two, apart) = (gate(&f, "one"), gate(&f, "two"), gate(&f, "apart"));
    let path = telling_fleet(
        &f,
        "tell",
        &[
            ("one", "README.md", &one),
            ("two", "README.md", &two),
            ("apart", "apart.txt", &apart),
        ],
    );
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.wait_for("the three edits", 20, |f| {
        ["one", "two", "apart"]
            .iter()
            .all(|n| f.agent(n)["uncommitted"] == true)
    });
    // one's run ends: before it is done, its session is resumed with the notice.
    open_gate(&f, "one");
    f.wait_state("one", "done");
    let heard = runs(&f, "one");
    assert_eq!(heard.len(), 2, "{heard:#?}");
    assert!(heard[1].contains("--resume\ns-one\n"), "{}", heard[1]);
    assert!(
        heard[1].contains("agent two is also changing README.md; `fleet diff two` shows its work"),
        "{}",
        heard[1]
    );
    assert!(
        heard[1].contains("Coordinate by keeping your change"),
        "{}",
        heard[1]
    );
    assert!(f
        .log("one")
        .contains("[fleet] radar: resuming the agent's session s-one with the notice"));
    // Told one, not yet two (still running): status --json says which heard.
    assert_eq!(
        f.status_json()["overlaps"],
        json!([{"agents": ["one", "two"], "files": ["README.md"], "conflict": false, "told": ["one"]}]),
    );

    open_gate(&f, "two");
    open_gate(&f, "apart");
    f.fleet(&["wait", "--timeout", "20"]).success();
    let heard = runs(&f, "two");
    assert_eq!(heard.len(), 2, "{heard:#?}");
    assert!(
        heard[1].contains("agent one is also changing README.md"),
        "{}",
        heard[1]
    );
    // Different files: nothing to tell.
    assert_eq!(runs(&f, "apart").len(), 1);
    assert_eq!(
        f.status_json()["overlaps"][0]["told"],
        json!(["one", "two"])
    );
    let status = f.fleet(&["status"]);
    assert!(
        !status.success().stdout.contains("radar:"),
        "{}",
        status.stdout
    );

    // Never told twice: the next continue carries the user's words only.
    f.fleet_at(&f.repo, &env, &["continue", "one", "-m", "More."])
        .success();
    f.wait_for("one's third run", 20, |f| {
        f.agent("one")["attempt"] == 2 && f.state("one") == "done"
    });
    let heard = runs(&f, "one");
    assert_eq!(heard.len(), 3, "{heard:#?}");
    assert!(heard[2].ends_with("---\nMore.\n"), "{}", heard[2]);
}

#[test]
fn an_agent_that_ended_before_the_overlap_hears_of_it_with_its_next_continue() {
    let f = Fleet::new();
    let late = format!("{}      WAIT_FIRST: 1\n", gate(&f, "late"));
    let path = telling_fleet(
        &f,
        "tell",
        &[("early", "README.md", ""), ("late", "README.md", &late)],
    );
    let env = [("PATH", path.as_str())];
    f.fleet_at(&f.repo, &env, &["up"]).success();
    f.wait_state("early", "done");
    assert_eq!(runs(&f, "early").len(), 1);
    // late edits the same file after early ended: late hears at its run's end; early, which
    // nothing starts by itself, is named under the table until its next continue.
    open_gate(&f, "late");
    f.wait_state("late", "done");
    assert!(runs(&f, "late")[1].contains("agent early is also changing README.md"));
    f.fleet(&["status"]).success().stdout_has(
        "early and late both change README.md\nradar: early ended before it heard of its overlaps; `fleet continue early -m …` tells it with the follow-up\n",
    );
    f.fleet_at(&f.repo, &env, &["continue", "early", "-m", "Go on."])
        .success();
    f.wait_for("early's second run", 20, |f| {
        f.agent("early")["attempt"] == 2 && f.state("early") == "done"
    });
    let heard = runs(&f, "early");
    assert_eq!(heard.len(), 2, "{heard:#?}");
    assert!(
        heard[1].contains("---\nGo on.\n\nA note from fleet's conflict radar"),
        "{}",
        heard[1]
    );
    assert!(
        heard[1].contains("agent late is also changing README.md"),
        "{}",
        heard[1]
    );
    let status = f.fleet(&["status"]);
    assert!(
        !status.success().stdout.contains("radar:"),
        "{}",
        status.stdout
    );
}

#[test]
fn radar_show_tells_nobody_and_radar_off_shows_nothing() {
    for radar in ["show", "off"] {
        let f = Fleet::new();
        let path = telling_fleet(
            &f,
            radar,
            &[("one", "README.md", ""), ("two", "README.md", "")],
        );
        f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["up"])
            .success();
        f.fleet(&["wait", "--timeout", "20"]).success();
        assert_eq!(runs(&f, "one").len(), 1);
        assert_eq!(runs(&f, "two").len(), 1);
        let overlaps = f.status_json()["overlaps"].clone();
        match radar {
            "show" => assert_eq!(
                overlaps,
                json!([{"agents": ["one", "two"], "files": ["README.md"], "conflict": false}])
            ),
            _ => assert_eq!(overlaps, json!([])),
        }
    }
}

#[test]
fn a_bad_radar_value_is_refused_and_agents_fleet_cannot_resume_are_named_once() {
    let f = Fleet::new();
    f.manifest("radar: loud\nagents:\n  - name: a\n    prompt: x\n");
    f.fleet(&["validate"])
        .code(2)
        .stderr_has(
            "agents.yaml: radar: unknown variant `loud`, expected one of `show`, `tell`, `off`",
        )
        .stderr_has("write `radar: show` (the default: overlaps in status), `radar: tell`");
    f.manifest(
        "radar: tell\nagents:\n  - name: a\n    prompt: x\n  - name: b\n    prompt: x\n    command: \"true\"\n  - name: c\n    prompt: x\n    agent: shell\n",
    );
    let path = f.stub("claude", TELLS);
    f.fleet_at(&f.repo, &[("PATH", path.as_str())], &["validate"])
        .success()
        .stderr_has(
        "radar: tell cannot tell agents b, c of overlaps, as fleet cannot resume their conversation",
    );
}
