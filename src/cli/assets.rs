//! `supportd generate-assets DIR` (hidden): the man pages and shell completions, generated from
//! the clap definitions in [`crate::cli::args`] so they can never describe another command line.
//! The Debian package ships what this writes (`scripts/package`).

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::Cli;

/// Writes `DIR/man/*.1` (one page per subcommand, `supportd-ticket-show.1` for nested ones) and
/// `DIR/completions/{supportd.bash,_supportd,supportd.fish}`; returns the files written.
pub(crate) fn generate(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    clap_mangen::generate_to(Cli::command(), &man)
        .with_context(|| format!("cannot write the man pages to {}", man.display()))?;
    std::fs::write(man.join("supportd.1"), main_page()?)?;
    let mut written: Vec<_> = std::fs::read_dir(&man)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = clap_complete::generate_to(shell, &mut Cli::command(), "supportd", &completions)
            .with_context(|| format!("cannot write the {shell} completion"))?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

/// `supportd(1)`: clap's page with FILES and SEE ALSO, where an operator looks for them.
fn main_page() -> Result<Vec<u8>> {
    use clap_mangen::roff::{Roff, bold, roman};
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    let mut r = Roff::new();
    r.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/supportd/supportd.toml",
            "The configuration: the mail servers, the store and the support address. \
             supportd check-config lists every problem, each with its key.",
        ),
        (
            "/usr/share/doc/supportd/examples/supportd.toml",
            "Every key, annotated: agents, SLA targets, the business calendar, templates, \
             the health endpoint.",
        ),
        (
            "/usr/share/supportd/templates/",
            "The built-in mail templates (en, zh), to copy into outbound.templates_dir and edit.",
        ),
        (
            "/var/lib/supportd/store",
            "Tickets, mail, the outbox and the signing secret generated on first start when \
             none is configured. Back it up with supportd export.",
        ),
    ] {
        r.control("TP", []);
        r.text([bold(path)]);
        r.text([roman(what)]);
    }
    r.control("SH", ["SEE ALSO"]);
    r.text([roman(
        "systemctl(1), journalctl(1); the unit is supportd.service.",
    )]);
    out.extend_from_slice(r.to_roff().as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_and_completions_cover_every_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate(dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "supportd.1",
            "supportd-run.1",
            "supportd-check-config.1",
            "supportd-ticket-show.1",
            "supportd-ticket-set-status.1",
            "supportd.bash",
            "_supportd",
            "supportd.fish",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        // The packaging helper itself is not documented.
        assert!(
            !names.iter().any(|n| n.contains("generate-assets")),
            "{names:?}"
        );
        let page = std::fs::read_to_string(dir.path().join("man/supportd.1")).unwrap();
        assert!(page.contains("/etc/supportd/supportd.toml"), "{page}");
        let bash = std::fs::read_to_string(dir.path().join("completions/supportd.bash")).unwrap();
        assert!(
            bash.contains("check-config") && bash.contains("set-status"),
            "{bash}"
        );
    }
}
