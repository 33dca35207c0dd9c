//! The follow-up a review round sends the agent: what is asked, the general notes, then
//! each comment with its file, line, the line itself and the hunk it is in, so the agent
//! knows exactly what was meant.
use crate::state::Comment;

/// The text sent to `agent`'s conversation for review round `round` of its branch at
/// `commit`.
pub fn follow_up(
    branch: &str,
    commit: &str,
    round: u32,
    notes: &str,
    comments: &[Comment],
) -> String {
    let short: String = commit.chars().take(12).collect();
    let mut out = format!(
        "A review of your work on branch {branch} (at commit {short}), round {round}. Address \
         every point below in your worktree, commit your changes, and stop. Each comment names \
         the file and line it is about and quotes the hunk of your diff it is in.\n"
    );
    if !notes.is_empty() {
        out.push_str(&format!("\nGeneral notes:\n{}\n", indent(notes, "  ")));
    }
    for (i, c) in comments.iter().enumerate() {
        out.push_str(&format!(
            "\nComment {} of {}, on {}:\n",
            i + 1,
            comments.len(),
            c.place()
        ));
        if c.line.is_some() {
            out.push_str(&format!("  the line: {}\n", c.code));
        }
        out.push_str(&indent(&c.text, "  > "));
        out.push('\n');
        // A hunk quoted once: later comments on it say so.
        match comments[..i].iter().position(|p| p.hunk == c.hunk) {
            _ if c.hunk.is_empty() => {}
            Some(p) => out.push_str(&format!("  the hunk: as quoted under comment {}\n", p + 1)),
            None => {
                out.push_str("  the hunk:\n");
                out.push_str(&indent(c.hunk.trim_end(), "    "));
                out.push('\n');
            }
        }
    }
    out
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_comment_goes_with_its_file_line_and_hunk() {
        let c = Comment {
            file: "src/x.rs".into(),
            line: Some(12),
            code: "+    x.unwrap();".into(),
            hunk: "@@ -10,2 +10,3 @@\n a\n+    x.unwrap();\n b\n".into(),
            text: "return the error".into(),
        };
        let m = follow_up("fleet/a1", "0123456789abcdef", 2, "Keep it short.", &[c]);
        assert!(m.contains("round 2"), "{m}");
        assert!(m.contains("General notes:\n  Keep it short.\n"), "{m}");
        assert!(m.contains("Comment 1 of 1, on src/x.rs line 12:\n  the line: +    x.unwrap();\n  > return the error\n  the hunk:\n    @@ -10,2 +10,3 @@\n     a\n"), "{m}");
    }
}
