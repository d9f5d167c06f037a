//! Arbitrary bytes into the protocol parser: it must never panic, and whatever it accepts
//! must re-encode to exactly the same bytes (no field silently reinterpreted). The same
//! bytes also drive the cookie and buffer trackers against a simple model.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use daedalus_proto::state::{BufferSet, CookieRing, CookieTable};
use daedalus_proto::{Header, MAX_MESSAGE_LEN, Role, decode, decode_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data);
    if let Ok(f) = decode(data) {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = f
            .message
            .encode(f.session, &mut buf)
            .expect("an accepted message re-encodes");
        assert_eq!(&buf[..n], data, "accepted input is not canonical");
        let by_module = decode_from(data, Role::Module).is_ok();
        let by_daemon = decode_from(data, Role::Daemon).is_ok();
        assert!(by_module || by_daemon, "accepted but no role may send it");
    }

    // Tracker model check: each 6-byte record is (op, index/cookie, timestamp).
    let mut set = BufferSet::new();
    let mut set_model = BTreeSet::new();
    let mut table = CookieTable::<8>::new();
    let mut table_model = BTreeMap::new();
    let mut ring = CookieRing::<4>::new();
    let mut ring_model: Vec<(u32, u64)> = Vec::new();
    for rec in data.chunks_exact(6) {
        let op = rec[0] % 5;
        let v = u32::from(rec[1]) % 70;
        let ts = u64::from(u32::from_le_bytes([rec[2], rec[3], rec[4], rec[5]]));
        match op {
            0 => {
                let ok = set.insert(v).is_ok();
                assert_eq!(ok, v < 64 && set_model.insert(v));
            }
            1 => {
                let ok = set.remove(v).is_ok();
                assert_eq!(ok, v < 64 && set_model.remove(&v));
            }
            2 => {
                let r = table.insert(v, ts);
                let expect = v != 0 && !table_model.contains_key(&v) && table_model.len() < 8;
                assert_eq!(r.is_ok(), expect);
                if expect {
                    table_model.insert(v, ts);
                }
            }
            3 => {
                assert_eq!(
                    table.remove(v).ok(),
                    table_model.remove(&v).filter(|_| v != 0)
                );
            }
            _ => {
                ring.push(v, ts);
                if v != 0 {
                    ring_model.push((v, ts));
                    if ring_model.len() > 4 {
                        ring_model.remove(0);
                    }
                }
            }
        }
        for i in 0..70 {
            assert_eq!(set.contains(i), set_model.contains(&i));
            assert_eq!(
                table.get(i),
                table_model.get(&i).copied().filter(|_| i != 0)
            );
            let newest = ring_model
                .iter()
                .rev()
                .find(|(c, _)| *c == i)
                .map(|&(_, t)| t);
            assert_eq!(ring.get(i), newest);
        }
        assert_eq!(set.len() as usize, set_model.len());
        assert_eq!(table.len(), table_model.len());
    }
});
