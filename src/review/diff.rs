//! A unified diff as git prints it (`git::diff_text`), read line by line into files, hunks
//! and numbered lines: the same reader for the diff fleet writes into a review file and for
//! the agent's diff at the moment the review is sent, so a comment's line is found in both
//! alike.

/// What a line of a hunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Context,
    Added,
    Removed,
}

impl Kind {
    pub fn prefix(self) -> char {
        match self {
            Kind::Context => ' ',
            Kind::Added => '+',
            Kind::Removed => '-',
        }
    }
}

/// One line of a hunk with its numbers in the old and the new file (the one it is not in:
/// 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: Kind,
    pub text: String,
    pub old: u32,
    pub new: u32,
}

impl Line {
    /// Its number where it is: the old file's for a removed line, else the new file's.
    pub fn number(&self) -> u32 {
        if self.kind == Kind::Removed {
            self.old
        } else {
            self.new
        }
    }

    /// The line as the diff shows it.
    pub fn shown(&self) -> String {
        format!("{}{}", self.kind.prefix(), self.text)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hunk {
    /// Its `@@ -a,b +c,d @@ …` line.
    pub header: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct File {
    /// The path before (None: a new file) and after (None: a deleted file).
    pub old: Option<String>,
    pub new: Option<String>,
    pub hunks: Vec<Hunk>,
}

impl File {
    /// The path it has now, else the one it had.
    pub fn path(&self) -> &str {
        self.new.as_deref().or(self.old.as_deref()).unwrap_or("?")
    }
}

/// Where a line of the diff belongs: a file, one of its hunks, or a line of that hunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    File(usize),
    Hunk(usize, usize),
    Line(usize, usize, usize),
}

/// Reads a diff one line at a time.
#[derive(Debug, Default)]
pub struct Reader {
    pub files: Vec<File>,
    /// Lines of the current hunk still to come, old side and new side.
    left: (u32, u32),
    /// The next line's numbers in the old and the new file.
    at: (u32, u32),
}

/// File-header lines git prints between `diff --git` and the first hunk.
const HEADERS: [&str; 12] = [
    "index ",
    "new file mode ",
    "deleted file mode ",
    "old mode ",
    "new mode ",
    "similarity index ",
    "dissimilarity index ",
    "rename from ",
    "rename to ",
    "copy from ",
    "copy to ",
    "Binary files ",
];

impl Reader {
    /// Read one line: where it belongs, None for one that belongs nowhere (a blank line
    /// between files, git's `\ No newline at end of file`), Err(why) for a line that is not
    /// part of a diff.
    pub fn feed(&mut self, line: &str) -> Result<Option<Anchor>, String> {
        if self.left != (0, 0) {
            return self.hunk_line(line);
        }
        if line.starts_with('\\') || line.trim().is_empty() {
            return Ok(None);
        }
        if let Some(rest) = line.strip_prefix("diff --git ") {
            let (old, new) = git_paths(rest);
            self.files.push(File {
                old: Some(old),
                new: Some(new),
                hunks: Vec::new(),
            });
            return Ok(Some(Anchor::File(self.files.len() - 1)));
        }
        let Some(f) = self.files.len().checked_sub(1) else {
            return Err("the diff has not begun (`diff --git …`) here".into());
        };
        if line.starts_with("@@ ") {
            let (old, new) = hunk_start(line).ok_or("a hunk's @@ line that cannot be read")?;
            self.at = (old.0, new.0);
            self.left = (old.1, new.1);
            self.files[f].hunks.push(Hunk {
                header: line.trim_end().to_string(),
                lines: Vec::new(),
            });
            return Ok(Some(Anchor::Hunk(f, self.files[f].hunks.len() - 1)));
        }
        let file = &mut self.files[f];
        if let Some(p) = line.strip_prefix("--- ") {
            file.old = side_path(p, "a/");
        } else if let Some(p) = line.strip_prefix("+++ ") {
            file.new = side_path(p, "b/");
        } else if let Some(p) = line.strip_prefix("rename from ") {
            file.old = Some(p.to_string());
        } else if let Some(p) = line.strip_prefix("rename to ") {
            file.new = Some(p.to_string());
        } else if line.starts_with("new file mode ") {
            file.old = None;
        } else if line.starts_with("deleted file mode ") {
            file.new = None;
        } else if !HEADERS.iter().any(|h| line.starts_with(h)) && line != "GIT binary patch" {
            return Err("not a line of the diff".into());
        }
        Ok(Some(Anchor::File(f)))
    }

    /// A line inside a hunk that has lines to come. An empty line is an unchanged empty line
    /// (git writes a lone space, which editors like to strip).
    fn hunk_line(&mut self, line: &str) -> Result<Option<Anchor>, String> {
        if line.starts_with('\\') {
            return Ok(None);
        }
        let (kind, text) = match line.chars().next() {
            None => (Kind::Context, ""),
            Some(' ') => (Kind::Context, &line[1..]),
            Some('+') => (Kind::Added, &line[1..]),
            Some('-') => (Kind::Removed, &line[1..]),
            Some(_) => {
                return Err(format!(
                    "not a line of the hunk, which has {} more line{} to come",
                    self.left.0.max(self.left.1),
                    if self.left.0.max(self.left.1) == 1 {
                        ""
                    } else {
                        "s"
                    }
                ))
            }
        };
        let (old, new) = match kind {
            Kind::Context => (true, true),
            Kind::Added => (false, true),
            Kind::Removed => (true, false),
        };
        if (old && self.left.0 == 0) || (new && self.left.1 == 0) {
            return Err("a line more than the hunk's @@ line counts".into());
        }
        let mut numbers = (0, 0);
        if old {
            numbers.0 = self.at.0;
            self.at.0 += 1;
            self.left.0 -= 1;
        }
        if new {
            numbers.1 = self.at.1;
            self.at.1 += 1;
            self.left.1 -= 1;
        }
        let f = self.files.len() - 1;
        let hunk = self.files[f].hunks.len() - 1;
        let lines = &mut self.files[f].hunks[hunk].lines;
        lines.push(Line {
            kind,
            text: text.to_string(),
            old: numbers.0,
            new: numbers.1,
        });
        Ok(Some(Anchor::Line(f, hunk, lines.len() - 1)))
    }

    /// The hunk ended short of what its @@ line counts (the file ended).
    pub fn unfinished(&self) -> bool {
        self.left != (0, 0)
    }
}

/// A whole diff read (git's own output: a line it cannot read is skipped).
pub fn read(text: &str) -> Vec<File> {
    let mut r = Reader::default();
    for line in text.lines() {
        let _ = r.feed(line);
    }
    r.files
}

/// `@@ -a,b +c,d @@`: ((a, b), (c, d)), a missing count being 1.
fn hunk_start(line: &str) -> Option<((u32, u32), (u32, u32))> {
    let mut words = line.split(' ').skip(1);
    let side = |w: Option<&str>, sign: char| -> Option<(u32, u32)> {
        let w = w?.strip_prefix(sign)?;
        let (start, count) = w.split_once(',').unwrap_or((w, "1"));
        Some((start.parse().ok()?, count.parse().ok()?))
    };
    let old = side(words.next(), '-')?;
    let new = side(words.next(), '+')?;
    Some((old, new))
}

/// The path of a `---`/`+++` line: None for `/dev/null`.
fn side_path(p: &str, prefix: &str) -> Option<String> {
    let p = p.trim_end_matches(['\t', '\r']);
    if p == "/dev/null" {
        return None;
    }
    Some(p.strip_prefix(prefix).unwrap_or(p).to_string())
}

/// The two paths of `diff --git a/X b/Y` (until `---`/`+++` say them exactly).
fn git_paths(rest: &str) -> (String, String) {
    let rest = rest.trim_end();
    let half = (rest.len().saturating_sub(1)) / 2;
    // The same path twice splits in the middle; else at the last ` b/`.
    let split = if rest.is_char_boundary(half)
        && rest[..half].strip_prefix("a/")
            == rest.get(half + 1..).and_then(|s| s.strip_prefix("b/"))
    {
        Some(half)
    } else {
        rest.rfind(" b/")
    };
    match split {
        Some(i) => (
            rest[..i].trim_start_matches("a/").to_string(),
            rest[i + 1..].trim_start_matches("b/").to_string(),
        ),
        None => (rest.to_string(), rest.to_string()),
    }
}

/// The hunk's text for a comment on its line `at` (None: on the whole hunk): all of it when
/// short, else the lines around `at`, saying how many were left out.
pub fn excerpt(hunk: &Hunk, at: Option<usize>) -> String {
    const WHOLE: usize = 40;
    const AROUND: usize = 12;
    let n = hunk.lines.len();
    let (from, to) = match at {
        _ if n <= WHOLE => (0, n),
        Some(i) => (i.saturating_sub(AROUND), (i + AROUND + 1).min(n)),
        None => (0, WHOLE),
    };
    let mut out = format!("{}\n", hunk.header);
    if from > 0 {
        out.push_str(&format!("[… {from} lines of the hunk before]\n"));
    }
    for l in &hunk.lines[from..to] {
        out.push_str(&l.shown());
        out.push('\n');
    }
    if to < n {
        out.push_str(&format!("[… {} lines of the hunk after]\n", n - to));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/src/x.rs b/src/x.rs
index 1111111..2222222 100644
--- a/src/x.rs
+++ b/src/x.rs
@@ -1,3 +1,4 @@ fn main() {
 a
-b
+B
+c
 d
\\ No newline at end of file
diff --git a/new file.txt b/new file.txt
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/new file.txt\t
@@ -0,0 +1 @@
+hello
";

    #[test]
    fn reads_files_hunks_and_numbers() {
        let files = read(DIFF);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path(), "src/x.rs");
        let lines = &files[0].hunks[0].lines;
        let seen: Vec<(String, u32)> = lines.iter().map(|l| (l.shown(), l.number())).collect();
        assert_eq!(
            seen,
            [
                (" a".to_string(), 1),
                ("-b".to_string(), 2),
                ("+B".to_string(), 2),
                ("+c".to_string(), 3),
                (" d".to_string(), 4)
            ]
        );
        assert_eq!(files[1].old, None);
        assert_eq!(files[1].path(), "new file.txt");
        assert_eq!(files[1].hunks[0].lines[0].shown(), "+hello");
        assert_eq!(git_paths("a/x y b/x y"), ("x y".into(), "x y".into()));
        assert_eq!(git_paths("a/old b/new"), ("old".into(), "new".into()));
    }

    #[test]
    fn refuses_what_is_not_a_diff_line() {
        let mut r = Reader::default();
        assert!(r.feed("hello").is_err());
        for l in DIFF.lines().take(5) {
            r.feed(l).unwrap();
        }
        assert_eq!(r.feed("").unwrap(), Some(Anchor::Line(0, 0, 0)));
        assert!(r.feed("fix this").is_err());
    }
}
