//! The task template `fleet init` writes, and how to tell a task that still holds it (which
//! `fleet validate` warns about: an agent given it would be asked to do nothing in particular).

/// `tasks/<name>.md` as `fleet init` writes it: What to do / Success criteria / Do NOT.
pub const TASK: &str = "# Task: <one line>

## What to do
- 

## Success criteria
- The tests pass (`...`).
- 

## Do NOT
- Do not change files outside <area>.
- Do not push, merge or rewrite history.
";

/// The parts of the template still in a task's `text`, as the user would find them in the
/// file: its placeholder title, its empty `- ` bullets, its placeholders. Empty when the task
/// was written (or never came from `fleet init`).
pub fn left_in(text: &str) -> Vec<&'static str> {
    let mut left = Vec::new();
    if text.lines().any(|l| l.trim() == "# Task: <one line>") {
        left.push("`# Task: <one line>`");
    }
    // Only a task that otherwise looks like the template: a `- ` list item left empty.
    let from_template = ["## What to do", "## Success criteria", "## Do NOT"]
        .iter()
        .any(|h| text.lines().any(|l| l.trim_end() == *h));
    if from_template && text.lines().any(|l| l.trim() == "-") {
        left.push("empty `- ` bullets");
    }
    for placeholder in ["<area>", "(`...`)"] {
        if text.contains(placeholder) {
            left.push(match placeholder {
                "<area>" => "`<area>`",
                _ => "`(`...`)`",
            });
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_template_from_a_written_task() {
        assert_eq!(left_in(TASK).len(), 4);
        let written = TASK
            .replace("<one line>", "add a --json flag")
            .replace("- \n", "- print the table as JSON\n")
            .replace("(`...`)", "(`cargo test`)")
            .replace("<area>", "src/commands");
        assert!(left_in(&written).is_empty(), "{:?}", left_in(&written));
        assert!(left_in("Fix the bug.\n-\n").is_empty());
    }
}
