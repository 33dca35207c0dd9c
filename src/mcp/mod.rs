//! `fleet mcp`: fleet's own commands as the tools of an MCP server on stdio, for a lead
//! agent (Claude Code, codex, gemini) to drive a fleet. The MCP SDK (`rmcp`) and its async
//! runtime (tokio, one thread) stay inside this folder: nothing else in fleet is async.
//!
//! | module | owns |
//! |---|---|
//! | `tools` | the tools' names, descriptions and input schemas; a call turned into fleet's command line; the role check (`--as`, `--lead`) |
//! | `run` | running that command line: this fleet binary as a child process, its output the answer, its stderr the error |
//! | `relay` | inside a sandboxed agent's box: carrying stdio to the server the runner serves outside |
//!
//! Each tool runs this same fleet binary (`fleet -f MANIFEST status --json`, …), so the
//! server never repeats a command's logic and never holds the `.fleet` lock itself. A call
//! runs on tokio's blocking pool, so a long `wait` does not stop the server answering.
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

pub mod relay;
pub mod run;
pub mod tools;

pub use run::{fleet, this_exe, Fleet};
pub use tools::Role;

/// The server: the fleet binary and manifest every tool runs on, and who is calling.
#[derive(Clone)]
struct Server {
    fleet: Arc<Fleet>,
    role: Arc<Role>,
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let who = match (&self.role.agent, self.role.lead) {
            (None, _) => String::new(),
            (Some(me), true) => format!(" You are agent {me}, the fleet's lead: you may act on every agent."),
            (Some(me), false) => format!(" You are agent {me}: you may read every agent, but up, continue and merge only yourself."),
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("fleet", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "fleet runs coding agents in parallel, each on its own git branch and worktree, as agents.yaml ({}) describes. These tools are fleet's own commands on that manifest.{who}",
                self.fleet.manifest.display()
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = tools::list()
            .into_iter()
            .map(|(name, description, schema, read_only)| {
                let schema = match schema {
                    serde_json::Value::Object(o) => o,
                    _ => serde_json::Map::new(),
                };
                let mut tool = Tool::new(name, description, Arc::new(schema));
                tool.annotations = Some(
                    ToolAnnotations::new()
                        .read_only(read_only)
                        .destructive(name == "merge"),
                );
                tool
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let outcome = match tools::plan_call(&request.name, &args, &self.role) {
            Err(why) => run::Outcome::refused(why),
            Ok(call) => {
                let fleet = Arc::clone(&self.fleet);
                tokio::task::spawn_blocking(move || fleet.call(&call))
                    .await
                    .unwrap_or_else(|e| run::Outcome::refused(format!("the tool call failed: {e}")))
            }
        };
        let content = vec![ContentBlock::text(outcome.text)];
        let mut result = if outcome.error {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        };
        result.structured_content = Some(outcome.structured);
        Ok(result.into())
    }
}

/// Serve the tools on stdin/stdout until the client closes stdin.
pub fn serve(fleet: Fleet, role: Role) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = Server {
            fleet: Arc::new(fleet),
            role: Arc::new(role),
        };
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow::anyhow!("the MCP client did not initialize: {e}"))?;
        running
            .waiting()
            .await
            .map_err(|e| anyhow::anyhow!("the MCP server stopped: {e}"))?;
        Ok(())
    })
}
