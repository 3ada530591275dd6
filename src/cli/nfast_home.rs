//! The tools as nShield installs them, so vendor command lines run as written:
//! `install-links DIR` (tool-named symlinks in DIR), `install-links --nfast-home DIR` (DIR laid out
//! as an `NFAST_HOME`: `bin/` with the tools, `python/bin/python`, `python/examples/aclprint.py`),
//! and that `python`, which stands for nShield's bundled interpreter: it runs the nShield scripts
//! the seed names (`verifykeypackage.py`, `aclprint.py`) and hands anything else to `python3`.

use super::args::{self, flag, valued};
use super::{help_if_asked, no_extra, LINK_NAMES};
use shieldhsm::module::admin::{AdminError, AdminResult};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The nShield and toolset scripts the bundled `python` runs, with the tool each one is.
const SCRIPTS: [(&str, &str); 2] = [("verifykeypackage.py", "verifykeypackage"), ("aclprint.py", "aclprint")];

const USAGE: &str = "usage: shieldhsm install-links DIR\n       shieldhsm install-links --nfast-home DIR\n  \
The first makes symlinks named after the nShield tools in DIR, pointing at this binary. The second\n  \
lays DIR out as an NFAST_HOME: DIR/bin (the tools), DIR/python/bin/python (nShield's bundled python:\n  \
runs the nShield scripts, hands anything else to python3) and DIR/python/examples/aclprint.py.\n  \
Then: export NFAST_HOME=DIR PATH=\"$PATH:DIR/bin:DIR/python/bin\"";

pub fn install_links(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[flag("force", Some('f')), valued("nfast-home", None)], tool)?;
    if help_if_asked(&p, USAGE) {
        return Ok(());
    }
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| AdminError::new(format!("cannot find this program's path ({e})"), "run it by its full path"))?;
    if let Some(home) = p.value("nfast-home") {
        no_extra(&p, 0, tool)?;
        let home = PathBuf::from(home);
        let python = home.join("python");
        links(&exe, &home.join("bin"), &LINK_NAMES)?;
        links(&exe, &python.join("bin"), &["python"])?;
        std::fs::create_dir_all(python.join("examples"))?;
        write_script(&exe, &python.join("examples"), "aclprint.py")?;
        let home = abs(&home);
        out!(
            "NFAST_HOME laid out in {} ({} tools, python, python/examples/aclprint.py)",
            home.display(),
            LINK_NAMES.len()
        );
        out!("Use it: export NFAST_HOME=\"{0}\" PATH=\"$PATH:{0}/bin:{0}/python/bin\"", home.display());
        return Ok(());
    }
    no_extra(&p, 1, tool)?;
    let dir = PathBuf::from(
        p.pos.first().ok_or_else(|| AdminError::new("no directory given", format!("run `shieldhsm {tool} DIR`")))?,
    );
    links(&exe, &dir, &LINK_NAMES)?;
    out!("{} links to {} made in {}", LINK_NAMES.len(), exe.display(), dir.display());
    out!("Add it to PATH: export PATH=\"{}:$PATH\"", abs(&dir).display());
    Ok(())
}

/// Symlinks `names` in `dir` to `exe`. Every name is checked first: a non-link file in the way
/// stops everything before any change.
fn links(exe: &Path, dir: &Path, names: &[&str]) -> AdminResult<()> {
    for name in names {
        let l = dir.join(name);
        if let Ok(md) = std::fs::symlink_metadata(&l) {
            if !md.file_type().is_symlink() {
                return Err(AdminError::new(
                    format!("{} exists and is not a symlink", l.display()),
                    "move it away or choose another directory",
                ));
            }
        }
    }
    std::fs::create_dir_all(dir)?;
    for name in names {
        let l = dir.join(name);
        if std::fs::symlink_metadata(&l).is_ok() {
            std::fs::remove_file(&l)?;
        }
        std::os::unix::fs::symlink(exe, &l)?;
    }
    Ok(())
}

/// Writes one of the nShield scripts into `dir`. The bundled `python` runs it natively; run by any
/// other Python, the script itself hands over to the tool it stands for.
pub fn write_script(exe: &Path, dir: &Path, script: &str) -> AdminResult<PathBuf> {
    let tool = SCRIPTS.iter().find(|(s, _)| *s == script).map(|(_, t)| *t).unwrap_or("help");
    // JSON string literals are valid Python string literals.
    let exe_lit =
        serde_json::to_string(&exe.to_string_lossy()).map_err(|e| AdminError::new(e.to_string(), "report this"))?;
    let text = format!(
        "#!/usr/bin/env python3\n\
         # {script}: part of shieldhsm's emulated nShield installation (emulator only, not Entrust software).\n\
         # nShield's bundled python ($NFAST_HOME/python/bin/python) runs it natively; any other Python\n\
         # hands it to shieldhsm's `{tool}` tool.\n\
         import os, sys\n\
         os.execv({exe_lit}, [\"{tool}\"] + sys.argv[1:])\n"
    );
    let path = dir.join(script);
    let tmp = dir.join(format!(".{script}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o755).open(&tmp)?;
        f.write_all(text.as_bytes())?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// `python ARGS...` as nShield's bundled interpreter: the nShield scripts run as their tools,
/// everything else goes to `python3`. Returns the exit status.
pub fn python(argv: &[String]) -> i32 {
    let Some(script) = argv.first().filter(|a| !a.starts_with('-')) else {
        return python3(argv);
    };
    let base = Path::new(script).file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some((_, tool)) = SCRIPTS.iter().find(|(s, _)| *s == base) else {
        return python3(argv);
    };
    if !Path::new(script).is_file() {
        // As Python says it.
        eprintln!("python: can't open file {script:?}: [Errno 2] No such file or directory");
        return 2;
    }
    super::run_tool(tool, &argv[1..])
}

fn python3(argv: &[String]) -> i32 {
    use std::os::unix::process::CommandExt as _;
    let e = std::process::Command::new("python3").args(argv).exec();
    eprintln!("python: error: cannot run python3 ({e}) — install python3 (apt-get install python3)");
    127
}

fn abs(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
