//! Building `kmod/` against a cached kernel tree.
//!
//! Kbuild writes objects next to the sources, so the module is built from a copy under the
//! target directory: `build/kmod/` (the module, with `core/`) next to `build/proto/` (the wire
//! protocol crate), the same relative layout as in the repository and in the DKMS tree.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::kernel::Kernel;
use crate::run;

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        // Cargo output and the VM-only files are not module sources.
        if name == "target" || name == "vm" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst)
                .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// Builds `daedalus.ko` for `k` and returns its path.
pub fn build(root: &Path, k: &Kernel, work: &Path) -> Result<PathBuf> {
    let build = work.join("build");
    if build.exists() {
        fs::remove_dir_all(&build)?;
    }
    copy_tree(&root.join("kmod"), &build.join("kmod"))?;
    copy_tree(&root.join("proto"), &build.join("proto"))?;
    let log = work.join("module-build.log");
    let _ = fs::remove_file(&log);
    let m = build.join("kmod");
    eprintln!("xtask: building kmod/ against {}", k.tree.display());
    run::logged(
        k.make().arg(format!("M={}", m.display())).arg("modules"),
        &log,
    )?;
    let ko = m.join("daedalus.ko");
    if !ko.exists() {
        bail!("the module build produced no {}", ko.display());
    }
    let text = fs::read_to_string(&log)?;
    // objtool of 6.12 does not know the newer rustc's panic helpers are noreturn and warns
    // about "falling through" after them; those are reported, not fatal. Compiler warnings are.
    for l in text.lines().filter(|l| l.contains("objtool:")) {
        eprintln!("xtask: note: {l}");
    }
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| {
            (l.starts_with("warning") || l.contains(": warning:")) && !l.contains("objtool:")
        })
        .collect();
    if !warnings.is_empty() {
        bail!(
            "the module build printed {} warnings, first: {}; fix them (log: {})",
            warnings.len(),
            warnings[0],
            log.display()
        );
    }
    Ok(ko)
}
