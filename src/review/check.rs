//! A review's comments against the agent's diff at the moment it is sent: each comment's
//! line must still be in it (the agent may have moved on since the review file was
//! written). A line found where it was, or once elsewhere in the same file, is sent with
//! its place now; one found nowhere, or in several places, is refused with the line, never
//! sent against the wrong code.
use crate::state::Comment;

use super::diff::{Anchor, File, Kind};
use super::file::comment_in;

/// The comments as they stand in `now` (the agent's diff now), or the ones whose line is no
/// longer there, each said with its file, line and text.
pub fn against(comments: &[Comment], now: &[File]) -> Result<Vec<Comment>, Vec<String>> {
    let mut sent = Vec::new();
    let mut stale = Vec::new();
    for c in comments {
        match find(c, now) {
            Some(a) => sent.push(comment_in(now, a, c.text.clone())),
            None => stale.push(format!(
                "{}: `{}` is no longer in the diff",
                c.place(),
                crate::util::display(if c.code.is_empty() { &c.file } else { &c.code })
            )),
        }
    }
    if stale.is_empty() {
        Ok(sent)
    } else {
        Err(stale)
    }
}

/// Where comment `c` stands in `now`: the same line at the same place; else the one line of
/// the same file with the same text and side; for a hunk, a hunk with the same @@ line; for
/// a file, the file.
fn find(c: &Comment, now: &[File]) -> Option<Anchor> {
    let on_path = |f: &File| {
        if c.removed() {
            f.old.as_deref() == Some(c.file.as_str())
        } else {
            f.new.as_deref() == Some(c.file.as_str()) || f.path() == c.file
        }
    };
    let (fi, file) = now.iter().enumerate().find(|(_, f)| on_path(f))?;
    let Some(number) = c.line else {
        if c.code.is_empty() {
            return Some(Anchor::File(fi));
        }
        let hi = file.hunks.iter().position(|h| h.header == c.code)?;
        return Some(Anchor::Hunk(fi, hi));
    };
    let want = c.code.trim_end();
    let removed = c.removed();
    let mut same_text = Vec::new();
    for (hi, h) in file.hunks.iter().enumerate() {
        for (li, l) in h.lines.iter().enumerate() {
            if (l.kind == Kind::Removed) != removed || l.shown().trim_end() != want {
                continue;
            }
            if l.number() == number {
                return Some(Anchor::Line(fi, hi, li));
            }
            same_text.push(Anchor::Line(fi, hi, li));
        }
    }
    match same_text[..] {
        [one] => Some(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::diff::read;
    use super::super::file::parse;
    use super::*;

    const BEFORE: &str = "diff --git a/x b/x
--- a/x
+++ b/x
@@ -1,2 +1,3 @@
 a
+new
 b
";

    #[test]
    fn a_moved_line_follows_and_a_gone_line_is_refused() {
        let text = BEFORE.replace("+new\n", "+new\n> why new?\n");
        let comments = parse(&text).unwrap().comments;
        // the agent added two lines above: `+new` is line 4 now
        let moved = BEFORE.replace("@@ -1,2 +1,3 @@\n a\n", "@@ -1,2 +1,5 @@\n a\n+x\n+y\n");
        let sent = against(&comments, &read(&moved)).unwrap();
        assert_eq!((sent[0].line, sent[0].code.as_str()), (Some(4), "+new"));
        // the agent took it out again
        let gone = BEFORE.replace("+new", "+other");
        let stale = against(&comments, &read(&gone)).unwrap_err();
        assert_eq!(stale, ["x line 2: `+new` is no longer in the diff"]);
    }
}
