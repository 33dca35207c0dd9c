//! `fleet mcp [--as NAME] [--lead]`: serve fleet's commands as MCP tools on stdio, on the
//! manifest found as every command finds it (`-f`, `$FLEET_FILE`, the nearest
//! `agents.yaml`). The manifest is read once here, to check it and `--as`; each tool call
//! then runs fleet again on that same file (see `mcp`). In a sandboxed agent's box
//! (`$FLEET_MCP_SOCKET` set) it only relays to the server the runner serves outside.
use anyhow::Result;

use crate::cli::McpArgs;
use crate::mcp::{self, Role};

pub fn run(file: Option<&std::path::Path>, args: &McpArgs) -> Result<i32> {
    // In a sandboxed agent's box the server runs outside (its role the run spec's): this
    // one only relays.
    if let Some(socket) = std::env::var_os(crate::preset::MCP_SOCKET_VAR) {
        mcp::relay::relay(std::path::Path::new(&socket))?;
        return Ok(0);
    }
    let plan = crate::manifest::load(file)?;
    let names: Vec<String> = plan
        .agents
        .iter()
        .map(|a| a.name.clone())
        .chain(plan.remote.iter().map(|r| r.agent.name.clone()))
        .collect();
    if let Some(me) = &args.as_agent {
        if !names.contains(me) {
            return crate::usage(format!(
                "--as {me}: {} has no agent {me}; name one of its agents ({})",
                plan.manifest.display(),
                names.join(", ")
            ));
        }
    }
    let role = Role {
        others: names
            .into_iter()
            .filter(|n| Some(n) != args.as_agent.as_ref())
            .collect(),
        agent: args.as_agent.clone(),
        lead: args.lead,
    };
    let exe = mcp::this_exe().map_err(anyhow::Error::msg)?;
    mcp::serve(mcp::fleet(exe, &plan.manifest), role)?;
    Ok(0)
}
