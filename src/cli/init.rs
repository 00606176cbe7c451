//! `promised init` and `promised promise new`: a platform repository, and a first
//! Promise in it, to start from. They write files that do not exist yet and never
//! overwrite one.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::EXIT_OK;
use crate::model::{is_dns_label, kind_for};

/// Arguments of `promised init`.
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// The folder to lay out; made when missing, and made a Git repository (branch
    /// main) when it is in none.
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
}

/// `promised promise ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PromiseCommand {
    /// Write a Promise with an API, a pipeline that reads its request with a YAML
    /// parser, and a request to try it with.
    New(NewPromiseArgs),
}

/// Arguments of `promised promise new`.
#[derive(Debug, clap::Args)]
pub(crate) struct NewPromiseArgs {
    /// The Promise's name: a DNS label (lowercase letters, digits, `-`).
    pub(crate) name: String,
    /// The platform repository.
    #[arg(long, default_value = ".", env = "PROMISED_REPO")]
    pub(crate) repo: PathBuf,
}

const DESTINATION: &str = include_str!("../../repo-layout/skeleton/destinations/dev.yaml");
const README: &str = include_str!("templates/README.md");
const PROMISE: &str = include_str!("templates/promise.yaml");
const REQUEST: &str = include_str!("templates/request.yaml");

/// Lays out a platform repository in `args.dir`.
pub(crate) fn init(args: InitArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let dir = &args.dir;
    fs_err::create_dir_all(dir)?;
    let in_repository = crate::git::repository_top(dir).is_ok();
    if !in_repository {
        crate::git::init_repository(dir)?;
        writeln!(out, "initialized a Git repository in {}", dir.display())?;
    }
    let files = [
        ("README.md", README),
        ("destinations/dev.yaml", DESTINATION),
        ("promises/.gitkeep", ""),
        ("requests/.gitkeep", ""),
    ];
    write_new(dir, &files, out)?;
    writeln!(
        out,
        "next: promised promise new NAME{}",
        match dir == Path::new(".") {
            true => String::new(),
            false => format!(" --repo {}", dir.display()),
        }
    )?;
    Ok(EXIT_OK)
}

/// Writes a Promise, and a request for it, into the repository.
pub(crate) fn new_promise(args: NewPromiseArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let name = &args.name;
    if !is_dns_label(name) {
        anyhow::bail!(
            "{name:?} is not a Promise name: use lowercase letters, digits and '-', \
             starting with a letter, at most 63 characters"
        );
    }
    // The nearest folder holding promises/, from the one given up: a platform
    // repository's top, found from any folder in it, even where it sits inside another
    // repository.
    let given = std::path::absolute(&args.repo)?;
    let Some(top) = given.ancestors().find(|dir| dir.join("promises").is_dir()) else {
        anyhow::bail!(
            "no promises/ folder in {} or above it: run promised init first",
            given.display()
        );
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{kind}}", &kind_for(name))
            .replace("{{plural}}", &format!("{name}s"))
    };
    let files = [
        (format!("promises/{name}.yaml"), fill(PROMISE)),
        (format!("requests/{name}/example.yaml"), fill(REQUEST)),
    ];
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write_new(top, &files, out)?;
    writeln!(
        out,
        "next: commit them, then run promised validate and promised reconcile \
         (its pipeline needs python3 and PyYAML on this machine)"
    )?;
    Ok(EXIT_OK)
}

/// Writes each file under `top` unless one is already there, and says which it wrote.
/// Checks them all before writing any: a refusal leaves the folder as it was.
fn write_new(top: &Path, files: &[(&str, &str)], out: &mut dyn Write) -> anyhow::Result<()> {
    let existing: Vec<&str> = files
        .iter()
        .map(|(path, _)| *path)
        .filter(|path| top.join(path).exists())
        .collect();
    if let Some(first) = existing.first() {
        anyhow::bail!(
            "{} already exists: nothing was written (move it away, or pick another name)",
            top.join(first).display()
        );
    }
    for (path, text) in files {
        let file = top.join(path);
        if let Some(parent) = file.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&file, text)?;
        if !path.ends_with(".gitkeep") {
            writeln!(out, "wrote    {path}")?;
        }
    }
    Ok(())
}
