//! `clip repo`: the update repository, a directory of static files (see
//! docs/update.md). One module per subcommand.

use anyhow::Result;
use clap::Subcommand;

mod serve;

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Serve a repository over plain HTTP/1.1 (for tests and demos; any
    /// static HTTP server or CDN works too).
    ///
    /// GET and HEAD, single byte ranges, 404 for missing files, 403 for
    /// paths leaving REPO. Prints "Serving REPO at http://ADDR/" on stdout,
    /// then serves until killed.
    Serve(serve::ServeArgs),
}

pub fn run(cmd: RepoCommand) -> Result<()> {
    match cmd {
        RepoCommand::Serve(args) => serve::run(args),
    }
}
