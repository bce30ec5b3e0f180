//! [`ConsoleBuffer`]: the console output of a command, bounded to its last bytes.

/// The default bound: the last 1 MiB of output.
pub const DEFAULT_CONSOLE_LIMIT: usize = 1 << 20;

/// Output lines kept up to a byte bound; older text is dropped from the front.
///
/// Positions are absolute byte offsets since the first line, so a reader that follows the
/// output can resume where it stopped even after the front was dropped.
#[derive(Debug, Clone)]
pub struct ConsoleBuffer {
    text: String,
    /// Bytes dropped from the front so far.
    dropped: u64,
    limit: usize,
}

impl ConsoleBuffer {
    /// An empty buffer keeping at most `limit` bytes (at least 1 KiB).
    pub fn new(limit: usize) -> Self {
        ConsoleBuffer {
            text: String::new(),
            dropped: 0,
            limit: limit.max(1024),
        }
    }

    /// A buffer holding `text` as read back from storage.
    pub fn restore(text: String, truncated: bool, limit: usize) -> Self {
        let mut buffer = ConsoleBuffer::new(limit);
        buffer.dropped = u64::from(truncated);
        buffer.text = text;
        buffer
    }

    /// Appends one line (a `\n` is added).
    pub fn push_line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        // Trim in steps of a quarter of the limit, so appends stay amortised O(1).
        if self.text.len() > self.limit + self.limit / 4 {
            let cut = floor_char_boundary(&self.text, self.text.len() - self.limit);
            self.text.drain(..cut);
            self.dropped += cut as u64;
        }
    }

    /// Appends raw text (already made of lines) and keeps at most its last `limit` bytes: how
    /// a store keeps a console that arrives in pieces.
    pub fn append(&mut self, text: &str, limit: usize) {
        self.text.push_str(text);
        if self.text.len() > limit {
            let cut = ceil_char_boundary(&self.text, self.text.len() - limit);
            self.text.drain(..cut);
            self.dropped += cut as u64;
        }
    }

    /// Whether text was dropped from the front.
    pub fn is_truncated(&self) -> bool {
        self.dropped > 0
    }

    /// The kept text, at most `limit` bytes (the newest).
    pub fn text(&self) -> &str {
        let start = self.text.len().saturating_sub(self.limit);
        &self.text[ceil_char_boundary(&self.text, start)..]
    }

    /// The absolute position after the last byte.
    pub fn end(&self) -> u64 {
        self.dropped + self.text.len() as u64
    }

    /// The bytes from absolute position `from` exactly (or from the oldest kept byte) to the
    /// end: a client that lost its connection in the middle of a character resumes there.
    pub fn since_bytes(&self, from: u64) -> &[u8] {
        let start = from
            .saturating_sub(self.dropped)
            .min(self.text.len() as u64) as usize;
        &self.text.as_bytes()[start..]
    }

    /// The text from absolute position `from` (or from the oldest kept byte) to the end.
    pub fn since(&self, from: u64) -> &str {
        let start = from
            .saturating_sub(self.dropped)
            .min(self.text.len() as u64) as usize;
        &self.text[ceil_char_boundary(&self.text, start)..]
    }
}

fn floor_char_boundary(s: &str, mut index: usize) -> usize {
    while index > 0 && !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(s: &str, mut index: usize) -> usize {
    while index < s.len() && !s.is_char_boundary(index) {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_and_says_it_cut() {
        let mut buffer = ConsoleBuffer::new(1024);
        for i in 0..1000 {
            buffer.push_line(&format!("line {i:04} é"));
        }
        assert!(buffer.is_truncated());
        assert!(buffer.text().len() <= 1024);
        assert!(buffer.text().ends_with("line 0999 é\n"));
        assert_eq!(buffer.end(), 1000 * "line 0000 é\n".len() as u64);
    }

    #[test]
    fn followers_resume_from_absolute_positions() {
        let mut buffer = ConsoleBuffer::new(1024);
        buffer.push_line("a");
        let pos = buffer.end();
        buffer.push_line("b");
        assert_eq!(buffer.since(pos), "b\n");
        assert_eq!(buffer.since(0), "a\nb\n");
        for _ in 0..500 {
            buffer.push_line("xxxxxxxx");
        }
        // Position 0 was dropped: the follower gets what is left, not a panic.
        assert!(buffer.since(0).len() <= 1024 + 256);
        assert_eq!(buffer.since(buffer.end()), "");
    }
}
