//! `ctlake saved`: the saved queries visible from the lake, or one of them in full.

use std::io::{self, Write};

use ctlake_query::saved::{self, Library, Origin};

use crate::Global;
use crate::args::LakeArg;
use crate::output::print_query_error;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    lake: LakeArg,
    #[command(flatten)]
    library: LibraryArg,
}

/// Which saved queries count: shared by every command that runs them.
#[derive(Debug, Clone, clap::Args)]
pub struct LibraryArg {
    /// Use only the built-in saved queries: ignore `$CTLAKE_QUERIES` and the lake's
    /// `queries/` folder, whose files override built-in queries of the same name.
    #[arg(long)]
    pub builtin_only: bool,
}

impl LibraryArg {
    /// The saved queries visible from the lake at `root`, as this option says.
    pub fn library(&self, root: Option<&std::path::Path>) -> ctlake_query::Result<Library> {
        if self.builtin_only {
            Library::built_in()
        } else {
            Library::standard(root)
        }
    }
}

/// Says on standard error that a query about to run is not the one its name used to mean.
pub fn warn_override(o: &saved::Override) {
    eprintln!("warning: {o} (--builtin-only ignores overrides)");
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List them with descriptions and parameters (the default).
    List,
    /// Print one in full, with where it was found.
    Show {
        /// Its name.
        name: String,
    },
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        let root = self.lake.lake.canonicalize().ok();
        let library = self.library.library(root.as_deref())?;
        match self.action {
            None | Some(Action::List) => list(&library),
            Some(Action::Show { name }) => show(&library, &name),
        }
    }
}

fn show(library: &Library, name: &str) -> anyhow::Result<u8> {
    let q = match library.get(name) {
        Ok(q) => q,
        Err(e) => return Ok(print_query_error(&e, "")),
    };
    let origin = match &q.origin {
        Origin::BuiltIn => "built in".to_string(),
        Origin::File(p) => p.display().to_string(),
    };
    let mut out = io::stdout().lock();
    writeln!(out, "-- from: {origin}")?;
    write!(out, "{}", q.sql)?;
    if !q.sql.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(0)
}

fn list(library: &Library) -> anyhow::Result<u8> {
    let mut out = io::stdout().lock();
    let width = library.iter().map(|q| q.name.len()).max().unwrap_or(0);
    for q in library.iter() {
        let params: Vec<String> = q.params.iter().map(saved::Param::usage).collect();
        let origin = match (&q.origin, library.override_of(&q.name)) {
            (saved::Origin::BuiltIn, _) => "",
            (saved::Origin::File(_), Some(o)) if o.replaces == Origin::BuiltIn => {
                " (local, OVERRIDES the built-in query)"
            }
            (saved::Origin::File(_), Some(_)) => " (local, overrides another file)",
            (saved::Origin::File(_), None) => " (local)",
        };
        writeln!(out, "{:width$}  {}{origin}", q.name, q.description)?;
        writeln!(
            out,
            "{:width$}  [{}] {}",
            "",
            q.tags.join(", "),
            params.join(" ")
        )?;
    }
    Ok(0)
}
