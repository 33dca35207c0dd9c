//! The manifest's top-level settings once resolved ([`Top`]): what `resolve` makes first and
//! every agent (`agent`) is then resolved against.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level settings, resolved: what every agent is resolved against.
pub(super) struct Top<'a> {
    /// The manifest's own path (absolute): what `mcp:` hands the agent's `fleet mcp`.
    pub(super) manifest: PathBuf,
    /// The manifest's directory: relative paths are relative to it.
    pub(super) dir: &'a Path,
    /// The git repository holding the manifest, if one does (a problem otherwise).
    pub(super) repo: Option<&'a Path>,
    /// The repository's top directory, or the manifest's directory outside one.
    pub(super) repo_path: PathBuf,
    pub(super) repo_name: String,
    pub(super) project: String,
    pub(super) worktree_dir: PathBuf,
    pub(super) state_dir: PathBuf,
    /// `.fleet/` is there but not a directory (reported once, not for each log in it).
    pub(super) state_dir_bad: bool,
    pub(super) per_window: u32,
    /// The top-level `env:`.
    pub(super) env: BTreeMap<String, String>,
    /// (source, path relative to the repository) of each `copy:` file.
    pub(super) copy: Vec<(PathBuf, PathBuf)>,
    /// The top-level `seed:`.
    pub(super) seed: Vec<super::seed::Seed>,
}
