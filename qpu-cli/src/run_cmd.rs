//! `qpu run` and `qpu info`: run a program on the default backend (the v3d GPU, or the
//! emulator where there is none) and show the device.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use runtime::{Buffer, Device, Dispatch, ProgramOptions, Shape, SimConfig};

/// One `--buffer NAME=SIZE[:FILE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferSpec {
    pub name: String,
    /// `None` when the size is the file's (`NAME=:FILE`).
    pub size: Option<u32>,
    pub file: Option<PathBuf>,
}

/// Parses a byte count: decimal, `0x` hex, or with a `K`/`M` suffix (KiB, MiB).
pub fn parse_size(s: &str) -> Result<u32> {
    let t = s.trim();
    let (digits, mult) = match t.as_bytes().last() {
        Some(b'K' | b'k') => (&t[..t.len() - 1], 1024u64),
        Some(b'M' | b'm') => (&t[..t.len() - 1], 1024 * 1024),
        _ => (t, 1),
    };
    let n = parse_u64(digits)
        .with_context(|| format!("`{s}` is not a size; write bytes (4096, 0x1000) or 4K, 1M"))?;
    let bytes = n
        .checked_mul(mult)
        .filter(|&b| b > 0 && b < 1 << 32)
        .ok_or_else(|| anyhow!("size `{s}` must be 1 byte to 4 GiB - 1"))?;
    Ok(bytes as u32)
}

fn parse_u64(s: &str) -> Result<u64> {
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(&h.replace('_', ""), 16)
    } else if let Some(b) = s.strip_prefix("0b") {
        u64::from_str_radix(&b.replace('_', ""), 2)
    } else {
        s.replace('_', "").parse()
    };
    r.map_err(|e| anyhow!("`{s}`: {e}"))
}

impl std::str::FromStr for BufferSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let Some((name, rest)) = s.split_once('=') else {
            bail!("`{s}` is not a buffer; write NAME=SIZE, NAME=SIZE:FILE or NAME=:FILE");
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bail!("buffer name `{name}` must be letters, digits, `_` or `-`");
        }
        let (size, file) = match rest.split_once(':') {
            Some((size, file)) => {
                if file.is_empty() {
                    bail!("buffer `{name}`: no file after `:`");
                }
                (size, Some(PathBuf::from(file)))
            }
            None => (rest, None),
        };
        let size = if size.is_empty() {
            if file.is_none() {
                bail!("buffer `{name}` has no size; write {name}=SIZE or {name}=:FILE");
            }
            None
        } else {
            Some(parse_size(size).with_context(|| format!("buffer `{name}`"))?)
        };
        Ok(BufferSpec {
            name: name.to_string(),
            size,
            file,
        })
    }
}

/// Evaluates one uniform word. `@NAME` is buffer NAME's GPU address, `@NAME+OFFSET` an address
/// inside it, `size:NAME` its size in bytes; numbers are decimal (negative ones as two's
/// complement), `0x` hex or `0b` binary; a number ending in `f` (`1.5f`, `-2e3f`) is an f32.
pub fn eval_uniform(tok: &str, buffers: &BTreeMap<String, Buffer>) -> Result<u32> {
    let t = tok.trim();
    let lookup = |name: &str| {
        buffers.get(name).ok_or_else(|| {
            anyhow!(
                "uniform `{t}` names buffer `{name}`, but the buffers are: {}",
                if buffers.is_empty() {
                    "none (add --buffer NAME=SIZE)".to_string()
                } else {
                    buffers.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            )
        })
    };
    if let Some(r) = t.strip_prefix('@') {
        let (name, off) = match r.split_once('+') {
            Some((n, o)) => (
                n,
                parse_u64(o).with_context(|| format!("offset in uniform `{t}`"))?,
            ),
            None => (r, 0),
        };
        let b = lookup(name)?;
        if off >= u64::from(b.size()) {
            bail!(
                "uniform `{t}`: offset {off} is past the end of `{name}` ({} bytes)",
                b.size()
            );
        }
        return Ok(b.gpu_addr() + off as u32);
    }
    if let Some(name) = t.strip_prefix("size:") {
        return Ok(lookup(name)?.size());
    }
    let is_hex = t.starts_with("0x") || t.starts_with("0X");
    if !is_hex && let Some(f) = t.strip_suffix('f') {
        let v: f32 = f
            .parse()
            .map_err(|_| anyhow!("uniform `{t}` is not a float (write e.g. 1.5f or -2e3f)"))?;
        return Ok(v.to_bits());
    }
    if let Some(neg) = t.strip_prefix('-') {
        let n = parse_u64(neg).with_context(|| format!("uniform `{t}`"))?;
        if n > 1 << 31 {
            bail!("uniform `{t}` is below -2^31");
        }
        return Ok((n as i64).wrapping_neg() as u32);
    }
    let n = parse_u64(t).map_err(|_| {
        anyhow!(
            "uniform `{t}` is not a value: write a number (42, -1, 0x2a, 1.5f), @BUFFER, \
             @BUFFER+OFFSET or size:BUFFER"
        )
    })?;
    u32::try_from(n).map_err(|_| anyhow!("uniform `{t}` does not fit 32 bits"))
}

/// What `qpu run` was asked to do.
pub struct RunArgs {
    pub program: PathBuf,
    pub shape: Shape,
    pub uniforms: Vec<String>,
    pub buffers: Vec<BufferSpec>,
    pub threads_per_qpu: u32,
    pub timeout: Duration,
    pub max_steps: u64,
    pub dump: Dump,
    pub out_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dump {
    /// 32-bit little-endian words in hex, 8 per line.
    Words,
    /// Bytes in hex, 16 per line.
    Bytes,
    /// Nothing on standard output.
    None,
}

fn load_program(path: &Path) -> Result<Vec<u64>> {
    if path.extension().is_some_and(|e| e == "bin") {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if bytes.len() % 8 != 0 || bytes.is_empty() {
            bail!(
                "{} is {} bytes, not a whole number of 8-byte instruction words",
                path.display(),
                bytes.len()
            );
        }
        return Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect());
    }
    let src =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    crate::asm_cmd::assemble_source(&src, path).map_err(|diags| {
        anyhow!(
            "{}\n{} error{} in {}",
            diags
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            diags.len(),
            if diags.len() == 1 { "" } else { "s" },
            path.display()
        )
    })
}

/// Hex dump of `bytes`, each line prefixed with its offset.
pub fn dump(bytes: &[u8], how: Dump) -> String {
    let mut s = String::new();
    match how {
        Dump::None => {}
        Dump::Words => {
            let (words, tail) = bytes.split_at(bytes.len() / 4 * 4);
            for (i, line) in words.chunks(32).enumerate() {
                let _ = write!(s, "  {:#06x}:", i * 32);
                for w in line.chunks_exact(4) {
                    let _ = write!(s, " {:08x}", u32::from_le_bytes(w.try_into().expect("4")));
                }
                s.push('\n');
            }
            if !tail.is_empty() {
                let _ = write!(s, "  {:#06x}:", words.len());
                for b in tail {
                    let _ = write!(s, " {b:02x}");
                }
                s.push('\n');
            }
        }
        Dump::Bytes => {
            for (i, line) in bytes.chunks(16).enumerate() {
                let _ = write!(s, "  {:#06x}:", i * 16);
                for b in line {
                    let _ = write!(s, " {b:02x}");
                }
                s.push('\n');
            }
        }
    }
    s
}

/// `qpu run`: reports what runs on standard error and returns the dumps for standard output.
pub fn run(args: &RunArgs) -> Result<String> {
    let words = load_program(&args.program)?;
    let dev = Device::open_with(SimConfig {
        max_steps: args.max_steps,
        ..SimConfig::default()
    })
    .context("opening the GPU")?;
    // What ran goes to standard error as it happens, so it is there when the job fails.
    eprintln!(
        "backend: {} ({}), {}",
        dev.backend(),
        dev.description(),
        dev.identity()
    );

    let mut buffers: BTreeMap<String, Buffer> = BTreeMap::new();
    for spec in &args.buffers {
        if buffers.contains_key(&spec.name) {
            bail!("buffer `{}` is given twice", spec.name);
        }
        let contents =
            match &spec.file {
                Some(f) => Some(std::fs::read(f).with_context(|| {
                    format!("reading {} for buffer `{}`", f.display(), spec.name)
                })?),
                None => None,
            };
        let size = match (spec.size, &contents) {
            (Some(s), Some(c)) if c.len() > s as usize => bail!(
                "buffer `{}`: {} is {} bytes, more than its size {s}; give a larger size or \
                 none ({}=:FILE)",
                spec.name,
                spec.file.as_ref().expect("file").display(),
                c.len(),
                spec.name
            ),
            (Some(s), _) => s,
            (None, Some(c)) => u32::try_from(c.len())
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    anyhow!("buffer `{}`: the file is empty or over 4 GiB", spec.name)
                })?,
            (None, None) => unreachable!("the parser requires a size or a file"),
        };
        let mut b = dev
            .alloc(size)
            .with_context(|| format!("allocating buffer `{}`", spec.name))?;
        if let Some(c) = &contents {
            b.write(0, c)?;
        }
        eprintln!(
            "buffer {}: {} bytes at {:#010x}",
            spec.name,
            size,
            b.gpu_addr()
        );
        buffers.insert(spec.name.clone(), b);
    }

    let mut uniforms = Vec::new();
    for arg in &args.uniforms {
        for tok in arg.split(',').filter(|t| !t.trim().is_empty()) {
            uniforms.push(eval_uniform(tok, &buffers)?);
        }
    }

    let program = dev
        .upload_program(
            &words,
            ProgramOptions {
                threads_per_qpu: args.threads_per_qpu,
                single_seg: false,
            },
        )
        .context("uploading the program")?;
    let list: Vec<&Buffer> = buffers.values().collect();
    let mut dispatch = Dispatch::new(&program, args.shape).buffers(&list);
    if !uniforms.is_empty() {
        dispatch = dispatch.uniforms(&uniforms);
    }
    let job = dev.submit(&dispatch).context("submitting the job")?;
    eprintln!(
        "job {}: {} instructions, {:?}, {} uniform{}, cfg {:08x?}",
        job.id(),
        program.len(),
        args.shape,
        uniforms.len(),
        if uniforms.len() == 1 { "" } else { "s" },
        job.cfg()
    );
    job.wait(args.timeout)
        .with_context(|| format!("running {}", args.program.display()))?;
    if let Some(s) = job.emulator_stats() {
        eprintln!(
            "emulator: {} instructions, {} modelled cycles ({:.1} us at {} MHz)",
            s.instructions(),
            s.total_cycles,
            s.seconds() * 1e6,
            s.clock_hz / 1_000_000
        );
    }

    let mut out = String::new();
    for (name, b) in &buffers {
        let bytes = b.to_vec()?;
        if args.dump != Dump::None {
            let _ = writeln!(
                out,
                "buffer {name} ({} bytes at {:#010x}):",
                b.size(),
                b.gpu_addr()
            );
            out.push_str(&dump(&bytes, args.dump));
        }
        if let Some(dir) = &args.out_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(format!("{name}.bin"));
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(out)
}

/// `qpu info`: the backend and the device's identity.
pub fn info(counters: bool) -> Result<String> {
    let dev = Device::open().context("opening the GPU")?;
    let id = dev.identity();
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut s = String::new();
    let _ = writeln!(s, "backend:     {}", dev.backend());
    let _ = writeln!(s, "device:      {}", dev.description());
    let _ = writeln!(
        s,
        "gpu:         V3D {}.{} revision {}",
        id.major, id.minor, id.rev
    );
    let _ = writeln!(
        s,
        "qpus:        {} ({} slices x {} QPUs)",
        id.qpu_count(),
        id.slices,
        id.qpus_per_slice
    );
    if id.vpm_size > 0 {
        let _ = writeln!(s, "vpm:         {} KiB", id.vpm_size / 1024);
    }
    let _ = writeln!(s, "compute:     {}", yes(id.supports_csd));
    let _ = writeln!(
        s,
        "batch count: cfg[4] = batches{}",
        if id.rev < 6 {
            " - 1 (before V3D 7.1.6)"
        } else {
            " (V3D 7.1.6 and later)"
        }
    );
    let _ = writeln!(
        s,
        "perfmon:     {}{}",
        yes(id.supports_perfmon),
        if id.supports_perfmon && id.max_perf_counters > 0 {
            format!(" ({} counters)", id.max_perf_counters)
        } else {
            String::new()
        }
    );
    let _ = writeln!(s, "multisync:   {}", yes(id.supports_multisync));
    if counters {
        for c in dev
            .perf_counters()
            .context("listing the performance counters")?
        {
            let _ = writeln!(
                s,
                "counter {:3}: {} [{}] {}",
                c.index, c.name, c.category, c.description
            );
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("0x1000").unwrap(), 4096);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("2M").unwrap(), 2 << 20);
        for bad in ["0", "4G", "4096M", "-1", "ten", ""] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buffer_specs() {
        let s: BufferSpec = "out=1K".parse().unwrap();
        assert_eq!((s.name.as_str(), s.size, s.file), ("out", Some(1024), None));
        let s: BufferSpec = "in=64:data.bin".parse().unwrap();
        assert_eq!(s.file.as_deref(), Some(Path::new("data.bin")));
        let s: BufferSpec = "in=:data.bin".parse().unwrap();
        assert_eq!(s.size, None);
        for (bad, why) in [
            ("out", "NAME=SIZE"),
            ("=64", "must be letters"),
            ("o.ut=64", "must be letters"),
            ("out=", "has no size"),
            ("out=64:", "no file"),
            ("out=0", "1 byte"),
        ] {
            let e = format!("{:#}", bad.parse::<BufferSpec>().unwrap_err());
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn uniform_values() {
        let none = BTreeMap::new();
        for (tok, want) in [
            ("42", 42),
            ("-1", 0xffff_ffff),
            ("-2147483648", 0x8000_0000),
            ("0x2a", 42),
            ("0xff", 255),
            ("0b101", 5),
            ("1.5f", 0x3fc0_0000),
            ("-2e3f", (-2000.0f32).to_bits()),
        ] {
            assert_eq!(eval_uniform(tok, &none).unwrap(), want, "{tok}");
        }
        for (tok, why) in [
            ("@out", "none (add --buffer"),
            ("size:out", "names buffer `out`"),
            ("4294967296", "32 bits"),
            ("-2147483649", "below -2^31"),
            ("x1.5f", "not a float"),
            ("seven", "is not a value"),
        ] {
            let e = format!("{:#}", eval_uniform(tok, &none).unwrap_err());
            assert!(e.contains(why), "{tok}: {e}");
        }
    }

    #[test]
    fn dumps() {
        let bytes: Vec<u8> = (0..38).collect();
        let w = dump(&bytes, Dump::Words);
        assert_eq!(
            w.lines().next().unwrap(),
            "  0x0000: 03020100 07060504 0b0a0908 0f0e0d0c 13121110 17161514 1b1a1918 1f1e1d1c"
        );
        assert_eq!(w.lines().nth(1).unwrap(), "  0x0020: 23222120");
        assert_eq!(w.lines().nth(2).unwrap(), "  0x0024: 24 25");
        let b = dump(&bytes[..17], Dump::Bytes);
        assert_eq!(b.lines().nth(1).unwrap(), "  0x0010: 10");
        assert_eq!(dump(&bytes, Dump::None), "");
    }
}
