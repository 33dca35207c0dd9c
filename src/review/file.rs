//! The review file: a help header (`#` lines), room for general notes, then the agent's
//! diff exactly as git prints it. The reviewer adds lines starting with `>` under any line
//! of the diff; fleet reads them back with the line they are under (its file, number and
//! hunk). `#` lines are ignored everywhere; the header's `# agent:` and `# commit:` lines
//! say whose work, and which commit of it, the file shows.
use crate::state::Comment;

use super::diff::{excerpt, Anchor, Reader};

/// What the header says, for a reader.
pub struct Header<'a> {
    pub agent: &'a str,
    pub round: u32,
    pub branch: &'a str,
    pub commit: &'a str,
    pub base: &'a str,
    pub merge_base: &'a str,
}

/// The review file of `diff`, ready for an editor.
pub fn write(h: &Header, diff: &str) -> String {
    let short = |c: &str| c.chars().take(12).collect::<String>();
    let mut out = format!(
        "# fleet review of {agent}, round {round}: {branch} at {commit} against {base} (merge-base {mb})
# agent: {agent}
# commit: {full}
#
# How to review (lines starting with # are ignored):
#  - General notes: write them here, above the diff.
#  - A comment on a line: a new line right under it, starting with >, e.g.
#        +    let total = parse(input).unwrap();
#        > do not unwrap here: return the error
#    Any line of any hunk (added +, removed -, or unchanged). Under a @@ line it is about
#    that hunk, under a diff --git line about that file. Several > lines in a row are one
#    comment.
#  - Leave the diff's own lines as they are: fleet finds each comment's line by them, and
#    refuses a comment whose line is no longer in {agent}'s diff when it is sent.
#  - Save and quit to send the review to {agent} (`fleet review {agent} --file FILE` sends
#    a file saved before). With no comments and no notes, nothing is sent.
",
        agent = h.agent,
        round = h.round,
        branch = h.branch,
        commit = short(h.commit),
        full = h.commit,
        base = h.base,
        mb = short(h.merge_base),
    );
    if diff.trim().is_empty() {
        out.push_str(&format!(
            "#\n# {} has no committed work against {}: only notes can be sent.\n",
            h.agent, h.base
        ));
    }
    out.push_str("\n\n");
    out.push_str(diff);
    out
}

/// A review file read back.
#[derive(Debug, Default)]
pub struct Parsed {
    /// `# agent:` of its header.
    pub agent: Option<String>,
    /// `# commit:` of its header: the commit its diff shows.
    pub commit: Option<String>,
    pub notes: String,
    pub comments: Vec<Comment>,
}

/// Read an edited review file: the notes above the diff, and each comment with the line it
/// is under. Err: every line that is neither the diff's, a comment nor a `#` line, each as
/// `line N: …`.
pub fn parse(text: &str) -> Result<Parsed, Vec<String>> {
    let mut parsed = Parsed::default();
    let mut reader = Reader::default();
    let mut problems = Vec::new();
    // The line the comments that follow are about.
    let mut anchor: Option<Anchor> = None;
    // The comment being written (its `>` lines so far), and those written.
    let mut open: Option<(Anchor, Vec<String>)> = None;
    let mut said: Vec<(Anchor, Vec<String>)> = Vec::new();
    let mut notes: Vec<&str> = Vec::new();
    let mut in_diff = false;
    for (i, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim();
            if let Some(a) = rest.strip_prefix("agent:").filter(|_| !in_diff) {
                parsed.agent.get_or_insert(a.trim().to_string());
            } else if let Some(c) = rest.strip_prefix("commit:").filter(|_| !in_diff) {
                parsed.commit.get_or_insert(c.trim().to_string());
            }
            continue;
        }
        if !in_diff && !line.starts_with("diff --git ") {
            let note = line
                .strip_prefix('>')
                .map_or(line, |l| l.strip_prefix(' ').unwrap_or(l));
            notes.push(note);
            continue;
        }
        in_diff = true;
        if let Some(rest) = line.strip_prefix('>') {
            let rest = rest
                .strip_prefix(' ')
                .unwrap_or(rest)
                .trim_end()
                .to_string();
            match (&mut open, anchor) {
                (Some((_, lines)), _) => lines.push(rest),
                (None, Some(a)) => open = Some((a, vec![rest])),
                (None, None) => problems.push(format!(
                    "line {}: a comment under no line of the diff",
                    i + 1
                )),
            }
            continue;
        }
        said.extend(open.take());
        match reader.feed(line) {
            Ok(Some(a)) => anchor = Some(a),
            Ok(None) => {}
            Err(why) => problems.push(format!(
                "line {}: `{}` is {why}; comments start with `>`, notes go above the diff",
                i + 1,
                crate::util::display(line)
            )),
        }
    }
    said.extend(open.take());
    if reader.unfinished() {
        problems.push("the file ends inside a hunk: lines of the diff were removed".into());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    parsed.notes = notes.join("\n").trim().to_string();
    parsed.comments = said
        .into_iter()
        .filter_map(|(a, lines)| {
            let text = lines.join("\n").trim().to_string();
            (!text.is_empty()).then(|| comment_at(&reader, a, text))
        })
        .collect();
    Ok(parsed)
}

/// The comment `text` on what `a` points at.
pub fn comment_at(reader: &Reader, a: Anchor, text: String) -> Comment {
    comment_in(&reader.files, a, text)
}

/// The comment `text` on what `a` points at in `files`.
pub fn comment_in(files: &[super::diff::File], a: Anchor, text: String) -> Comment {
    match a {
        Anchor::File(f) => Comment {
            file: files[f].path().to_string(),
            line: None,
            code: String::new(),
            hunk: String::new(),
            text,
        },
        Anchor::Hunk(f, h) => {
            let hunk = &files[f].hunks[h];
            Comment {
                file: files[f].path().to_string(),
                line: None,
                code: hunk.header.clone(),
                hunk: excerpt(hunk, None),
                text,
            }
        }
        Anchor::Line(f, h, l) => {
            let hunk = &files[f].hunks[h];
            let line = &hunk.lines[l];
            let file = &files[f];
            let path = if line.kind == super::diff::Kind::Removed {
                file.old.as_deref().unwrap_or(file.path())
            } else {
                file.path()
            };
            Comment {
                file: path.to_string(),
                line: Some(line.number()),
                code: line.shown(),
                hunk: excerpt(hunk, Some(l)),
                text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/x.rs b/x.rs
index 1111111..2222222 100644
--- a/x.rs
+++ b/x.rs
@@ -1,4 +1,4 @@
 a
-b
+B
 
 c
";

    fn file() -> String {
        write(
            &Header {
                agent: "a1",
                round: 2,
                branch: "fleet/a1",
                commit: "0123456789abcdef0123",
                base: "main",
                merge_base: "fedcba9876543210",
            },
            DIFF,
        )
    }

    #[test]
    fn an_untouched_file_has_nothing_to_send() {
        let p = parse(&file()).unwrap();
        assert_eq!(p.agent.as_deref(), Some("a1"));
        assert_eq!(p.commit.as_deref(), Some("0123456789abcdef0123"));
        assert!(p.notes.is_empty() && p.comments.is_empty());
    }

    #[test]
    fn comments_land_on_the_line_above_them() {
        let text = file()
            .replace("\n\n\ndiff", "\nPlease keep it short.\n\ndiff")
            .replace("-b\n", "-b\n> why remove b?\n")
            .replace("+B\n", "+B\n> B is fine\n>  but say why\n")
            .replace("@@ -1,4 +1,4 @@\n", "@@ -1,4 +1,4 @@\n> this hunk\n")
            .replace("\n \n", "\n\n> the empty line\n");
        let p = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.notes, "Please keep it short.");
        let got: Vec<(Option<u32>, &str, &str)> = p
            .comments
            .iter()
            .map(|c| (c.line, c.code.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (None, "@@ -1,4 +1,4 @@", "this hunk"),
                (Some(2), "-b", "why remove b?"),
                (Some(2), "+B", "B is fine\n but say why"),
                (Some(3), " ", "the empty line"),
            ],
            "{text}"
        );
        assert!(p.comments[1].hunk.starts_with("@@ -1,4 +1,4 @@\n a\n-b\n"));
    }

    #[test]
    fn a_stray_line_is_refused_with_its_number() {
        let text = file().replace("+B\n", "+B\nfix this\n");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("`fix this`"), "{e:?}");
        assert!(e[0].starts_with("line "), "{e:?}");
    }
}
