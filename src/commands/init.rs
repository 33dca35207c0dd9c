//! `fleet init`: a starter `agents.yaml` and `tasks/example.md` (or N agents with their task
//! files); never overwrites, and keeps `.fleet/` out of git.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::InitArgs;
use crate::manifest::FILE_NAME;
use crate::template::TASK;

const HEADER: &str = r#"# fleet manifest: one git worktree + tmux session per agent.
# Every key is described in agents.yaml.example of the fleet repository.
# base: main                  # branch the worktrees start from (default: the current branch)
# worktree_dir: ../repo.worktrees   # default: ../<repo>.worktrees
agent: claude                 # claude | codex | aider | gemini | shell: fleet runs its headless mode
permissions: edit             # read-only | edit | full: what the agent may do without asking
{sandbox}# args: [--model, opus]       # extra arguments for the agent's CLI (the preset stays)
# command: my-agent --flag    # or any command: run by `sh -c` in the worktree, the task on stdin
# interactive: true           # its TUI in the pane instead; answer it after `fleet attach NAME`
# env: { RUST_LOG: info }     # added to every agent's environment
# setup: npm ci               # run in each new worktree before the agent starts
# copy: [.env]                # untracked files copied into each new worktree
agents:
"#;

const MORE: &str = r#"  # - name: agent2
  #   prompt: "Add input validation to the signup form."
  #   branch: feature/validation   # default: fleet/<name>
"#;

/// The `sandbox:` line of a new manifest: true where a box can be made here (`fleet
/// doctor` says why not, otherwise).
fn sandbox_line() -> &'static str {
    match crate::sandbox::works() {
        Ok(()) => "sandbox: true                 # each agent in its own box: it writes only its worktree and branch\n",
        Err(_) => "# sandbox: true              # each agent in its own box (needs bubblewrap: see `fleet doctor`)\n",
    }
}

/// The manifest for these agents, each with its task file `tasks/<name>.md`.
fn manifest(names: &[String]) -> String {
    let mut text = HEADER.replace("{sandbox}", sandbox_line());
    for name in names {
        text.push_str(&format!("  - name: {name}\n    task: tasks/{name}.md\n"));
    }
    if names.len() == 1 {
        text.push_str(MORE);
    } else {
        text.push_str(&MORE.replace("agent2", "another"));
    }
    text
}

pub fn run(file: Option<&Path>, args: &InitArgs) -> Result<i32> {
    let manifest_path = file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| FILE_NAME.into());
    let dir = manifest_path
        .parent()
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let names: Vec<String> = match args.agents {
        Some(n) => (1..=n).map(|i| format!("agent{i}")).collect(),
        None => vec!["example".into()],
    };
    let tasks: Vec<PathBuf> = names
        .iter()
        .map(|n| dir.join("tasks").join(format!("{n}.md")))
        .collect();
    let existing: Vec<String> = std::iter::once(&manifest_path)
        .chain(&tasks)
        // A dangling symlink exists too: fleet writes through none.
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        anyhow::bail!(
            "{} already exist{}; fleet init never overwrites and wrote nothing: edit {}, or remove {} first",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" },
            if existing.len() == 1 { "it" } else { "them" },
            if existing.len() == 1 { "it" } else { "them" },
        );
    }
    // The directory the user named, through the symlinks of its part that exists (resolved
    // once, as `fleet up` resolves the manifest's directory); none is followed below it.
    let real_dir = crate::manifest::real_path(&std::env::current_dir()?.join(&dir));
    need_repository(&real_dir)?;
    let real = |p: &Path| real_dir.join(p.strip_prefix(&dir).unwrap_or(p));
    for task in &tasks {
        write_new(&real(task), TASK)?;
    }
    write_new(&real(&manifest_path), &manifest(&names))?;
    let excluded = exclude_state_dir(&dir).unwrap_or(false);
    let written = match tasks.as_slice() {
        [one] => one.display().to_string(),
        many => format!(
            "{} task files ({} … {})",
            many.len(),
            many[0].display(),
            many[many.len() - 1].display()
        ),
    };
    crate::info!("wrote {} and {written}", manifest_path.display());
    if excluded {
        crate::info!("fleet's state dir .fleet/ is kept out of git (.git/info/exclude)");
    }
    crate::info!(
        "next: describe the work in {}, then `fleet validate` and `fleet up`",
        if tasks.len() == 1 {
            tasks[0].display().to_string()
        } else {
            dir.join("tasks").join("*.md").display().to_string()
        }
    );
    Ok(0)
}

/// fleet runs each agent on a git worktree: a manifest outside any repository could start
/// nothing, so none is written there (a usage error saying what to do instead).
fn need_repository(dir: &Path) -> Result<()> {
    // The part of `dir` that exists (`-f new/dir/agents.yaml` names directories to come).
    let existing = dir.ancestors().find(|d| d.is_dir()).unwrap_or(dir);
    if crate::git::toplevel(existing)?.is_some() {
        return Ok(());
    }
    crate::usage(format!(
        "{} is not inside a git repository, and fleet runs each agent on a git worktree of one; \
         nothing was written: run `fleet init` in your repository, or make this one first \
         (`git init && git commit --allow-empty -m init`)",
        crate::util::display_path(dir)
    ))
}

/// Create the user's file `path` holding `text`; it must not exist (not even as a symlink).
fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    crate::safe_fs::open(path, crate::safe_fs::How::New)?
        .write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Keep the `.fleet/` beside the manifest in `dir` out of git, through the repository's
/// `.git/info/exclude` (nothing to commit); false outside a git repository.
fn exclude_state_dir(dir: &Path) -> Result<bool> {
    let cwd = std::env::current_dir()?;
    let abs = crate::manifest::real_path(&cwd.join(dir));
    let Some(repo) = crate::git::toplevel(&abs)? else {
        return Ok(false);
    };
    let common = crate::git::common_dir(&repo)?;
    crate::launch::exclude::exclude(&repo, &common, &abs.join(".fleet"))?;
    Ok(true)
}
