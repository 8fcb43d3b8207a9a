//! Bounded buffers for what sandboxes print: a command's output and the main process's log lines.

/// Keeps the last `max` bytes of a command's output: a runaway command must not fill the host's
/// memory, and the end of a build's output is where its errors are.
pub(crate) struct OutputTail {
    bytes: Vec<u8>,
    max: usize,
    cut: usize,
}

impl OutputTail {
    pub(crate) fn new(max: usize) -> Self {
        Self { bytes: Vec::new(), max, cut: 0 }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        // Trimming only past twice the bound keeps the copying amortised.
        if self.bytes.len() > self.max.saturating_mul(2) {
            let excess = self.bytes.len() - self.max;
            self.bytes.drain(..excess);
            self.cut += excess;
        }
    }

    pub(crate) fn into_string(mut self) -> String {
        if self.bytes.len() > self.max {
            let excess = self.bytes.len() - self.max;
            self.bytes.drain(..excess);
            self.cut += excess;
        }
        let text = String::from_utf8_lossy(&self.bytes);
        if self.cut == 0 { text.into_owned() } else { format!("[… {} bytes cut …]\n{text}", self.cut) }
    }
}

/// Splits a byte stream into lines. A line longer than the bound is cut into pieces, so a process
/// that never prints a newline cannot grow the buffer without end.
#[derive(Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
}

const MAX_LINE: usize = 16 << 10;

impl Lines {
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<String>) {
        for &byte in chunk {
            if byte == b'\n' {
                out.push(self.take());
            } else {
                self.partial.push(byte);
                if self.partial.len() >= MAX_LINE {
                    out.push(self.take());
                }
            }
        }
    }

    /// The last line, when the stream ended without a newline.
    pub(crate) fn finish(&mut self) -> Option<String> {
        if self.partial.is_empty() { None } else { Some(self.take()) }
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.partial).trim_end_matches('\r').to_string();
        self.partial.clear();
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        let mut tail = OutputTail::new(4);
        tail.push(b"abc");
        tail.push(b"defghij");
        tail.push(b"kl");
        assert_eq!(tail.into_string(), "[… 8 bytes cut …]\nijkl");
        let mut short = OutputTail::new(10);
        short.push(b"2\n");
        assert_eq!(short.into_string(), "2\n");
    }

    #[test]
    fn lines_across_chunks() {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        lines.push(b"one\r\ntw", &mut out);
        lines.push(b"o\nthr", &mut out);
        assert_eq!(out, ["one", "two"]);
        assert_eq!(lines.finish().as_deref(), Some("thr"));
        assert_eq!(lines.finish(), None);
    }
}
