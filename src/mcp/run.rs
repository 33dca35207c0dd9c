//! Running one tool call: this same fleet binary as a child process on the manifest the
//! server was started with (`fleet -f MANIFEST status --json`, …), its stdout the answer and
//! its stderr the error. So the MCP layer never repeats a command's logic and never holds
//! fleet's `.fleet` lock itself: each command takes it as it always does.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::tools::Call;

/// What a finished tool call returns: structured content (always an object), the text
/// beside it, and whether it is a tool error.
#[derive(Debug)]
pub struct Outcome {
    pub structured: Value,
    pub text: String,
    pub error: bool,
}

impl Outcome {
    /// A tool error with fleet's own message.
    pub fn refused(message: String) -> Self {
        Outcome {
            structured: json!({"error": message}),
            text: message,
            error: true,
        }
    }
}

/// The fleet binary and the manifest every call runs on.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub exe: PathBuf,
    pub manifest: PathBuf,
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Fleet {
    fn run(&self, args: &[String]) -> Result<Output, String> {
        let out = Command::new(&self.exe)
            .arg("-f")
            .arg(&self.manifest)
            .args(args)
            .stdin(Stdio::null())
            .env("NO_COLOR", "1")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))?;
        Ok(Output {
            // Killed by a signal: no code; reported as a failure.
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run `call` and turn its exit code and output into the tool's answer.
    pub fn call(&self, call: &Call) -> Outcome {
        let out = match self.run(&call.args) {
            Ok(out) => out,
            Err(e) => return Outcome::refused(e),
        };
        if out.code != 0 && !call.answers.contains(&out.code) {
            return Outcome::refused(error_text(&out));
        }
        if call.json {
            return match serde_json::from_str::<Value>(&out.stdout) {
                Ok(v) if v.is_object() => Outcome {
                    text: v.to_string(),
                    structured: v,
                    error: false,
                },
                _ => Outcome::refused(format!(
                    "fleet {} printed no JSON object: {}",
                    call.tool,
                    error_text(&out)
                )),
            };
        }
        let (stdout, truncated) = cut(&out.stdout, call.max_bytes);
        let mut structured = json!({
            "exit_code": out.code,
            "output": stdout,
            "truncated": truncated,
        });
        let mut text = join(stdout, out.stderr.trim_end());
        if truncated {
            text.push_str(&format!(
                "\n[fleet mcp: cut at {} bytes; ask with a larger max_bytes, or stat]",
                call.max_bytes
            ));
        }
        if !out.stderr.trim().is_empty() {
            structured["messages"] = Value::String(out.stderr.trim_end().to_string());
        }
        if call.tool == "wait" {
            self.after_wait(call, out.code, &mut structured, &mut text);
        }
        Outcome {
            structured,
            text,
            error: false,
        }
    }

    /// `wait`'s answer: how it ended, and the status of the agents it waited for.
    fn after_wait(&self, call: &Call, code: i32, structured: &mut Value, text: &mut String) {
        let outcome = match code {
            0 => "done",
            124 => "timeout",
            _ => "failed",
        };
        structured["outcome"] = Value::String(outcome.into());
        let names = call.args.iter().skip_while(|a| *a != "--").skip(1).cloned();
        let mut args = vec!["status".to_string(), "--json".into()];
        args.extend(names);
        if let Ok(out) = self.run(&args) {
            if let Ok(v) = serde_json::from_str::<Value>(&out.stdout) {
                structured["status"] = v;
            }
        }
        text.insert_str(0, &format!("wait: {outcome}\n"));
    }
}

/// fleet's error message: its stderr (without the `error: ` it prints first), else stdout.
fn error_text(out: &Output) -> String {
    let text = if out.stderr.trim().is_empty() {
        out.stdout.trim()
    } else {
        out.stderr.trim()
    };
    let text = text.strip_prefix("error: ").unwrap_or(text);
    if text.is_empty() {
        format!("fleet exited with {}", out.code)
    } else {
        text.to_string()
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_string(),
        (true, false) => b.to_string(),
        (false, false) => format!("{}\n{b}", a.trim_end()),
    }
}

/// `s` cut to at most `max` bytes at a character boundary; whether anything was cut.
fn cut(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// This fleet binary (what the tools run), resolved once at start.
pub fn this_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find this fleet binary: {e}"))
}

/// The manifest path as an absolute path (the tools pass it with `-f`).
pub fn fleet(exe: PathBuf, manifest: &Path) -> Fleet {
    Fleet {
        exe,
        manifest: manifest.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("héllo", 2), ("h", true));
        assert_eq!(cut("abc", 5), ("abc", false));
    }
}
