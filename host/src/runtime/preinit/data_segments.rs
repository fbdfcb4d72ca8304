//! Coalesces a snapshot's data segments, because wasmtime's instantiation walks every one.
//!
//! Wizer records each run of non-zero bytes as its own active segment (up to 10,000), merging
//! only runs at most 4 bytes apart, which keeps the module smallest, and keeps the module's own
//! segments as empty passive ones. A Go runtime's heap leaves 10,000 of the first kind and the Go
//! linker 28,000 of the second, and every instantiation writes a length and a base per segment
//! into the instance's context: most of a fresh `go-hello`'s start. Merging runs that share a
//! host page costs at most a page of zeros per merge and nothing at run time (the copy-on-write
//! image is built page by page anyway); the passive ones go when no instruction names a segment.

use anyhow::Context as _;
use std::ops::Range;
use wasm_encoder::{ConstExpr, DataCountSection, DataSection, Module, RawSection};
use wasmparser::{DataKind, Operator, Parser, Payload};

/// Segments at most this many bytes apart are merged: one host page.
const MAX_GAP: u64 = 4096;

/// What coalescing did, for the deploy log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Coalesced {
    pub(crate) segments_before: usize,
    pub(crate) segments_after: usize,
}

/// One active segment of memory 0 at a constant offset: the only kind a snapshot has.
struct Segment<'a> {
    offset: u64,
    bytes: &'a [u8],
}

/// Returns `wasm` with runs of its active data segments at most [`MAX_GAP`] apart merged into
/// one segment each (the gaps filled with zeros) and its passive segments removed, or `None`
/// when there is nothing to merge or the module has segments this does not rewrite (passive
/// ones that code refers to, other memories, offsets that are not constants, segments out of
/// order): those are left as they are.
pub(crate) fn coalesce(wasm: &[u8]) -> anyhow::Result<Option<(Vec<u8>, Coalesced)>> {
    let mut segments = Vec::new();
    let mut passive = 0;
    let mut data_section = None;
    let mut uses_data_indices = false;
    let mut memory64 = None;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("cannot read the snapshot")?;
        if let Payload::CodeSectionEntry(body) = &payload {
            uses_data_indices |= refers_to_segments(body)?;
        }
        if let Payload::DataSection(reader) = payload {
            data_section = Some(reader.range());
            for data in reader {
                let data = data.context("cannot read a data segment of the snapshot")?;
                let offset_expr = match data.kind {
                    DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } => offset_expr,
                    DataKind::Passive => {
                        passive += 1;
                        continue;
                    }
                    DataKind::Active { .. } => return Ok(None),
                };
                let mut ops = offset_expr.get_operators_reader();
                // The offset's type is the memory's index type.
                let (offset, is_64) = match (ops.read(), ops.read()) {
                    (Ok(Operator::I32Const { value }), Ok(Operator::End)) => {
                        (u64::from(value as u32), false)
                    }
                    (Ok(Operator::I64Const { value }), Ok(Operator::End)) => (value as u64, true),
                    _ => return Ok(None),
                };
                if *memory64.get_or_insert(is_64) != is_64 {
                    return Ok(None);
                }
                segments.push(Segment {
                    offset,
                    bytes: data.data,
                });
            }
        }
    }
    let Some(data_section) = data_section else {
        return Ok(None);
    };
    // Wizer leaves the module's original segments in place as passive ones (emptied if they were
    // active), so that segment indices keep their meaning; with no instruction using an index,
    // they can go, and the snapshot's segments be renumbered.
    if passive > 0 && uses_data_indices {
        return Ok(None);
    }
    let Some(runs) = runs(&segments) else {
        return Ok(None);
    };
    if runs.len() == segments.len() && passive == 0 {
        return Ok(None);
    }
    let memory64 = memory64 == Some(true);
    let mut merged = DataSection::new();
    for run in &runs {
        let first = &segments[run.start];
        let last = &segments[run.end - 1];
        let len = usize::try_from(last.offset - first.offset).context("segment too large")?
            + last.bytes.len();
        let mut bytes = vec![0u8; len];
        for segment in &segments[run.clone()] {
            let at = (segment.offset - first.offset) as usize;
            bytes[at..at + segment.bytes.len()].copy_from_slice(segment.bytes);
        }
        let offset = if memory64 {
            ConstExpr::i64_const(first.offset as i64)
        } else {
            ConstExpr::i32_const(first.offset as u32 as i32)
        };
        merged.active(0, &offset, bytes);
    }
    let module = rewrite(wasm, data_section, &merged, runs.len() as u32)?;
    Ok(Some((
        module,
        Coalesced {
            segments_before: segments.len() + passive,
            segments_after: runs.len(),
        },
    )))
}

/// Whether a function body names a data segment (`memory.init`, `data.drop`).
fn refers_to_segments(body: &wasmparser::FunctionBody<'_>) -> anyhow::Result<bool> {
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        if matches!(
            ops.read()?,
            Operator::MemoryInit { .. } | Operator::DataDrop { .. }
        ) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The index ranges of `segments` to merge, or `None` if they are not sorted and disjoint.
fn runs(segments: &[Segment<'_>]) -> Option<Vec<Range<usize>>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut end_of_run = 0u64;
    for (i, segment) in segments.iter().enumerate() {
        let end = segment.offset.checked_add(segment.bytes.len() as u64)?;
        if let Some(run) = runs.last_mut() {
            if segment.offset < end_of_run {
                return None;
            }
            if segment.offset - end_of_run <= MAX_GAP {
                run.end = i + 1;
                end_of_run = end;
                continue;
            }
        }
        runs.push(i..i + 1);
        end_of_run = end;
    }
    Some(runs)
}

/// `wasm` with its data section replaced by `data` (and its data count, if it has one, set to
/// `count`), every other section copied byte for byte.
fn rewrite(
    wasm: &[u8],
    data_section: Range<usize>,
    data: &DataSection,
    count: u32,
) -> anyhow::Result<Vec<u8>> {
    let mut module = Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        if range == data_section {
            module.section(data);
        } else if matches!(payload, Payload::DataCountSection { .. }) {
            module.section(&DataCountSection { count });
        } else {
            module.section(&RawSection {
                id,
                data: &wasm[range],
            });
        }
    }
    Ok(module.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(segments: &[(u32, &[u8])], data_count: bool) -> Vec<u8> {
        module_with(segments, data_count, 0, false)
    }

    /// A module with `segments` (active), `passive` empty passive segments, and a function that
    /// runs `memory.init` of segment 0 when `init` is set.
    fn module_with(
        segments: &[(u32, &[u8])],
        data_count: bool,
        passive: u32,
        init: bool,
    ) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut functions = wasm_encoder::FunctionSection::new();
        functions.function(0);
        module.section(&functions);
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 2,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        if data_count || init {
            module.section(&DataCountSection {
                count: segments.len() as u32 + passive,
            });
        }
        let mut code = wasm_encoder::CodeSection::new();
        let mut body = wasm_encoder::Function::new([]);
        if init {
            body.instructions()
                .i32_const(0)
                .i32_const(0)
                .i32_const(0)
                .memory_init(0, 0);
        }
        body.instructions().end();
        code.function(&body);
        module.section(&code);
        let mut data = DataSection::new();
        for _ in 0..passive {
            data.passive([]);
        }
        for (offset, bytes) in segments {
            data.active(
                0,
                &ConstExpr::i32_const(*offset as i32),
                bytes.iter().copied(),
            );
        }
        module.section(&data);
        module.finish()
    }

    /// Linear memory as the module's active segments initialize it.
    fn memory(wasm: &[u8]) -> Vec<u8> {
        let mut memory = vec![0u8; 2 << 16];
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::DataSection(reader) = payload.unwrap() {
                for data in reader {
                    let data = data.unwrap();
                    let DataKind::Active { offset_expr, .. } = data.kind else {
                        continue;
                    };
                    let Ok(Operator::I32Const { value }) =
                        offset_expr.get_operators_reader().read()
                    else {
                        panic!("offset")
                    };
                    let at = value as usize;
                    memory[at..at + data.data.len()].copy_from_slice(data.data);
                }
            }
        }
        memory
    }

    #[test]
    fn segments_a_page_apart_merge_and_memory_is_unchanged() {
        let wasm = module(
            &[(16, b"ab"), (100, b"cd"), (4190, b"ef"), (20_000, b"gh")],
            true,
        );
        let (merged, what) = coalesce(&wasm).unwrap().expect("merged");
        assert_eq!(
            what,
            Coalesced {
                segments_before: 4,
                segments_after: 2
            }
        );
        assert_eq!(memory(&merged), memory(&wasm));
        wasmparser::Validator::new().validate_all(&merged).unwrap();
    }

    #[test]
    fn nothing_to_merge_leaves_the_module_alone() {
        let wasm = module(&[(0, b"a"), (10_000, b"b")], false);
        assert!(coalesce(&wasm).unwrap().is_none());
    }

    #[test]
    fn overlapping_or_unsorted_segments_are_left_alone() {
        assert!(
            coalesce(&module(&[(100, b"abc"), (101, b"d")], false))
                .unwrap()
                .is_none()
        );
        assert!(
            coalesce(&module(&[(100, b"a"), (50, b"b")], false))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unused_passive_segments_are_removed() {
        let wasm = module_with(&[(16, b"ab"), (10_000, b"cd")], true, 3, false);
        let (merged, what) = coalesce(&wasm).unwrap().expect("rewritten");
        assert_eq!(
            what,
            Coalesced {
                segments_before: 5,
                segments_after: 2
            }
        );
        assert_eq!(memory(&merged), memory(&wasm));
        wasmparser::Validator::new().validate_all(&merged).unwrap();
    }

    #[test]
    fn passive_segments_that_code_names_keep_the_module_as_is() {
        let wasm = module_with(&[(16, b"ab"), (100, b"cd")], true, 1, true);
        wasmparser::Validator::new().validate_all(&wasm).unwrap();
        assert!(coalesce(&wasm).unwrap().is_none());
    }
}
