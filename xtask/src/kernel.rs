//! The guest kernel: Debian's linux-source-6.12 configured with `CONFIG_RUST=y`, built once per
//! cache key and reused afterwards.
//!
//! Cache layout (under [`cache::root`]):
//! - `tools/bindgen-cli-<ver>/bin/bindgen`: Linux 6.12 needs bindgen >= 0.65.1 and bookworm ships
//!   0.60.1, so the CLI is installed from crates.io with `cargo install --locked`.
//! - `kernel/<key>/linux-source-6.12/`: the build tree, with the stamps `.daedalus-configured` and
//!   `.daedalus-built` next to it. A build that was interrupted resumes incrementally.
//!
//! The key is `linux-<linux-source package version>.rustc-<rustc version and commit>.<variant>-<h>`
//! where `h` hashes the configuration fragments, the bindgen and clang versions and the make
//! variables. The Rust metadata in the tree only works with the exact rustc that built it, hence
//! the rustc version in the key: an update of rustc-web gives a new key and a rebuild.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cache;
use crate::run::{self, command};

pub const BINDGEN_VERSION: &str = "0.69.5";
const KERNEL_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
const KERNEL_PACKAGE: &str = "linux-source-6.12";
const TREE_NAME: &str = "linux-source-6.12";
/// rustc-web: the kernel's Rust must come from one compiler whose `core` sources (rust-web-src)
/// sit in the same sysroot; rustup's toolchain has no rust-src here.
const RUSTC: &str = "/usr/bin/rustc";
const RUSTDOC: &str = "/usr/bin/rustdoc";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The configuration the suite normally runs on.
    Base,
    /// Base plus KASAN and lockdep.
    Debug,
}

impl Variant {
    pub fn parse(s: &str) -> Option<Variant> {
        match s {
            "base" => Some(Variant::Base),
            "debug" => Some(Variant::Debug),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Base => "base",
            Variant::Debug => "debug",
        }
    }

    /// Fragments merged over `make tinyconfig`, in order.
    pub fn fragments(self, root: &Path) -> Vec<PathBuf> {
        let dir = root.join("kmod/vm");
        match self {
            Variant::Base => vec![dir.join("kernel-base.config")],
            Variant::Debug => vec![
                dir.join("kernel-base.config"),
                dir.join("kernel-debug.config"),
            ],
        }
    }
}

/// Versions of everything that goes into the kernel build.
pub struct Toolchain {
    pub kernel_package: String,
    pub rustc: String,
    pub clang: String,
}

impl Toolchain {
    pub fn detect() -> Result<Toolchain> {
        if !Path::new(KERNEL_TARBALL).exists() {
            bail!(
                "{KERNEL_TARBALL} is missing: install the Debian packages in kmod/apt-packages.txt \
                 (bash scripts/test.sh does it)"
            );
        }
        let kernel_package =
            run::output(command("dpkg-query").args(["-W", "-f=${Version}", KERNEL_PACKAGE]))
                .context("cannot read the version of linux-source-6.12")?;
        let rustc = run::output(command(RUSTC).arg("--version"))
            .context("rustc-web is missing: install the packages in kmod/apt-packages.txt")?;
        let clang = run::output(command("clang").arg("--version"))
            .context("clang is missing: install the packages in kmod/apt-packages.txt")?;
        Ok(Toolchain {
            kernel_package,
            rustc,
            clang: clang.lines().next().unwrap_or_default().to_string(),
        })
    }

    /// `1.96.0-ac68faa20` from `rustc 1.96.0 (ac68faa20 2026-05-25) (...)`.
    fn rustc_short(&self) -> String {
        let mut words = self.rustc.split_whitespace().skip(1);
        let ver = words.next().unwrap_or("unknown");
        let commit = words.next().unwrap_or("").trim_start_matches('(');
        if commit.is_empty() {
            ver.to_string()
        } else {
            format!("{ver}-{commit}")
        }
    }
}

/// Make variables for every Kbuild invocation (kernel and module alike).
pub fn make_vars(bindgen: &Path) -> Vec<String> {
    vec![
        "LLVM=1".into(),
        format!("RUSTC={RUSTC}"),
        format!("RUSTDOC={RUSTDOC}"),
        // The proc-macro crate `macros` is loaded by RUSTC, so it must be built by the same
        // compiler; Kbuild's default `rustc` would find rustup's first on PATH.
        format!("HOSTRUSTC={RUSTC}"),
        format!("BINDGEN={}", bindgen.display()),
    ]
}

pub fn cache_key(root: &Path, variant: Variant, tools: &Toolchain) -> Result<String> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for f in variant.fragments(root) {
        parts.push(fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?);
    }
    parts.push(BINDGEN_VERSION.as_bytes().to_vec());
    parts.push(tools.clang.as_bytes().to_vec());
    parts.push(make_vars(Path::new("bindgen")).join(" ").into_bytes());
    parts.push(b"tinyconfig".to_vec());
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let h = cache::hash(&refs);
    Ok(format!(
        "linux-{}.rustc-{}.{}-{}",
        cache::sanitize(&tools.kernel_package),
        cache::sanitize(&tools.rustc_short()),
        variant.name(),
        &h[..16]
    ))
}

/// A built kernel tree ready for `make M=...`.
pub struct Kernel {
    pub tree: PathBuf,
    pub bindgen: PathBuf,
}

impl Kernel {
    pub fn make(&self) -> std::process::Command {
        let mut cmd = command("make");
        cmd.arg("-C").arg(&self.tree).args(make_vars(&self.bindgen));
        cmd
    }

    pub fn bzimage(&self) -> PathBuf {
        self.tree.join("arch/x86/boot/bzImage")
    }

    /// `6.12.117` as `uname -r` reports it in the guest.
    pub fn release(&self) -> Result<String> {
        let r = fs::read_to_string(self.tree.join("include/config/kernel.release"))
            .context("the kernel tree has no include/config/kernel.release")?;
        Ok(r.trim().to_string())
    }
}

fn ensure_bindgen(cache_root: &Path) -> Result<PathBuf> {
    let dir = cache_root.join(format!("tools/bindgen-cli-{BINDGEN_VERSION}"));
    let bin = dir.join("bin/bindgen");
    if bin.exists() {
        return Ok(bin);
    }
    fs::create_dir_all(cache_root.join("tools"))?;
    let _lock =
        cache::Lock::acquire(cache_root.join(format!("tools/bindgen-{BINDGEN_VERSION}.lock")))?;
    if bin.exists() {
        return Ok(bin);
    }
    eprintln!(
        "xtask: installing bindgen-cli {BINDGEN_VERSION} into {}",
        dir.display()
    );
    let log = cache_root.join("tools/bindgen-install.log");
    // rustup's cargo builds it; the result only has to run on this host.
    run::logged(
        command("cargo")
            .args([
                "install",
                "--locked",
                &format!("bindgen-cli@{BINDGEN_VERSION}"),
                "--root",
            ])
            .arg(&dir),
        &log,
    )?;
    Ok(bin)
}

/// Checks that every option the fragments set survived `olddefconfig` (an unmet dependency
/// silently drops an option, and the suite would then test something else than it claims).
fn verify_config(tree: &Path, fragments: &[PathBuf]) -> Result<()> {
    let config = fs::read_to_string(tree.join(".config"))?;
    let mut dropped = Vec::new();
    for f in fragments {
        for line in fs::read_to_string(f)?.lines() {
            let line = line.trim();
            let want = if let Some(sym) = line
                .strip_prefix("# ")
                .and_then(|l| l.strip_suffix(" is not set"))
            {
                format!("# {sym} is not set")
            } else if line.starts_with("CONFIG_") {
                line.to_string()
            } else {
                continue;
            };
            let unset_ok = want.starts_with('#')
                && !config
                    .lines()
                    .any(|l| l.starts_with(&format!("{}=", &want[2..want.len() - 11])));
            if !unset_ok && !config.lines().any(|l| l == want) {
                dropped.push(want);
            }
        }
    }
    if !dropped.is_empty() {
        bail!(
            "the kernel configuration lost options from the fragments (unmet dependencies?): {}",
            dropped.join(", ")
        );
    }
    Ok(())
}

/// Builds the kernel for `variant` unless the cache already has it.
pub fn ensure(root: &Path, variant: Variant, jobs: usize) -> Result<Kernel> {
    let tools = Toolchain::detect()?;
    let cache_root = cache::root()?;
    let bindgen = ensure_bindgen(&cache_root)?;
    let key = cache_key(root, variant, &tools)?;
    let entry = cache_root.join("kernel").join(&key);
    let tree = entry.join(TREE_NAME);
    let kernel = Kernel {
        tree: tree.clone(),
        bindgen,
    };
    let built = entry.join(".daedalus-built");
    if built.exists() && kernel.bzimage().exists() {
        eprintln!("xtask: kernel {key}: cached");
        return Ok(kernel);
    }
    fs::create_dir_all(&entry).with_context(|| format!("cannot create {}", entry.display()))?;
    let _lock = cache::Lock::acquire(entry.with_extension("lock"))?;
    if built.exists() && kernel.bzimage().exists() {
        eprintln!("xtask: kernel {key}: cached (built by another run)");
        return Ok(kernel);
    }
    let log = entry.join("build.log");
    let started = Instant::now();
    let configured = entry.join(".daedalus-configured");
    if !configured.exists() {
        eprintln!(
            "xtask: kernel {key}: extracting and configuring (log: {})",
            log.display()
        );
        if tree.exists() {
            fs::remove_dir_all(&tree)?;
        }
        run::logged(
            command("tar")
                .arg("xf")
                .arg(KERNEL_TARBALL)
                .arg("-C")
                .arg(&entry),
            &log,
        )?;
        run::logged(kernel.make().arg("rustavailable"), &log)?;
        run::logged(kernel.make().arg("tinyconfig"), &log)?;
        let fragments = variant.fragments(root);
        run::logged(
            command(tree.join("scripts/kconfig/merge_config.sh"))
                .current_dir(&tree)
                .args(["-m", ".config"])
                .args(&fragments),
            &log,
        )?;
        run::logged(kernel.make().arg("olddefconfig"), &log)?;
        verify_config(&tree, &fragments)?;
        fs::write(&configured, key.as_bytes())?;
    }
    eprintln!(
        "xtask: kernel {key}: building with -j{jobs} at nice 10 (about 14 minutes on 2 idle \
         cores; log: {})",
        log.display()
    );
    let mut make = command("nice");
    make.args(["-n", "10", "make", "-C"])
        .arg(&tree)
        .args(make_vars(&kernel.bindgen))
        .arg(format!("-j{jobs}"));
    run::logged(&mut make, &log)?;
    if !kernel.bzimage().exists() {
        bail!(
            "the kernel build finished without {}",
            kernel.bzimage().display()
        );
    }
    fs::write(
        &built,
        format!("{key}\nbuild seconds: {}\n", started.elapsed().as_secs()),
    )?;
    eprintln!(
        "xtask: kernel {key}: built in {} s",
        started.elapsed().as_secs()
    );
    Ok(kernel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustc_short_keeps_version_and_commit() {
        let t = Toolchain {
            kernel_package: "6.12.117-1~deb12u1".into(),
            rustc: "rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)".into(),
            clang: "Debian clang version 14.0.6".into(),
        };
        assert_eq!(t.rustc_short(), "1.96.0-ac68faa20");
    }

    #[test]
    fn variants_have_distinct_keys() {
        let root = crate::workspace_root();
        let t = Toolchain {
            kernel_package: "6.12.117-1~deb12u1".into(),
            rustc: "rustc 1.96.0 (ac68faa20 2026-05-25)".into(),
            clang: "Debian clang version 14.0.6".into(),
        };
        let base = cache_key(&root, Variant::Base, &t).unwrap();
        let debug = cache_key(&root, Variant::Debug, &t).unwrap();
        assert!(base.starts_with("linux-6.12.117-1_deb12u1.rustc-1.96.0-ac68faa20.base-"));
        assert!(debug.contains(".debug-"));
        assert_ne!(base[base.len() - 16..], debug[debug.len() - 16..]);
        let t2 = Toolchain {
            rustc: "rustc 1.96.1 (0123456 2026-07-01)".into(),
            ..t
        };
        assert_ne!(cache_key(&root, Variant::Base, &t2).unwrap(), base);
    }

    #[test]
    fn verify_config_reports_dropped_options() {
        let dir = std::env::temp_dir().join(format!("xtask-cfg-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(".config"),
            "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_D=m\n",
        )
        .unwrap();
        let frag = dir.join("frag.config");
        fs::write(
            &frag,
            "# comment\nCONFIG_A=y\n# CONFIG_B is not set\n# CONFIG_C is not set\n",
        )
        .unwrap();
        verify_config(&dir, std::slice::from_ref(&frag)).unwrap();
        fs::write(&frag, "CONFIG_A=y\nCONFIG_E=y\n# CONFIG_D is not set\n").unwrap();
        let err = verify_config(&dir, &[frag]).unwrap_err().to_string();
        assert!(err.contains("CONFIG_E=y"), "{err}");
        assert!(err.contains("# CONFIG_D is not set"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
