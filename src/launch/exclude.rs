//! Keeping fleet's own files out of git: `.fleet/`, a `worktree_dir` inside the checkout and
//! aider's caches go into the repository's `info/exclude` (nothing to commit), for `init` and
//! for `up` before it starts agents.
use std::path::Path;

use anyhow::{Context, Result};

/// Add `dir` (`/<its path in the repo>/`, escaped for gitignore's globs) to the repository's
/// `info/exclude` (in its common git directory `common`, shared by all worktrees) unless it
/// is there or `dir` is outside the repository.
pub fn exclude(repo: &Path, common: &Path, dir: &Path) -> Result<()> {
    let Ok(rel) = dir.strip_prefix(repo) else {
        return Ok(());
    };
    let line = format!("/{}/", gitignore_escape(&rel.to_string_lossy()));
    exclude_pattern(common, "fleet's state", &line)
}

/// Add `pattern` (after a `# comment` line) to `info/exclude` in the common git directory
/// `common` unless it is there. Appended through [`crate::safe_fs`].
pub fn exclude_pattern(common: &Path, comment: &str, pattern: &str) -> Result<()> {
    use std::io::Write;
    let path = common.join("info").join("exclude");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current.lines().any(|l| l.trim_end_matches('\r') == pattern) {
        return Ok(());
    }
    let mut text = String::new();
    if !current.is_empty() && !current.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("# {comment}\n{pattern}\n"));
    crate::safe_fs::open(&path, crate::safe_fs::How::Append)
        .and_then(|mut f| Ok(f.write_all(text.as_bytes())?))
        .with_context(|| {
            format!(
                "cannot keep {pattern} out of git: add that line to {}",
                path.display()
            )
        })
}

/// `path` as a gitignore pattern that matches it literally: `\`, `*`, `?` and `[` escaped
/// with a backslash, and a trailing space (which git would drop).
pub fn gitignore_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '\\' | '*' | '?' | '[') {
            out.push('\\');
        }
        out.push(c);
    }
    if out.ends_with(' ') {
        out.pop();
        out.push_str("\\ ");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_globs_for_gitignore() {
        assert_eq!(super::gitignore_escape("a[1]/b*"), "a\\[1]/b\\*");
        assert_eq!(super::gitignore_escape("x "), "x\\ ");
    }
}
