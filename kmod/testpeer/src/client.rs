//! `daedalus-test-client`: a stateful-decoder client built on `v4l2r`, for the VM suite.
//!
//! It streams a file through `/dev/videoN` with 4-deep OUTPUT and CAPTURE queues: H.264 in
//! fixed-size chunks, VP9 and AV1 as whole frames from IVF, AV1 low-overhead OBU or Annex-B
//! files ([`units`]). It follows the sequences of `dev-decoder.rst` (initialization and
//! capture setup on `V4L2_EVENT_SOURCE_CHANGE`, dynamic resolution change, a seek with
//! `STREAMOFF/STREAMON(OUTPUT)` when `--seek-at` is given, and the final drain with
//! `V4L2_DEC_CMD_STOP`), takes whatever CAPTURE format the source change announces (NV12,
//! or P010 for a 10-bit stream), writes every decoded frame's visible rectangle tightly
//! packed (as `ffmpeg -f rawvideo` does) and prints one summary line. With `--expect-peer`
//! it also checks the content the scripted peer writes (luma bytes = frame number, strictly
//! increasing; chroma 0x80).

mod units;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::event::{PollFd, PollFlags, poll};
use v4l2r::bindings;
use v4l2r::ioctl::{
    self, DecoderCmd, DqBufIoctlError, Event, EventType, PlaneMapping, QBufPlane, QBuffer,
    SubscribeEventFlags, V4l2Buffer,
};
use v4l2r::memory::{MemoryType, MmapHandle};
use v4l2r::{Format, PixelFormat, PlaneLayout, QueueType};

const OUT_Q: QueueType = QueueType::VideoOutputMplane;
const CAP_Q: QueueType = QueueType::VideoCaptureMplane;
/// Queue depth on both sides.
const DEPTH: u32 = 4;

struct Opts {
    device: String,
    input: String,
    output: Option<String>,
    codec: [u8; 4],
    chunk: u32,
    container: Option<units::Container>,
    seek_at: Option<u32>,
    seek_skip: u32,
    expect_peer: bool,
    timeout: Duration,
}

struct Buffers {
    maps: Vec<PlaneMapping>,
    free: Vec<u32>,
}

fn map_buffers(dev: &File, q: QueueType, count: u32) -> Result<Buffers> {
    let got: bindings::v4l2_requestbuffers = ioctl::reqbufs(dev, q, MemoryType::Mmap, count)
        .with_context(|| format!("REQBUFS {q:?}"))?;
    let mut maps = Vec::new();
    for i in 0..got.count {
        let b: V4l2Buffer =
            ioctl::querybuf(dev, q, i as usize).with_context(|| format!("QUERYBUF {q:?} {i}"))?;
        let plane = b.as_v4l2_planes()[0];
        // SAFETY: for MMAP buffers the kernel fills the `mem_offset` member of the union.
        let offset = unsafe { plane.m.mem_offset };
        maps.push(
            ioctl::mmap(dev, offset, plane.length).with_context(|| format!("mmap {q:?} {i}"))?,
        );
    }
    Ok(Buffers {
        free: (0..got.count).collect(),
        maps,
    })
}

fn queue(dev: &File, q: QueueType, index: u32, bytes: usize, ts_usec: i64) -> Result<()> {
    let mut qb = QBuffer::<MmapHandle>::new(q, index)
        .set_timestamp(ts_usec / 1_000_000, ts_usec % 1_000_000);
    qb.planes = vec![QBufPlane::new(bytes)];
    ioctl::qbuf::<_, ()>(dev, qb).with_context(|| format!("QBUF {q:?} {index}"))?;
    Ok(())
}

/// Outcome of a DQBUF on a non-blocking fd.
enum Dq {
    Buf(Box<V4l2Buffer>),
    NotReady,
    /// `EPIPE`: the CAPTURE queue returned its LAST buffer already.
    AfterLast,
}

fn dequeue(dev: &File, q: QueueType) -> Result<Dq> {
    match ioctl::dqbuf::<V4l2Buffer>(dev, q) {
        Ok(b) => Ok(Dq::Buf(Box::new(b))),
        Err(ioctl::IoctlConvertError::IoctlError(DqBufIoctlError::NotReady)) => Ok(Dq::NotReady),
        Err(ioctl::IoctlConvertError::IoctlError(DqBufIoctlError::Eos)) => Ok(Dq::AfterLast),
        Err(e) => bail!("DQBUF {q:?}: {e}"),
    }
}

struct Capture {
    bufs: Buffers,
    height: u32,
    stride: u32,
    /// Bytes per sample: 1 for NV12, 2 for P010.
    bps: u32,
    /// The visible rectangle: left, top, width, height.
    visible: (u32, u32, u32, u32),
}

impl Capture {
    /// Writes the visible rectangle of the frame in `data` tightly packed: the luma rows,
    /// then the interleaved chroma rows of `2 * ceil(width / 2)` samples (FFmpeg's rawvideo
    /// layout for nv12 and p010le).
    fn write_visible(&self, data: &[u8], f: &mut File) -> Result<()> {
        let (left, top, vw, vh) = self.visible;
        let (stride, bps) = (self.stride as usize, self.bps as usize);
        let luma_size = stride * self.height as usize;
        let rows = (0..vh).map(|r| {
            let s = (top + r) as usize * stride + left as usize * bps;
            (s, vw as usize * bps)
        });
        let chroma = (0..vh.div_ceil(2)).map(|r| {
            let s = luma_size + (top / 2 + r) as usize * stride + (left / 2 * 2) as usize * bps;
            (s, vw.div_ceil(2) as usize * 2 * bps)
        });
        for (s, n) in rows.chain(chroma) {
            let row = data.get(s..s + n).with_context(|| {
                format!(
                    "the visible rectangle {vw}x{vh}+{left}+{top} does not fit a frame of \
                     {} bytes with {stride}-byte lines",
                    data.len()
                )
            })?;
            f.write_all(row)?;
        }
        Ok(())
    }
}

fn setup_capture(dev: &File, old: Option<Capture>) -> Result<Capture> {
    if let Some(old) = old {
        ioctl::streamoff(dev, CAP_Q).context("STREAMOFF(CAPTURE)")?;
        drop(old.bufs);
        ioctl::reqbufs::<bindings::v4l2_requestbuffers>(dev, CAP_Q, MemoryType::Mmap, 0)
            .context("REQBUFS(CAPTURE, 0)")?;
    }
    let fmt: Format = ioctl::g_fmt(dev, CAP_Q).context("G_FMT(CAPTURE)")?;
    // The decoder does not convert: take the format it announces (dev-decoder.rst,
    // "Capture Setup"), NV12 for 8-bit streams and P010 for 10-bit ones.
    let fourcc: [u8; 4] = fmt.pixelformat.into();
    let bps = match &fourcc {
        b"NV12" => 1,
        b"P010" => 2,
        other => bail!(
            "the decoder announced capture format {}, this client writes only NV12 and P010",
            String::from_utf8_lossy(other)
        ),
    };
    let fmt: Format = ioctl::s_fmt(&mut dev.as_fd(), (CAP_Q, &fmt)).context("S_FMT(CAPTURE)")?;
    let min = ioctl::g_ctrl(dev, bindings::V4L2_CID_MIN_BUFFERS_FOR_CAPTURE)
        .context("V4L2_CID_MIN_BUFFERS_FOR_CAPTURE")? as u32;
    let sel: bindings::v4l2_rect = ioctl::g_selection(
        dev,
        ioctl::SelectionType::Capture,
        ioctl::SelectionTarget::Compose,
    )
    .context("G_SELECTION(COMPOSE)")?;
    // The minimum for decoding plus the pipeline depth this client keeps.
    let mut bufs = map_buffers(dev, CAP_Q, min + DEPTH)?;
    for i in std::mem::take(&mut bufs.free) {
        queue(dev, CAP_Q, i, 0, 0)?;
    }
    ioctl::streamon(dev, CAP_Q).context("STREAMON(CAPTURE)")?;
    eprintln!(
        "test-client: capture {}x{} {}, visible {}x{}, {} buffers (min {min})",
        fmt.width,
        fmt.height,
        String::from_utf8_lossy(&fourcc),
        sel.width,
        sel.height,
        bufs.maps.len()
    );
    Ok(Capture {
        bufs,
        height: fmt.height,
        stride: fmt
            .plane_fmt
            .first()
            .map_or(fmt.width * bps, |p| p.bytesperline),
        bps,
        visible: (
            u32::try_from(sel.left).context("negative compose rectangle")?,
            u32::try_from(sel.top).context("negative compose rectangle")?,
            sel.width,
            sel.height,
        ),
    })
}

fn run(o: &Opts) -> Result<()> {
    let mut dev = File::options()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(&o.device)
        .with_context(|| format!("cannot open {}", o.device))?;
    let mut input = Vec::new();
    File::open(&o.input)
        .and_then(|mut f| f.read_to_end(&mut input))
        .with_context(|| format!("cannot read {}", o.input))?;
    let mut out = match &o.output {
        Some(p) => Some(File::create(p).with_context(|| format!("cannot create {p}"))?),
        None => None,
    };
    let (container, chunks) = units::split(&input, o.codec, o.chunk as usize, o.container)
        .with_context(|| format!("cannot cut {} into buffers", o.input))?;
    let largest = chunks.iter().map(Vec::len).max().unwrap_or(0);
    let fmt = Format {
        width: 0,
        height: 0,
        pixelformat: PixelFormat::from(&o.codec),
        plane_fmt: vec![PlaneLayout {
            sizeimage: u32::try_from(largest).context("a frame of 4 GiB or more")?,
            bytesperline: 0,
        }],
    };
    let got: Format = ioctl::s_fmt(&mut dev, (OUT_Q, &fmt)).context("S_FMT(OUTPUT)")?;
    if got.plane_fmt.first().map_or(0, |p| p.sizeimage as usize) < largest {
        bail!(
            "the largest unit of {} has {largest} bytes, more than the OUTPUT buffer size the \
             driver allows",
            o.input
        );
    }
    eprintln!(
        "test-client: {} units from {} ({container}), the largest {largest} bytes",
        chunks.len(),
        o.input
    );
    ioctl::subscribe_event(
        &dev,
        EventType::SourceChange(0),
        SubscribeEventFlags::empty(),
    )
    .context("subscribing to SOURCE_CHANGE")?;
    ioctl::subscribe_event(&dev, EventType::Eos, SubscribeEventFlags::empty())
        .context("subscribing to EOS")?;
    let mut outb = map_buffers(&dev, OUT_Q, DEPTH)?;
    ioctl::streamon(&dev, OUT_Q).context("STREAMON(OUTPUT)")?;

    let mut next = 0usize;
    let mut cap: Option<Capture> = None;
    let (mut frames, mut changes, mut seeks, mut last_luma) = (0u32, 0u32, 0u32, None::<u8>);
    let mut stop_sent = false;
    let mut change_pending = false;
    let mut eos = false;
    let mut done = false;
    let start = Instant::now();
    while !done {
        if start.elapsed() > o.timeout {
            bail!("no end of stream after {:?} ({frames} frames)", o.timeout);
        }
        // Feed the OUTPUT queue.
        while next < chunks.len() {
            let Some(i) = outb.free.pop() else { break };
            let data = &chunks[next];
            outb.maps[i as usize][..data.len()].copy_from_slice(data);
            queue(&dev, OUT_Q, i, data.len(), next as i64 + 1)?;
            next += 1;
            if o.seek_at == Some(next as u32) {
                // Seek: drop what is queued and continue further on in the file.
                ioctl::streamoff(&dev, OUT_Q).context("STREAMOFF(OUTPUT) for a seek")?;
                outb.free = (0..outb.maps.len() as u32).collect();
                ioctl::streamon(&dev, OUT_Q).context("STREAMON(OUTPUT) after a seek")?;
                next = (next + o.seek_skip as usize).min(chunks.len());
                seeks += 1;
                last_luma = None;
            }
        }
        if next == chunks.len() && cap.is_some() && !stop_sent {
            ioctl::decoder_cmd::<_, ()>(&dev, DecoderCmd::stop()).context("DECODER_CMD(STOP)")?;
            stop_sent = true;
        }
        let mut fds = [PollFd::new(
            &dev,
            PollFlags::IN | PollFlags::OUT | PollFlags::PRI,
        )];
        poll(
            &mut fds,
            Some(&rustix::time::Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            }),
        )
        .context("poll")?;
        let rev = fds[0].revents();
        if rev.contains(PollFlags::ERR) && cap.is_some() {
            bail!("the device reports an error (poll ERR) after {frames} frames");
        }
        if rev.contains(PollFlags::PRI) {
            while let Ok(ev) = ioctl::dqevent::<Event>(&dev) {
                match ev {
                    // Initialization: set CAPTURE up at once. Mid-stream: first dequeue
                    // every frame up to the LAST buffer (dev-decoder.rst, "Dynamic
                    // Resolution Change"), then set up again.
                    Event::SrcChangeEvent(_) if cap.is_none() => {
                        cap = Some(setup_capture(&dev, None)?);
                    }
                    Event::SrcChangeEvent(_) => change_pending = true,
                    Event::Eos => eos = true,
                }
            }
        }
        while let Dq::Buf(b) = dequeue(&dev, OUT_Q)? {
            outb.free.push(b.index());
        }
        let Some(c) = cap.as_mut() else { continue };
        loop {
            let b = match dequeue(&dev, CAP_Q)? {
                Dq::Buf(b) => b,
                Dq::NotReady => break,
                Dq::AfterLast => {
                    done = stop_sent && !change_pending;
                    break;
                }
            };
            let used = *b.get_first_plane().bytesused as usize;
            if b.flags().contains(ioctl::BufferFlags::ERROR) {
                bail!(
                    "CAPTURE buffer {} came back with V4L2_BUF_FLAG_ERROR after {frames} frames",
                    b.index()
                );
            }
            if used > 0 {
                let data = &c.bufs.maps[b.index() as usize][..used];
                let luma_size = (c.stride * c.height) as usize;
                if o.expect_peer {
                    let y = data[0];
                    if data[..luma_size].iter().any(|&v| v != y)
                        || data[luma_size..].iter().any(|&v| v != 0x80)
                    {
                        bail!("frame {frames}: content is not the peer's pattern");
                    }
                    if last_luma.is_some_and(|l| y <= l && !(l > 200 && y < 50)) {
                        bail!(
                            "frame {frames}: number {y} does not follow {}",
                            last_luma.unwrap_or(0)
                        );
                    }
                    last_luma = Some(y);
                }
                if let Some(f) = out.as_mut() {
                    c.write_visible(data, f)?;
                }
                frames += 1;
            }
            if b.is_last() {
                // A LAST buffer ends either the drain or the old format of a resolution
                // change; which one, the pending events say (dev-decoder.rst). The event may
                // have been queued after this iteration's poll, so look now, not only on PRI.
                while let Ok(ev) = ioctl::dqevent::<Event>(&dev) {
                    match ev {
                        Event::SrcChangeEvent(_) => change_pending = true,
                        Event::Eos => eos = true,
                    }
                }
                if change_pending {
                    change_pending = false;
                    changes += 1;
                    last_luma = None;
                    let old = cap.take();
                    cap = Some(setup_capture(&dev, old)?);
                } else if stop_sent {
                    done = true;
                }
                break;
            }
            queue(&dev, CAP_Q, b.index(), 0, 0)?;
        }
    }
    // The EOS event may trail the LAST buffer slightly.
    let t = Instant::now();
    while !eos && t.elapsed() < Duration::from_secs(2) {
        if let Ok(Event::Eos) = ioctl::dqevent::<Event>(&dev) {
            eos = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "test-client: {frames} frames, {changes} resolution changes, {seeks} seeks, drained{}",
        if eos {
            " with EOS"
        } else {
            " without EOS event"
        }
    );
    if !eos {
        bail!("no V4L2_EVENT_EOS after the drain");
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut o = Opts {
        device: String::new(),
        input: String::new(),
        output: None,
        codec: *b"H264",
        chunk: 65536,
        container: None,
        seek_at: None,
        seek_skip: 0,
        expect_peer: false,
        timeout: Duration::from_secs(60),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--device" => o.device = v()?,
            "--input" => o.input = v()?,
            "--output" => o.output = Some(v()?),
            "--codec" => {
                let c = v()?;
                o.codec = c
                    .as_bytes()
                    .try_into()
                    .with_context(|| format!("codec `{c}` is not a fourcc such as H264 or VP90"))?;
            }
            "--chunk" => o.chunk = v()?.parse().context("--chunk")?,
            "--container" => {
                o.container = Some(match v()?.as_str() {
                    "chunks" => units::Container::Chunks,
                    "ivf" => units::Container::Ivf,
                    "obu" => units::Container::Obu,
                    "annexb" => units::Container::AnnexB,
                    c => bail!("unknown container `{c}`: use chunks, ivf, obu or annexb"),
                })
            }
            "--seek-at" => o.seek_at = Some(v()?.parse().context("--seek-at")?),
            "--seek-skip" => o.seek_skip = v()?.parse().context("--seek-skip")?,
            "--expect-peer" => o.expect_peer = true,
            "--timeout" => o.timeout = Duration::from_secs(v()?.parse().context("--timeout")?),
            other => bail!(
                "unknown option `{other}`; options: --device DEV --input FILE [--output FILE] \
                 [--codec H264|VP90|AV01] [--chunk BYTES] [--container chunks|ivf|obu|annexb] \
                 [--seek-at N --seek-skip N] [--expect-peer] [--timeout SECS]"
            ),
        }
    }
    if o.device.is_empty() || o.input.is_empty() {
        bail!("--device and --input are required");
    }
    run(&o)
}
