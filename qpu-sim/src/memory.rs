//! Buffer objects at 32-bit GPU addresses.
//!
//! The emulated GPU sees only what is mapped here; an access outside every buffer is a fault,
//! as an MMU fault is on the real chip. The caller owns the contents between dispatches and can
//! read or write them in place (a runtime's CPU mapping aliases them).

use thiserror::Error;

use crate::fault::FaultKind;

/// Why a buffer cannot be mapped.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MapError {
    #[error(
        "buffer at {addr:#010x} of {len} bytes runs past the end of the 32-bit GPU address space; map it lower"
    )]
    PastEnd { addr: u32, len: usize },
    #[error(
        "buffer at {addr:#010x} ({len} bytes) overlaps the buffer at {other:#010x} ({other_len} bytes); give each buffer its own range"
    )]
    Overlap {
        addr: u32,
        len: usize,
        other: u32,
        other_len: usize,
    },
}

/// The granule of the uniform path's snapshot: the first TMU write to a page during a dispatch
/// saves the page's old bytes. Small enough that a dispatch writing a few scattered words
/// copies little, large enough that the per-page table of a multi-megabyte frame buffer stays
/// small (4 bytes per page).
const PAGE_SHIFT: u32 = 12;
const PAGE: usize = 1 << PAGE_SHIFT;
/// A page no TMU write has touched in this dispatch.
const UNSAVED: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub(crate) struct Bo {
    pub addr: u32,
    pub data: Vec<u8>,
    /// Per page of `data`, the slot of [`Snapshot::store`] holding the page as it was when the
    /// dispatch started, or [`UNSAVED`]. Empty until the first TMU write to the buffer.
    saved: Vec<u32>,
    /// One bit per page, set when the page is saved: what a TMU write checks, a word for 64
    /// pages (a lookup whose lanes work on blocks all over a frame spans hundreds).
    saved_bits: Vec<u64>,
    /// A run `[start, end)` of saved pages, grown by each save that touches it. A lookup
    /// saves every page of its span, and spans of lanes working all over a frame overlap, so
    /// the saved pages soon form one run and a write's check is two compares.
    run: (usize, usize),
}

impl Bo {
    fn end(&self) -> u64 {
        u64::from(self.addr) + self.data.len() as u64
    }

    /// The offset of `addr` in the buffer if `[addr, addr + len)` lies inside it.
    #[inline(always)]
    fn offset_of(&self, addr: u32, len: u32) -> Option<usize> {
        let off = addr.checked_sub(self.addr)?;
        (u64::from(off) + u64::from(len) <= self.data.len() as u64).then_some(off as usize)
    }
}

/// What the uniform path sees of the pages TMU writes changed during the dispatch: their
/// contents when it started (py-videocore7 tests/test_tmu.py::test_tmu_read_tmu_write_uniform_read).
/// Copying a page on its first write costs one copy of what a dispatch writes, where copying
/// whole buffers cost the megabytes of every frame buffer a kernel touched.
#[derive(Clone, Debug, Default)]
struct Snapshot {
    /// The saved pages back to back, [`PAGE`] bytes a slot (a buffer's short last page padded).
    /// Cleared, not freed, between dispatches, so later dispatches reuse its memory.
    store: Vec<u8>,
    /// The buffer and page of each slot, to mark them unsaved again.
    slots: Vec<(usize, usize)>,
}

/// The page the last uniform read hit, as the uniform path sees it: `len` bytes at GPU address
/// `lo`, at offset `start` of the buffer's data or, if `saved`, of the snapshot store. Uniform
/// streams are sequential, so most reads land in it and cost a compare and a load.
#[derive(Clone, Copy, Debug, Default)]
struct UnifWindow {
    lo: u32,
    /// 0 when no window is held.
    len: u32,
    bo: usize,
    start: usize,
    saved: bool,
}

/// The map of buffer objects, sorted by address.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    bos: Vec<Bo>,
    /// The buffers the last accesses hit, most recent first: a kernel streams through a few
    /// buffers at a time (inputs, outputs, uniforms), so this saves the search.
    recent: [usize; 4],
    snap: Snapshot,
    unif: UnifWindow,
}

impl Memory {
    /// Maps `data` at `addr`.
    pub fn map(&mut self, addr: u32, data: Vec<u8>) -> Result<(), MapError> {
        let len = data.len();
        if u64::from(addr) + len as u64 > 1 << 32 {
            return Err(MapError::PastEnd { addr, len });
        }
        let end = u64::from(addr) + len as u64;
        for b in &self.bos {
            if len > 0 && !b.data.is_empty() && u64::from(addr) < b.end() && u64::from(b.addr) < end
            {
                return Err(MapError::Overlap {
                    addr,
                    len,
                    other: b.addr,
                    other_len: b.data.len(),
                });
            }
        }
        // The snapshot and the window name buffers by index, which the insertion shifts.
        self.reset_snapshot();
        let i = self.bos.partition_point(|b| b.addr < addr);
        self.bos.insert(
            i,
            Bo {
                addr,
                run: (0, 0),
                data,
                saved: Vec::new(),
                saved_bits: Vec::new(),
            },
        );
        self.recent = [0; 4];
        Ok(())
    }

    /// Unmaps the buffer that starts at `addr`, returning its contents.
    pub fn unmap(&mut self, addr: u32) -> Option<Vec<u8>> {
        let i = self.bos.iter().position(|b| b.addr == addr)?;
        self.reset_snapshot();
        self.recent = [0; 4];
        Some(self.bos.remove(i).data)
    }

    /// The contents of the buffer that starts at `addr`.
    pub fn bo(&self, addr: u32) -> Option<&[u8]> {
        self.bos
            .iter()
            .find(|b| b.addr == addr)
            .map(|b| b.data.as_slice())
    }

    /// The contents of the buffer that starts at `addr`, writable.
    pub fn bo_mut(&mut self, addr: u32) -> Option<&mut [u8]> {
        self.bos
            .iter_mut()
            .find(|b| b.addr == addr)
            .map(|b| b.data.as_mut_slice())
    }

    /// The start addresses and sizes of every buffer, in address order.
    /// The bytes of every buffer mapped.
    pub(crate) fn mapped_bytes(&self) -> u64 {
        self.bos.iter().map(|b| b.data.len() as u64).sum()
    }

    pub fn buffers(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.bos.iter().map(|b| (b.addr, b.data.len()))
    }

    /// Finds the buffer holding `[addr, addr + len)` and the offset of `addr` in it, and
    /// remembers it for the next access.
    #[inline]
    pub(crate) fn locate(&mut self, addr: u32, len: u32) -> Option<(usize, usize)> {
        if let Some(r) = self.find_recent(addr, len) {
            return Some(r);
        }
        // A kernel alternates between two buffers (reads from one, writes to the other).
        let i = self.recent[1];
        if let Some(off) = self.bos.get(i).and_then(|b| b.offset_of(addr, len)) {
            self.recent.swap(0, 1);
            return Some((i, off));
        }
        self.locate_slow(addr, len)
    }

    /// [`Memory::locate`] when the last buffer hit does not hold the range: the other recent
    /// buffers, then a binary search; the buffer found moves to the front.
    #[inline(never)]
    fn locate_slow(&mut self, addr: u32, len: u32) -> Option<(usize, usize)> {
        let r = self.find_slow(addr, len)?;
        let i = r.0;
        // Move to the front, keeping the order of the others.
        let k = self.recent.iter().position(|&j| j == i).unwrap_or(3);
        self.recent.copy_within(0..k, 1);
        self.recent[0] = i;
        Some(r)
    }

    /// [`Memory::locate`] without remembering the buffer, for readers that share the map.
    #[inline]
    fn find(&self, addr: u32, len: u32) -> Option<(usize, usize)> {
        self.find_recent(addr, len)
            .or_else(|| self.find_slow(addr, len))
    }

    /// Whether the last buffer hit holds `[addr, addr + len)`: the common case, kept small
    /// enough to inline.
    #[inline(always)]
    fn find_recent(&self, addr: u32, len: u32) -> Option<(usize, usize)> {
        let i = self.recent[0];
        Some((i, self.bos.get(i)?.offset_of(addr, len)?))
    }

    #[inline(never)]
    fn find_slow(&self, addr: u32, len: u32) -> Option<(usize, usize)> {
        let end = u64::from(addr) + u64::from(len);
        for &i in &self.recent[1..] {
            if let Some(b) = self.bos.get(i) {
                if addr >= b.addr && end <= b.end() {
                    return Some((i, (addr - b.addr) as usize));
                }
            }
        }
        let i = self.bos.partition_point(|b| b.addr <= addr);
        if i == 0 {
            return None;
        }
        let b = &self.bos[i - 1];
        if end <= b.end() {
            Some((i - 1, (addr - b.addr) as usize))
        } else {
            None
        }
    }

    /// The contents of buffer `i` (an index from `locate`), for reading.
    #[inline]
    pub(crate) fn data(&self, i: usize) -> &[u8] {
        &self.bos[i].data
    }

    /// Bytes `[off, end)` of buffer `i` for a TMU write; the pages they cover are saved first
    /// for the uniform path.
    #[inline]
    pub(crate) fn data_mut(&mut self, i: usize, off: usize, end: usize) -> &mut [u8] {
        if end > off {
            let (first, last) = (off >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT);
            let b = &self.bos[i];
            let in_run = first >= b.run.0 && last < b.run.1;
            if !in_run && !all_set(&b.saved_bits, first, last) {
                self.save_pages(i, first, last);
            }
        }
        &mut self.bos[i].data[off..end]
    }

    /// Saves the pages `first..=last` of buffer `i` that are not saved yet.
    #[cold]
    #[inline(never)]
    fn save_pages(&mut self, i: usize, first: usize, last: usize) {
        let b = &mut self.bos[i];
        if b.saved.is_empty() {
            let pages = b.data.len().div_ceil(PAGE);
            b.saved = vec![UNSAVED; pages];
            b.saved_bits = vec![0; pages.div_ceil(64)];
        }
        for p in first..=last.min(b.saved.len().saturating_sub(1)) {
            if b.saved[p] != UNSAVED {
                continue;
            }
            let slot = self.snap.slots.len();
            let page = &b.data[p * PAGE..((p + 1) * PAGE).min(b.data.len())];
            self.snap.store.extend_from_slice(page);
            self.snap.store.resize((slot + 1) * PAGE, 0);
            self.snap.slots.push((i, p));
            // Slots count pages of 32-bit-addressed buffers: at most 2^20, far below UNSAVED.
            b.saved[p] = slot as u32;
            b.saved_bits[p / 64] |= 1 << (p % 64);
        }
        // Every page of first..=last is saved now (pages past the end do not exist).
        let (start, end) = (first, last + 1);
        b.run = if start <= b.run.1 && b.run.0 <= end {
            (b.run.0.min(start), b.run.1.max(end))
        } else if end - start > b.run.1 - b.run.0 {
            (start, end)
        } else {
            b.run
        };
        // The window may show one of these pages live.
        self.unif = UnifWindow::default();
    }

    /// Makes `dst` a copy of this map as the dispatch began (the pages TMU writes changed
    /// since as they were saved; no pages saved in `dst`), reusing `dst`'s memory when it
    /// holds buffers of the same addresses and sizes (an earlier copy).
    pub(crate) fn copy_into(&self, dst: &mut Memory) {
        let same = dst.bos.len() == self.bos.len()
            && dst
                .bos
                .iter()
                .zip(&self.bos)
                .all(|(d, s)| d.addr == s.addr && d.data.len() == s.data.len());
        if !same {
            *dst = self.clone();
        } else {
            for (d, s) in dst.bos.iter_mut().zip(&self.bos) {
                d.data.copy_from_slice(&s.data);
            }
        }
        dst.reset_snapshot();
        self.put_back_saved(&mut dst.bos);
    }

    /// Puts every page written since the dispatch began back as it was then (the saved
    /// pages are exactly those), and forgets the saves.
    pub(crate) fn restore_dispatch_start(&mut self) {
        let mut bos = std::mem::take(&mut self.bos);
        self.put_back_saved(&mut bos);
        self.bos = bos;
        self.reset_snapshot();
    }

    /// Writes the saved pages, as they were when the dispatch began, into `bos` (this map's
    /// buffers or a copy's).
    fn put_back_saved(&self, bos: &mut [Bo]) {
        for (k, &(i, p)) in self.snap.slots.iter().enumerate() {
            let Some(b) = bos.get_mut(i) else {
                continue;
            };
            let start = p * PAGE;
            let len = b.data.len().saturating_sub(start).min(PAGE);
            if let (Some(d), Some(src)) = (
                b.data.get_mut(start..start + len),
                self.snap.store.get(k * PAGE..k * PAGE + len),
            ) {
                d.copy_from_slice(src);
            }
        }
    }

    /// Forgets every saved page: the uniform path sees memory as it is now.
    fn reset_snapshot(&mut self) {
        for &(i, p) in &self.snap.slots {
            if let Some(b) = self.bos.get_mut(i) {
                if let Some(s) = b.saved.get_mut(p) {
                    *s = UNSAVED;
                }
                if let Some(w) = b.saved_bits.get_mut(p / 64) {
                    *w = 0;
                }
            }
        }
        for b in &mut self.bos {
            b.run = (0, 0);
        }
        self.snap.slots.clear();
        self.snap.store.clear();
        self.unif = UnifWindow::default();
    }

    /// Reads `len` (1, 2 or 4) bytes little-endian through the TMU path.
    #[inline]
    pub(crate) fn read(&mut self, addr: u32, len: u32) -> Option<u32> {
        let (i, off) = self.locate(addr, len)?;
        let d = &self.bos[i].data[off..off + len as usize];
        Some(le(d))
    }

    /// Writes the low `len` bytes of `v` through the TMU path.
    #[inline]
    pub(crate) fn write(&mut self, addr: u32, len: u32, v: u32) -> Option<()> {
        let (i, off) = self.locate(addr, len)?;
        let len = len as usize;
        self.data_mut(i, off, off + len)
            .copy_from_slice(&v.to_le_bytes()[..len]);
        Some(())
    }

    /// Reads a 32-bit word through the uniform path (the `ldunif*` streams): memory as it was
    /// when the dispatch started.
    #[inline(always)]
    pub(crate) fn read_uniform(&mut self, addr: u32) -> Option<u32> {
        let w = self.unif;
        let o = addr.wrapping_sub(w.lo) as usize;
        if o + 4 <= w.len as usize {
            return Some(le(&self.window_bytes(w)[o..o + 4]));
        }
        self.read_uniform_slow(addr)
    }

    /// [`Memory::read_uniform`] outside the window: finds the page and makes it the window.
    #[inline(never)]
    fn read_uniform_slow(&mut self, addr: u32) -> Option<u32> {
        let (i, off) = self.locate(addr, 4)?;
        let w = self.unif_window(i, off);
        self.unif = w;
        self.uniform_word(w, i, off)
    }

    /// The page of buffer `i` holding offset `off`, as the uniform path sees it.
    #[inline]
    fn unif_window(&self, i: usize, off: usize) -> UnifWindow {
        let b = &self.bos[i];
        let p = off >> PAGE_SHIFT;
        let len = (b.data.len() - (p << PAGE_SHIFT)).min(PAGE);
        let lo = b.addr + (p << PAGE_SHIFT) as u32;
        match b.saved.get(p) {
            Some(&slot) if slot != UNSAVED => UnifWindow {
                lo,
                len: len as u32,
                bo: i,
                start: slot as usize * PAGE,
                saved: true,
            },
            _ => UnifWindow {
                lo,
                len: len as u32,
                bo: i,
                start: p << PAGE_SHIFT,
                saved: false,
            },
        }
    }

    /// The bytes window `w` shows (a window names a buffer and slot that exist: it is
    /// cleared whenever buffers are mapped, unmapped or pages saved).
    #[inline(always)]
    fn window_bytes(&self, w: UnifWindow) -> &[u8] {
        let src = if w.saved {
            &self.snap.store
        } else {
            &self.bos[w.bo].data
        };
        &src[w.start..w.start + w.len as usize]
    }

    /// The uniform word at offset `off` of buffer `i` (the whole word inside it), `w` being
    /// the window of the page holding `off`. A word crossing into the next page takes each
    /// byte from its own page's view.
    fn uniform_word(&self, w: UnifWindow, i: usize, off: usize) -> Option<u32> {
        let o = off & (PAGE - 1);
        if let Some(d) = self.window_bytes(w).get(o..o + 4) {
            return Some(le(d));
        }
        let mut b = [0u8; 4];
        for (k, v) in b.iter_mut().enumerate() {
            let wk = self.unif_window(i, off + k);
            let ok = (off + k) & (PAGE - 1);
            *v = *self.window_bytes(wk).get(ok)?;
        }
        Some(u32::from_le_bytes(b))
    }

    /// Reads a 64-bit instruction word (code is fetched once per dispatch).
    pub(crate) fn read_u64(&mut self, addr: u32) -> Option<u64> {
        let (i, off) = self.locate(addr, 8)?;
        let d = &self.bos[i].data[off..off + 8];
        Some(u64::from_le_bytes(d.try_into().ok()?))
    }

    /// The number of bytes from `addr` to the end of its buffer.
    pub(crate) fn bytes_from(&mut self, addr: u32) -> Option<usize> {
        let (i, off) = self.locate(addr, 1)?;
        Some(self.bos[i].data.len() - off)
    }

    /// Starts a dispatch: the uniform view is memory as it is now.
    pub(crate) fn begin_dispatch(&mut self) {
        self.reset_snapshot();
    }

    /// Ends a dispatch: drops the saved pages (the job's cache clean makes every write
    /// visible to the next job, v3d-uapi.md §6).
    pub(crate) fn end_dispatch(&mut self) {
        self.reset_snapshot();
    }
}

/// How an instruction reaches memory: exclusively (the serial scheduler), or shared by the
/// host threads that run QPUs in parallel between memory events (`gpu.rs`), which only read
/// the uniform streams.
pub(crate) enum Mem<'a> {
    Excl(&'a mut Memory),
    /// The map, and the page of it the last uniform read hit (`bytes` at GPU address `lo`):
    /// nothing writes memory while it is shared, so the page's view stays valid.
    Shared {
        mem: &'a Memory,
        lo: u32,
        bytes: &'a [u8],
    },
}

impl<'a> Mem<'a> {
    /// The map shared by the host threads of a parallel phase.
    pub(crate) fn shared(mem: &'a Memory) -> Self {
        Mem::Shared {
            mem,
            lo: 0,
            bytes: &[],
        }
    }

    #[inline(always)]
    pub(crate) fn read_uniform(&mut self, addr: u32) -> Option<u32> {
        match self {
            Mem::Excl(m) => m.read_uniform(addr),
            Mem::Shared { lo, bytes, .. } => {
                let o = addr.wrapping_sub(*lo) as usize;
                if let Some(d) = bytes.get(o..o + 4) {
                    return Some(le(d));
                }
                self.read_uniform_shared_slow(addr)
            }
        }
    }

    /// The shared [`Mem::read_uniform`] outside its window: finds the page and makes it the
    /// window.
    #[inline(never)]
    fn read_uniform_shared_slow(&mut self, addr: u32) -> Option<u32> {
        let Mem::Shared { mem, lo, bytes } = self else {
            return None;
        };
        let (i, off) = mem.find(addr, 4)?;
        let w = mem.unif_window(i, off);
        *lo = w.lo;
        *bytes = mem.window_bytes(w);
        mem.uniform_word(w, i, off)
    }

    /// The memory for a TMU access or an instruction fetch. The parallel scheduler stops a
    /// QPU before any instruction that needs it, so the shared case is a bug in that
    /// scheduler; it is reported as a fault rather than a panic.
    #[inline]
    pub(crate) fn exclusive(&mut self) -> Result<&mut Memory, FaultKind> {
        match self {
            Mem::Excl(m) => Ok(m),
            Mem::Shared { .. } => Err(FaultKind::Unsupported(
                "internal error: a TMU access or instruction fetch on a parallel host thread; please report this emulator bug".into(),
            )),
        }
    }
}

/// Whether bits `first..=last` of the bitmap are all set (bits past its end are clear).
#[inline(always)]
fn all_set(bits: &[u64], first: usize, last: usize) -> bool {
    let (fw, lw) = (first / 64, last / 64);
    let mask = |lo: usize, hi: usize| (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
    if fw == lw {
        // A lookup spans at most a few pages: one word.
        let m = mask(first % 64, last % 64);
        return bits.get(fw).is_some_and(|&w| w & m == m);
    }
    let Some(words) = bits.get(fw..=lw) else {
        return false;
    };
    let n = words.len();
    words.iter().enumerate().all(|(j, &w)| {
        let m = mask(
            if j == 0 { first % 64 } else { 0 },
            if j == n - 1 { last % 64 } else { 63 },
        );
        w & m == m
    })
}

#[inline(always)]
fn le(d: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w[..d.len()].copy_from_slice(d);
    u32::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_maps_are_refused() {
        let mut m = Memory::default();
        m.map(0x1000, vec![0; 16]).unwrap();
        assert!(matches!(
            m.map(0x100c, vec![0; 8]),
            Err(MapError::Overlap { other: 0x1000, .. })
        ));
        m.map(0x1010, vec![0; 8]).unwrap();
        assert!(matches!(
            m.map(0xffff_fffc, vec![0; 8]),
            Err(MapError::PastEnd { .. })
        ));
    }

    #[test]
    fn accesses_stay_inside_one_buffer() {
        let mut m = Memory::default();
        m.map(0x1000, vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        m.map(0x1008, vec![9, 9, 9, 9]).unwrap();
        assert_eq!(m.read(0x1004, 4), Some(0x0807_0605));
        // A word straddling two buffers is outside every buffer.
        assert_eq!(m.read(0x1006, 4), None);
        assert_eq!(m.read(0xfff, 1), None);
        assert_eq!(m.read(0x100c, 1), None);
    }

    #[test]
    fn uniform_view_does_not_see_tmu_writes() {
        let mut m = Memory::default();
        m.map(0x2000, vec![1, 0, 0, 0]).unwrap();
        m.begin_dispatch();
        m.write(0x2000, 4, 2).unwrap();
        assert_eq!(m.read(0x2000, 4), Some(2));
        assert_eq!(m.read_uniform(0x2000), Some(1));
        m.end_dispatch();
        assert_eq!(m.read_uniform(0x2000), Some(2));
    }

    /// A buffer of three pages and a bit at 0x10000, with every byte distinct per page.
    fn three_pages() -> Memory {
        let mut m = Memory::default();
        let data = (0..3 * PAGE + 100)
            .map(|i| (i * 7 + i / PAGE) as u8)
            .collect();
        m.map(0x10000, data).unwrap();
        m
    }

    fn word(m: &Memory, addr: u32) -> u32 {
        let d = m.bo(0x10000).unwrap();
        let o = (addr - 0x10000) as usize;
        le(&d[o..o + 4])
    }

    #[test]
    fn a_write_across_a_page_boundary_hides_both_pages_from_the_uniform_path() {
        let mut m = three_pages();
        let at = 0x10000 + PAGE as u32 - 2;
        let (old_lo, old_hi) = (word(&m, at - 2), word(&m, at + 2));
        m.begin_dispatch();
        // The uniform window holds the first page before the write lands in it.
        assert_eq!(m.read_uniform(at - 2), Some(old_lo));
        let (i, off) = m.locate(at, 4).unwrap();
        m.data_mut(i, off, off + 4)
            .copy_from_slice(&0xdead_beef_u32.to_le_bytes());
        assert_eq!(m.read(at, 4), Some(0xdead_beef));
        assert_eq!(m.read_uniform(at - 2), Some(old_lo));
        assert_eq!(m.read_uniform(at + 2), Some(old_hi));
        assert_eq!(Mem::shared(&m).read_uniform(at - 2), Some(old_lo));
        assert_eq!(Mem::shared(&m).read_uniform(at + 2), Some(old_hi));
        m.end_dispatch();
        assert_eq!(m.read_uniform(at), Some(0xdead_beef));
    }

    #[test]
    fn a_uniform_word_across_a_page_boundary_takes_each_page_from_its_own_view() {
        let mut m = three_pages();
        let boundary = 0x10000 + 2 * PAGE as u32;
        let old = word(&m, boundary - 2);
        m.begin_dispatch();
        // Only the second page (the word's low half) is written.
        m.write(boundary - 8, 4, 0x1111_1111).unwrap();
        m.write(boundary - 4, 4, 0x2222_2222).unwrap();
        // And the third page (the word's high half) after the window covered it.
        assert_eq!(m.read_uniform(boundary + 4), Some(word(&m, boundary + 4)));
        let high_before = word(&m, boundary);
        m.write(boundary, 2, 0x3333).unwrap();
        assert_ne!(word(&m, boundary), high_before);
        assert_eq!(m.read_uniform(boundary - 2), Some(old));
        assert_eq!(Mem::shared(&m).read_uniform(boundary - 2), Some(old));
        m.end_dispatch();
        assert_eq!(m.read_uniform(boundary - 2), Some(0x3333_2222));
    }

    #[test]
    fn the_short_last_page_and_the_buffer_end() {
        let mut m = three_pages();
        let last = 0x10000 + 3 * PAGE as u32 + 96;
        let old = word(&m, last);
        m.begin_dispatch();
        m.write(last, 4, 5).unwrap();
        assert_eq!(m.read_uniform(last), Some(old));
        assert_eq!(m.read_uniform(last + 1), None);
        assert_eq!(Mem::shared(&m).read_uniform(last + 1), None);
        assert_eq!(m.read_uniform(last + 4), None);
        m.end_dispatch();
        assert_eq!(m.read_uniform(last), Some(5));
    }

    #[test]
    fn saved_pages_do_not_outlive_the_dispatch_or_a_remap() {
        let mut m = three_pages();
        m.begin_dispatch();
        m.write(0x10000, 4, 9).unwrap();
        m.end_dispatch();
        m.begin_dispatch();
        // A new dispatch sees the last one's write, then saves the page again.
        assert_eq!(m.read_uniform(0x10000), Some(9));
        m.write(0x10000, 4, 10).unwrap();
        assert_eq!(m.read_uniform(0x10000), Some(9));
        // Mapping happens between dispatches (`Gpu::dispatch` holds the memory); here it shifts
        // the buffer indices the snapshot and the window hold, so it starts the view afresh.
        m.map(0x1000, vec![0xaa; 8]).unwrap();
        assert_eq!(m.read_uniform(0x10000), Some(10));
        assert_eq!(m.read_uniform(0x1000), Some(0xaaaa_aaaa));
        m.end_dispatch();
    }

    /// Random TMU writes and uniform reads over two buffers against the rule itself: the
    /// uniform path reads a copy of memory taken when the dispatch started.
    #[test]
    fn uniform_reads_match_a_copy_taken_at_dispatch_start() {
        let mut m = Memory::default();
        let mut model: Vec<(u32, Vec<u8>)> = vec![
            (0x4_0000, (0..5 * PAGE + 12).map(|i| i as u8).collect()),
            (0x4_0000 + 5 * PAGE as u32 + 12, vec![0x5a; 2 * PAGE]),
        ];
        for (a, d) in &model {
            m.map(*a, d.clone()).unwrap();
        }
        let total = (5 * PAGE + 12 + 2 * PAGE) as u32;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 32) as u32 % n
        };
        let read_model = |model: &[(u32, Vec<u8>)], addr: u32, len: u32| -> Option<u32> {
            let (a, d) = model
                .iter()
                .find(|(a, d)| addr >= *a && addr - a < d.len() as u32)?;
            let o = (addr - a) as usize;
            d.get(o..o + len as usize).map(le)
        };
        for _ in 0..20 {
            m.begin_dispatch();
            let start = model.clone();
            for _ in 0..400 {
                let addr = 0x4_0000 - 4 + next(total + 8);
                match next(4) {
                    0 => {
                        let len = [1, 2, 4][next(3) as usize];
                        let v = next(u32::MAX);
                        let expect = read_model(&model, addr, len);
                        assert_eq!(m.write(addr, len, v).is_some(), expect.is_some());
                        if expect.is_some() {
                            let (a, d) = model
                                .iter_mut()
                                .find(|(a, d)| addr >= *a && addr - *a < d.len() as u32)
                                .unwrap();
                            let o = (addr - *a) as usize;
                            d[o..o + len as usize]
                                .copy_from_slice(&v.to_le_bytes()[..len as usize]);
                        }
                    }
                    1 => assert_eq!(m.read(addr, 4), read_model(&model, addr, 4), "{addr:#x}"),
                    2 => assert_eq!(
                        m.read_uniform(addr),
                        read_model(&start, addr, 4),
                        "{addr:#x}"
                    ),
                    _ => assert_eq!(
                        Mem::shared(&m).read_uniform(addr),
                        read_model(&start, addr, 4),
                        "{addr:#x}"
                    ),
                }
            }
            m.end_dispatch();
        }
        for (a, d) in &model {
            assert_eq!(m.bo(*a), Some(d.as_slice()));
        }
    }
}
