//! Where things are in a source file, shared by every walk over its syntax tree: 1-based lines
//! from byte offsets, and the depth at which the walks stop.

/// The walkers stop descending here: real code does not go this deep, and garbage this deep would
/// overflow the parser's and the walker's stack (1 MiB in a WebAssembly component).
pub(crate) const MAX_VISIT_DEPTH: u32 = 512;

/// 1-based line numbers from byte offsets.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(index, _)| index + 1));
        Self { starts }
    }

    pub fn line(&self, offset: u32) -> u32 {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        u32::try_from(self.starts.partition_point(|&start| start <= offset)).unwrap_or(u32::MAX)
    }
}
