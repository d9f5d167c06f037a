//! `qpu check` and `qpu bench`: the QPU kernels against FFmpeg's C functions.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use kernels_check::{KERNELS, Which};
use runtime::Device;

fn selected(kernel: Option<&str>) -> Result<Vec<Which>> {
    match kernel {
        None => Ok(KERNELS.to_vec()),
        Some(name) => match Which::from_name(name) {
            Some(w) => Ok(vec![w]),
            None => bail!(
                "unknown kernel `{name}`; the kernels are {}",
                KERNELS
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

fn open_device() -> Result<Device> {
    Device::open().context("opening the GPU (or the emulator)")
}

pub fn check(kernel: Option<&str>, seed: Option<u64>, n: usize) -> Result<ExitCode> {
    if n == 0 {
        bail!("-n 0: give at least one block");
    }
    let kernels = selected(kernel)?;
    let seed = seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let device = open_device()?;
    println!(
        "{} (seed {seed}, {n} blocks per kernel)",
        device.description()
    );
    let mut failed = false;
    for which in kernels {
        let report = kernels_check::check(&device, which, seed, n)
            .with_context(|| format!("checking {which}"))?;
        println!("{report}");
        if !report.passed() {
            failed = true;
            if report.outside_written {
                println!("  it also wrote outside its blocks (guard band or gaps)");
            }
            println!("  repeat with: qpu check --kernel {which} --seed {seed} -n {n}");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn bench(kernel: Option<&str>, seed: u64) -> Result<ExitCode> {
    let kernels = selected(kernel)?;
    let device = open_device()?;
    let emulated = device.backend() == runtime::BackendKind::Emulator;
    let mut out = String::new();
    writeln!(out, "{}", device.description())?;
    writeln!(
        out,
        "{:<14} {:>8} {:>11} {:>12} {:>14} {:>14} {:>12}  exact",
        "kernel",
        "blocks",
        "instr/blk",
        "cycles/blk",
        "Pi 5 Mblk/s",
        "FFmpeg C Mblk/s",
        "1080p (ms)"
    )?;
    let mut all_exact = true;
    for which in kernels {
        let r = kernels_check::bench(&device, which, seed)
            .with_context(|| format!("benchmarking {which}"))?;
        all_exact &= r.exact;
        let frame_ms = if emulated {
            r.modelled_seconds * 1e3
        } else {
            r.device_seconds * 1e3
        };
        writeln!(
            out,
            "{:<14} {:>8} {:>11.1} {:>12.1} {:>14.1} {:>14.1} {:>12.3}  {}",
            which.name(),
            r.blocks,
            r.instructions_per_block,
            r.cycles_per_block,
            r.pi5_blocks_per_second() / 1e6,
            r.ffmpeg_c_blocks_per_second / 1e6,
            frame_ms,
            if r.exact { "yes" } else { "NO" }
        )?;
    }
    writeln!(out)?;
    if emulated {
        out.push_str(
            "Each row is one dispatch of a whole 1920x1080 frame's worth of the kernel's blocks\n\
             (4x4: 129,600; 8x8: 32,400; 16x16: 8,160; 32x32: 2,040; the last two over the 1088\n\
             coded rows), in random order, over all 12 QPUs at 2 threads each.\n\
             Cycles and times are the emulator's timing model (docs/qpu-sim.md): 800 MHz, one\n\
             instruction per 4 clocks per QPU, TMU reads after 165 clocks, a memory bus shared\n\
             by all QPUs at 10.4 bytes per clock (calibrated to py-videocore7's Pi 5 scopy\n\
             figures), uniforms and instruction fetch free, no caches. 'Pi 5 Mblk/s' is blocks\n\
             over modelled time; dispatch overhead (tens of microseconds per job) is not in it.\n\
             'FFmpeg C Mblk/s' is FFmpeg's C function on this host, one core, on the same\n\
             blocks in the same run. 'exact' compares the whole plane (guard band included) and\n\
             every coefficient with FFmpeg's result.\n",
        );
    } else {
        out.push_str(
            "Measured on the GPU: '1080p (ms)' is the dispatch's wall time including submission;\n\
             instruction and cycle counts come only from the emulator.\n",
        );
    }
    print!("{out}");
    Ok(if all_exact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
