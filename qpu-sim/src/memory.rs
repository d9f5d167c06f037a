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

#[derive(Clone, Debug)]
pub(crate) struct Bo {
    pub addr: u32,
    pub data: Vec<u8>,
    /// The contents as the uniform path sees them during a dispatch, captured at the first TMU
    /// write to this buffer (see [`Memory::begin_dispatch`]).
    pub unif_view: Option<Vec<u8>>,
}

impl Bo {
    fn end(&self) -> u64 {
        u64::from(self.addr) + self.data.len() as u64
    }
}

/// The map of buffer objects, sorted by address.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    bos: Vec<Bo>,
    /// The buffers the last accesses hit, most recent first: a kernel streams through a few
    /// buffers at a time (inputs, outputs, uniforms), so this saves the search.
    recent: [usize; 4],
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
        let i = self.bos.partition_point(|b| b.addr < addr);
        self.bos.insert(
            i,
            Bo {
                addr,
                data,
                unif_view: None,
            },
        );
        self.recent = [0; 4];
        Ok(())
    }

    /// Unmaps the buffer that starts at `addr`, returning its contents.
    pub fn unmap(&mut self, addr: u32) -> Option<Vec<u8>> {
        let i = self.bos.iter().position(|b| b.addr == addr)?;
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
    pub fn buffers(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.bos.iter().map(|b| (b.addr, b.data.len()))
    }

    /// Finds the buffer holding `[addr, addr + len)` and the offset of `addr` in it, and
    /// remembers it for the next access.
    #[inline]
    pub(crate) fn locate(&mut self, addr: u32, len: u32) -> Option<(usize, usize)> {
        let r = self.find(addr, len);
        if let Some((i, _)) = r {
            if self.recent[0] != i {
                // Move to the front, keeping the order of the others.
                let k = self.recent.iter().position(|&j| j == i).unwrap_or(3);
                self.recent.copy_within(0..k, 1);
                self.recent[0] = i;
            }
        }
        r
    }

    /// [`Memory::locate`] without remembering the buffer, for readers that share the map.
    #[inline]
    fn find(&self, addr: u32, len: u32) -> Option<(usize, usize)> {
        let end = u64::from(addr) + u64::from(len);
        for &i in &self.recent {
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

    /// The contents of buffer `i` for a TMU write (keeping the uniform path's view).
    #[inline]
    pub(crate) fn data_mut(&mut self, i: usize) -> &mut [u8] {
        let b = &mut self.bos[i];
        if b.unif_view.is_none() {
            b.unif_view = Some(b.data.clone());
        }
        &mut b.data
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
        let b = &mut self.bos[i];
        if b.unif_view.is_none() {
            // The uniform path does not see TMU writes made during a dispatch
            // (py-videocore7 tests/test_tmu.py::test_tmu_read_tmu_write_uniform_read); keep
            // what it sees.
            b.unif_view = Some(b.data.clone());
        }
        b.data[off..off + len as usize].copy_from_slice(&v.to_le_bytes()[..len as usize]);
        Some(())
    }

    /// Reads a 32-bit word through the uniform path (the `ldunif*` streams): memory as it was
    /// when the dispatch started.
    #[inline]
    pub(crate) fn read_uniform(&mut self, addr: u32) -> Option<u32> {
        let (i, off) = self.locate(addr, 4)?;
        let b = &self.bos[i];
        let d = b.unif_view.as_deref().unwrap_or(&b.data);
        Some(le(&d[off..off + 4]))
    }

    /// [`Memory::read_uniform`] through a shared reference.
    #[inline]
    pub(crate) fn read_uniform_shared(&self, addr: u32) -> Option<u32> {
        let (i, off) = self.find(addr, 4)?;
        let b = &self.bos[i];
        let d = b.unif_view.as_deref().unwrap_or(&b.data);
        Some(le(&d[off..off + 4]))
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
        for b in &mut self.bos {
            b.unif_view = None;
        }
    }

    /// Ends a dispatch: drops the uniform views (the job's cache clean makes every write
    /// visible to the next job, v3d-uapi.md §6).
    pub(crate) fn end_dispatch(&mut self) {
        for b in &mut self.bos {
            b.unif_view = None;
        }
    }
}

/// How an instruction reaches memory: exclusively (the serial scheduler), or shared by the
/// host threads that run QPUs in parallel between memory events (`gpu.rs`), which only read
/// the uniform streams.
pub(crate) enum Mem<'a> {
    Excl(&'a mut Memory),
    Shared(&'a Memory),
}

impl Mem<'_> {
    #[inline]
    pub(crate) fn read_uniform(&mut self, addr: u32) -> Option<u32> {
        match self {
            Mem::Excl(m) => m.read_uniform(addr),
            Mem::Shared(m) => m.read_uniform_shared(addr),
        }
    }

    /// The memory for a TMU access or an instruction fetch. The parallel scheduler stops a
    /// QPU before any instruction that needs it, so the shared case is a bug in that
    /// scheduler; it is reported as a fault rather than a panic.
    #[inline]
    pub(crate) fn exclusive(&mut self) -> Result<&mut Memory, FaultKind> {
        match self {
            Mem::Excl(m) => Ok(m),
            Mem::Shared(_) => Err(FaultKind::Unsupported(
                "internal error: a TMU access or instruction fetch on a parallel host thread; please report this emulator bug".into(),
            )),
        }
    }
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
}
