//! `fleet init`: a starter `agents.yaml` and `tasks/example.md`; never overwrites.
use std::path::Path;

use anyhow::{Context, Result};

use crate::manifest::FILE_NAME;

const MANIFEST: &str = r#"# fleet manifest: one git worktree + tmux session per agent.
# Every key is described in agents.yaml.example of the fleet repository.
# base: main                  # branch the worktrees start from (default: the current branch)
# worktree_dir: ../repo.worktrees   # default: ../<repo>.worktrees
command: claude --print       # run by `sh -c` in the agent's worktree, the task on stdin
# env: { RUST_LOG: info }     # added to every agent's environment
# setup: npm ci               # run in each new worktree before the agent starts
# copy: [.env]                # untracked files copied into each new worktree
agents:
  - name: example
    task: tasks/example.md
  # - name: agent2
  #   prompt: "Add input validation to the signup form."
  #   branch: feature/validation   # default: fleet/<name>
"#;

const TASK: &str = "# Task: <one line>

## What to do
- 

## Success criteria
- The tests pass (`...`).
- 

## Do NOT
- Do not change files outside <area>.
- Do not push, merge or rewrite history.
";

pub fn run(file: Option<&Path>) -> Result<i32> {
    let manifest = file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| FILE_NAME.into());
    let dir = manifest.parent().unwrap_or(Path::new("")).to_path_buf();
    let task = dir.join("tasks").join("example.md");
    for path in [&manifest, &task] {
        if path.exists() {
            anyhow::bail!(
                "{} already exists; fleet init never overwrites: edit it, or remove it first",
                path.display()
            );
        }
    }
    std::fs::create_dir_all(dir.join("tasks"))
        .with_context(|| format!("cannot create {}", dir.join("tasks").display()))?;
    std::fs::write(&task, TASK).with_context(|| format!("cannot write {}", task.display()))?;
    std::fs::write(&manifest, MANIFEST)
        .with_context(|| format!("cannot write {}", manifest.display()))?;
    println!("wrote {} and {}", manifest.display(), task.display());
    println!(
        "next: describe the work in {}, then `fleet validate` and `fleet up`",
        task.display()
    );
    Ok(0)
}
