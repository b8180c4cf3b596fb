//! `clip repo`: the update repository, a directory of static files (see
//! docs/update.md). One module per subcommand.

use anyhow::Result;
use clap::Subcommand;

mod list;
mod publish;
mod serve;
mod store;

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a repository: REPO/metadata/1.root.json (the key set's
    /// update-root.json) and an empty publication (targets, snapshot and
    /// timestamp version 1).
    Init(publish::InitArgs),
    /// Add the release of a `clip build` output (BUILD_DIR/release): its
    /// files zstd-compressed and release.json as targets, then new targets,
    /// snapshot and timestamp (timestamp.json written last).
    Publish(publish::PublishArgs),
    /// Re-sign the timestamp (and the snapshot when it would expire first)
    /// with the online key, without new targets.
    Refresh(publish::RefreshArgs),
    /// List the releases of a repository after verifying its metadata and
    /// files as a client would. Exits 3 when something does not verify.
    List(list::ListArgs),
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
        RepoCommand::Init(args) => publish::init(args),
        RepoCommand::Publish(args) => publish::publish_release(args),
        RepoCommand::Refresh(args) => publish::refresh(args),
        RepoCommand::List(args) => list::run(args),
        RepoCommand::Serve(args) => serve::run(args),
    }
}
