//! `clip repo serve REPO --listen ADDR [--access-log FILE]`: the `httpd`
//! crate's static file server on a repository directory.

use std::fs::OpenOptions;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::output;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory to serve.
    repo: PathBuf,
    /// Address and port to listen on; port 0 picks a free one (printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Append one Common Log Format line per request to FILE (flushed per line).
    #[arg(long, value_name = "FILE")]
    access_log: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let mut site = httpd::Site::new(&args.repo)?;
    if let Some(path) = &args.access_log {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open access log {}", path.display()))?;
        site = site.with_access_log(httpd::AccessLog::new(file));
    }
    let server = httpd::Server::bind(&args.listen, site)?;
    output::line(format_args!(
        "Serving {} at {}",
        args.repo.display(),
        server.url()
    ))?;
    std::io::Write::flush(&mut std::io::stdout())?;
    server.run();
    Ok(())
}
