//! `fleet completions SHELL`: clap_complete's script, extended so that the agent names of
//! the manifest complete too (through the hidden `fleet _agents`).
use std::path::Path;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell};

/// The subcommands whose positional arguments are agent names.
pub const AGENT_COMMANDS: [&str; 11] = [
    "up",
    "attach",
    "status",
    "logs",
    "diff",
    "wait",
    "merge",
    "conflicts",
    "continue",
    "review",
    "down",
];

/// The subcommands that take at most one agent name.
const ONE_AGENT: [&str; 5] = ["attach", "logs", "diff", "continue", "review"];

pub fn run(shell: CompletionShell) -> Result<i32> {
    print!("{}", script(shell));
    Ok(0)
}

/// The whole completion script for `shell`.
pub fn script(shell: CompletionShell) -> String {
    let mut cmd = visible(Cli::command());
    let mut out = Vec::new();
    let generator = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "fleet", &mut out);
    let generated = String::from_utf8_lossy(&out).into_owned();
    match shell {
        CompletionShell::Bash => bash(&generated),
        CompletionShell::Zsh => zsh(&generated),
        CompletionShell::Fish => fish(&generated),
    }
}

/// The command without its hidden (internal) subcommands, which clap_complete would offer.
fn visible(cmd: clap::Command) -> clap::Command {
    let mut out = clap::Command::new("fleet").version(env!("CARGO_PKG_VERSION"));
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    out = out.propagate_version(true);
    for arg in cmd.get_arguments() {
        out = out.arg(arg.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(sub.clone());
    }
    out
}

/// `fleet _agents`: the manifest's agent names, one a line. Completion must never be noisy:
/// no manifest, an unreadable or broken one, all print nothing and exit 0. The names are
/// read leniently (any `agents[].name` string), so a manifest with another problem, or
/// outside a git repository, still completes.
pub fn agents(file: Option<&Path>) -> Result<i32> {
    for name in agent_names(file) {
        println!("{name}");
    }
    Ok(0)
}

fn agent_names(file: Option<&Path>) -> Vec<String> {
    let Ok(path) = crate::manifest::locate(file) else {
        return Vec::new();
    };
    let Ok(text) = crate::manifest::read_text(&path) else {
        return Vec::new();
    };
    crate::manifest::agent_names_loosely(&text)
}

fn bash(generated: &str) -> String {
    let all = AGENT_COMMANDS.join("|");
    let one = ONE_AGENT.join("|");
    // The generated `complete` lines (one per bash version) register our wrapper instead.
    let generated = generated.replace("complete -F _fleet -o", "complete -F _fleet_with_agents -o");
    format!(
        r#"{generated}
# Agent names, from the manifest (`fleet _agents`), for the commands that take them.
_fleet_with_agents() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}}
    local i w cmd= file= want_file= positionals=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${{COMP_WORDS[i]}}
        if [[ -n $want_file ]]; then
            file=$w
            want_file=
            continue
        fi
        case $w in
            --file)
                if [[ $cmd == review ]]; then ((i++)); else want_file=1; fi ;;
            --file=*) [[ $cmd == review ]] || file=${{w#--file=}} ;;
            -f)
                if [[ $cmd == continue || $cmd == review ]]; then ((i++))
                elif [[ $cmd != logs ]]; then want_file=1
                fi ;;
            -n|--lines|--timeout|-m|--message|--message-file|--review-file) ((i++)) ;;
            -*) ;;
            *) if [[ -z $cmd ]]; then cmd=$w; else ((positionals++)); fi ;;
        esac
    done
    [[ $file == "~/"* ]] && file=$HOME/${{file#"~/"}}
    if [[ -z $want_file && $cur != -* ]]; then
        case $cmd in
            {one})
                if ((positionals == 0)); then
                    COMPREPLY=($(compgen -W "$(fleet ${{file:+-f "$file"}} _agents 2>/dev/null)" -- "$cur"))
                    return 0
                fi ;;
            {all})
                COMPREPLY=($(compgen -W "$(fleet ${{file:+-f "$file"}} _agents 2>/dev/null)" -- "$cur"))
                return 0 ;;
        esac
    fi
    _fleet "$@"
}}
"#
    )
}

/// zsh: the positional NAME(S) of the agent commands complete with `_fleet_agents`.
fn zsh(generated: &str) -> String {
    const FUNCTION: &str = r#"# Agent names, from the manifest (`fleet _agents`); -f/--file FILE on the line is passed on.
(( $+functions[_fleet_agents] )) ||
_fleet_agents() {
    local -a agents line_words file_args
    local i next
    line_words=(${(z)LBUFFER})
    for (( i = 2; i < ${#line_words}; i++ )); do
        next=${(Q)line_words[i+1]}
        case ${line_words[i]} in
            (-f|--file) [[ -f $next ]] && file_args=(-f "$next") ;;
            (--file=*) file_args=(-f "${(Q)${line_words[i]#--file=}}") ;;
        esac
    done
    local -a expl
    agents=(${(f)"$(fleet "${file_args[@]}" _agents 2>/dev/null)"})
    _wanted agents expl 'agent' compadd -a agents
}

"#;
    let mut out = String::with_capacity(generated.len() + FUNCTION.len());
    for line in generated.lines() {
        if line.starts_with("if [ \"$funcstack[1]\" = \"_fleet\" ]") {
            out.push_str(FUNCTION);
        }
        let agent_positional = ["'*::names -- ", "'::name -- ", "':name -- "]
            .iter()
            .any(|p| line.starts_with(p));
        match line.strip_suffix(":_default' \\") {
            Some(spec) if agent_positional => {
                out.push_str(spec);
                out.push_str(":_fleet_agents' \\");
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// fish: agent names after the agent commands; a -f/--file before the command is passed on.
fn fish(generated: &str) -> String {
    format!(
        r#"{generated}
# Agent names, from the manifest (`fleet _agents`).
function __fish_fleet_agents
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_fleet_global_optspecs) -- $cmd 2>/dev/null
    if set -q _flag_file[1]
        fleet -f $_flag_file[-1] _agents 2>/dev/null
    else
        fleet _agents 2>/dev/null
    end
end
complete -c fleet -n "__fish_fleet_using_subcommand {}" -f -a '(__fish_fleet_agents)' -d agent
"#,
        AGENT_COMMANDS.join(" ")
    )
}
