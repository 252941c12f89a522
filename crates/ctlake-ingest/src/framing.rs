//! Splits a byte stream into CloudTrail records without parsing them.
//!
//! CloudTrail arrives in several shapes: `{"Records":[...]}` delivery files, a JSON array of
//! records, a single record object, JSON Lines (one record per line, or one envelope per line),
//! and `aws cloudtrail lookup-events` output (`{"Events":[{"CloudTrailEvent":"<json>"}]}`).
//! The framer walks only the outer structure (brackets and strings) and hands each record's bytes
//! to a callback, so a 10 GB delivery is never held in memory: the buffer holds the record being
//! framed, and grows only as far as the largest single record (a 50 MB record is fine).
//!
//! A record whose inside is not valid JSON is still framed (its brackets balance) and the
//! decoder rejects it alone; only a break in the outer structure (a truncated file, a stray
//! bracket) ends the file, with the byte offset where it happened.

use std::io::{self, Read};

/// One item found in the stream.
#[derive(Debug)]
pub enum Item<'a> {
    /// A record's JSON text (an object, as delivered: not yet validated).
    Record(Frame<'a>),
    /// Something in a record's place that cannot be a record, with the reason.
    Bad(Frame<'a>, String),
}

/// Where an item sits in the (decompressed) stream, and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The item's bytes.
    pub json: &'a [u8],
    /// Byte offset of the item in the decompressed stream.
    pub offset: u64,
    /// 0-based position of the item among the items of the stream.
    pub index: u64,
}

/// Why framing a stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Reading (or decompressing) failed.
    #[error("read error at byte {offset}: {source}")]
    Io {
        /// Byte offset reached in the decompressed stream.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// The stream ended inside a value.
    #[error("unexpected end of input at byte {offset} (truncated file?)")]
    Truncated {
        /// Byte offset of the end.
        offset: u64,
    },
    /// The outer structure is not JSON.
    #[error("invalid JSON at byte {offset}: {message}")]
    Syntax {
        /// Byte offset of the problem.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// The stream holds no JSON value at all.
    #[error("empty file")]
    Empty,
}

const READ_CHUNK: usize = 256 * 1024;

/// The largest record framed, by default. CloudTrail caps an event at 256 KB (it replaces
/// larger parameters with `"omitted": true`), so this is generous; what is larger goes to the
/// rejects, unread, and the file's other records are kept: a 3 MB gzip can hold a 3 GB string,
/// and holding and decoding it would take the whole run down.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Bytes of an oversized record kept for the rejects, to say what it was.
const OVERSIZED_PREFIX: usize = 4096;

/// A streaming record framer over any reader.
pub struct Framer<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// Buffer index that must not be discarded (the start of a top-level object that may
    /// turn out to be a record itself).
    pin: Option<usize>,
    index: u64,
    stack: Vec<u8>,
    max_record: usize,
}

#[derive(serde::Deserialize)]
struct LookupEvent {
    #[serde(rename = "CloudTrailEvent")]
    cloudtrail_event: String,
}

enum Mode {
    Records,
    LookupEvents,
}

impl<R: Read> Framer<R> {
    /// A framer reading from `reader`.
    pub fn new(reader: R) -> Self {
        Self::with_buffer(reader, Vec::new())
    }

    /// A framer that reuses `buf` (see [`Framer::run`]): a decoder thread reading many small
    /// files keeps one buffer instead of allocating, zeroing and faulting in a new one per file.
    pub fn with_buffer(reader: R, mut buf: Vec<u8>) -> Self {
        if buf.len() < READ_CHUNK {
            buf.resize(READ_CHUNK, 0);
        }
        Self {
            reader,
            buf,
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
            pin: None,
            index: 0,
            stack: Vec::new(),
            max_record: MAX_RECORD_BYTES,
        }
    }

    /// Sets the largest record framed (see [`MAX_RECORD_BYTES`]).
    pub fn with_max_record(mut self, bytes: usize) -> Self {
        self.max_record = bytes.max(1);
        self
    }

    /// Bytes of the stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Frames the whole stream, calling `f` for each item in order; returns the number of
    /// items. The buffer can be taken back with [`Framer::into_buffer`] afterwards.
    pub fn run(&mut self, mut f: impl FnMut(Item<'_>)) -> Result<u64, FrameError> {
        let mut values = 0u64;
        self.skip_bom()?;
        while let Some(b) = self.skip_ws()? {
            values += 1;
            match b {
                b'[' => {
                    self.pos += 1;
                    self.array(Mode::Records, &mut f)?;
                }
                b'{' => self.top_object(&mut f)?,
                _ => {
                    return Err(self.syntax("expected a JSON object or array"));
                }
            }
        }
        if values == 0 {
            return Err(FrameError::Empty);
        }
        Ok(self.index)
    }

    /// The read buffer, for reuse by the next framer (not kept when a huge record grew it).
    pub fn into_buffer(mut self) -> Vec<u8> {
        if self.buf.len() > 16 * READ_CHUNK {
            self.buf = Vec::new();
        }
        self.buf
    }

    fn syntax(&self, message: &str) -> FrameError {
        FrameError::Syntax {
            offset: self.offset(),
            message: message.to_string(),
        }
    }

    /// Reads more input, keeping everything from the pin (or the parse position) on; returns
    /// false at end of input.
    fn fill(&mut self, want: usize) -> Result<bool, FrameError> {
        if self.eof {
            return Ok(false);
        }
        let keep = self.pin.unwrap_or(self.pos).min(self.pos);
        if keep > 0 {
            self.buf.copy_within(keep..self.len, 0);
            self.len -= keep;
            self.pos -= keep;
            self.base += keep as u64;
            if let Some(p) = self.pin.as_mut() {
                *p -= keep;
            }
        }
        let want = want.max(READ_CHUNK);
        if self.buf.len() < self.len + want {
            let new_len = (self.len + want).max(self.buf.len() * 2);
            self.buf.resize(new_len, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(FrameError::Io {
                        offset: self.base + self.len as u64,
                        source,
                    });
                }
            }
        }
    }

    fn skip_bom(&mut self) -> Result<(), FrameError> {
        while self.len < 3 && self.fill(0)? {}
        if self.buf[..self.len].starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.pos = 3;
        }
        Ok(())
    }

    /// Skips whitespace and returns the next byte without consuming it (`None` at the end).
    fn skip_ws(&mut self) -> Result<Option<u8>, FrameError> {
        loop {
            while self.pos < self.len {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                    b => return Ok(Some(b)),
                }
            }
            if !self.fill(0)? {
                return Ok(None);
            }
        }
    }

    fn expect_more(&mut self) -> Result<u8, FrameError> {
        self.skip_ws()?.ok_or(FrameError::Truncated {
            offset: self.offset(),
        })
    }

    /// The end index of the complete value starting at `pos`, reading more input as needed.
    fn complete_value(&mut self) -> Result<usize, FrameError> {
        loop {
            match scan_value(&self.buf[self.pos..self.len], self.eof, &mut self.stack) {
                Scan::Complete(n) => return Ok(self.pos + n),
                Scan::Invalid(at, message) => {
                    return Err(FrameError::Syntax {
                        offset: self.offset() + at as u64,
                        message: message.to_string(),
                    });
                }
                Scan::Incomplete => {
                    // Ask for at least as much again as the value has so far, so that
                    // rescanning a huge value costs linear time overall.
                    let have = self.len - self.pos;
                    if !self.fill(have)? {
                        return Err(FrameError::Truncated {
                            offset: self.base + self.len as u64,
                        });
                    }
                }
            }
        }
    }

    /// When the value at `pos` (an object or array) is larger than the record limit, moves
    /// past it without keeping it and returns its first bytes, offset and size; otherwise
    /// leaves it in the buffer, complete, for `complete_value`.
    fn skip_if_oversized(&mut self) -> Result<Option<(Vec<u8>, u64, u64)>, FrameError> {
        loop {
            match scan_value(&self.buf[self.pos..self.len], self.eof, &mut self.stack) {
                Scan::Complete(_) | Scan::Invalid(..) => return Ok(None),
                Scan::Incomplete => {
                    let have = self.len - self.pos;
                    if have >= self.max_record {
                        break;
                    }
                    let want = have.min(self.max_record - have);
                    if !self.fill(want)? {
                        return Ok(None);
                    }
                }
            }
        }
        let offset = self.offset();
        let prefix = self.buf[self.pos..self.len.min(self.pos + OVERSIZED_PREFIX)].to_vec();
        // Brackets and strings, byte by byte, the consumed input dropped as it goes.
        let (mut depth, mut in_string, mut escaped) = (Vec::new(), false, false);
        loop {
            while self.pos < self.len {
                let c = self.buf[self.pos];
                self.pos += 1;
                if in_string {
                    match c {
                        _ if escaped => escaped = false,
                        b'\\' => escaped = true,
                        b'"' => in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match c {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth.push(c),
                    b'}' | b']' => {
                        let open = depth.pop().unwrap_or(0);
                        if (open == b'{') != (c == b'}') {
                            return Err(self.syntax("mismatched bracket"));
                        }
                        if depth.is_empty() {
                            let size = self.offset() - offset;
                            return Ok(Some((prefix, offset, size)));
                        }
                    }
                    _ => {}
                }
            }
            if !self.fill(0)? {
                return Err(FrameError::Truncated {
                    offset: self.offset(),
                });
            }
        }
    }

    fn next_index(&mut self) -> u64 {
        let i = self.index;
        self.index += 1;
        i
    }

    fn array(&mut self, mode: Mode, f: &mut impl FnMut(Item<'_>)) -> Result<(), FrameError> {
        let mut first = true;
        loop {
            let mut b = self.expect_more()?;
            if b == b']' {
                self.pos += 1;
                return Ok(());
            }
            if !first {
                if b != b',' {
                    return Err(self.syntax("expected ',' or ']' between records"));
                }
                self.pos += 1;
                b = self.expect_more()?;
            }
            first = false;
            if matches!(mode, Mode::Records)
                && matches!(b, b'{' | b'[')
                && let Some((prefix, offset, size)) = self.skip_if_oversized()?
            {
                let index = self.next_index();
                let reason = format!(
                    "record of {size} bytes at byte {offset} is larger than the limit of {} \
                         bytes; skipped unread (the first {} bytes are kept here)",
                    self.max_record,
                    prefix.len()
                );
                f(Item::Bad(
                    Frame {
                        json: &prefix,
                        offset,
                        index,
                    },
                    reason,
                ));
                continue;
            }
            // `complete_value` may move the buffer: take the start after it.
            let end = self.complete_value()?;
            let start = self.pos;
            let frame = Frame {
                json: &self.buf[start..end],
                offset: self.base + start as u64,
                index: self.index,
            };
            self.index += 1;
            match mode {
                Mode::Records if b == b'{' => f(Item::Record(frame)),
                Mode::Records => f(Item::Bad(frame, "not a JSON object".into())),
                Mode::LookupEvents => match serde_json::from_slice::<LookupEvent>(frame.json) {
                    Ok(ev) => f(Item::Record(Frame {
                        json: ev.cloudtrail_event.as_bytes(),
                        ..frame
                    })),
                    Err(e) => f(Item::Bad(
                        frame,
                        format!("lookup-events entry without a CloudTrailEvent string: {e}"),
                    )),
                },
            }
            self.pos = end;
        }
    }

    /// A top-level object: a `Records`/`Events` envelope, or a record itself.
    fn top_object(&mut self, f: &mut impl FnMut(Item<'_>)) -> Result<(), FrameError> {
        self.pin = Some(self.pos);
        let result = self.top_object_members(f);
        let pinned = self.pin.take();
        match (result, pinned) {
            (Ok(()), Some(start)) => {
                let index = self.next_index();
                let frame = Frame {
                    json: &self.buf[start..self.pos],
                    offset: self.base + start as u64,
                    index,
                };
                f(Item::Record(frame));
                Ok(())
            }
            (Ok(()), None) => Ok(()),
            (Err(e @ FrameError::Syntax { .. }), Some(start)) => {
                // Not an envelope: resynchronise at the next line, as JSON Lines allows, and
                // reject just this line.
                let reason = e.to_string();
                self.pin = Some(start);
                let (start, line_end) = self.skip_line()?;
                let index = self.next_index();
                let frame = Frame {
                    json: &self.buf[start..line_end],
                    offset: self.base + start as u64,
                    index,
                };
                f(Item::Bad(frame, reason));
                Ok(())
            }
            (Err(e), _) => Err(e),
        }
    }

    /// Moves past the end of the current line, keeping the pinned bytes; returns the pinned
    /// start and the line's end, as buffer indices valid until the next read.
    fn skip_line(&mut self) -> Result<(usize, usize), FrameError> {
        loop {
            if let Some(nl) = self.buf[self.pos..self.len]
                .iter()
                .position(|&b| b == b'\n')
            {
                let end = self.pos + nl;
                self.pos = end + 1;
                let start = self.pin.take().unwrap_or(end);
                return Ok((start, end));
            }
            self.pos = self.len;
            if !self.fill(0)? {
                let start = self.pin.take().unwrap_or(self.len);
                return Ok((start, self.len));
            }
        }
    }

    fn top_object_members(&mut self, f: &mut impl FnMut(Item<'_>)) -> Result<(), FrameError> {
        self.pos += 1;
        let mut first = true;
        loop {
            let mut b = self.expect_more()?;
            if b == b'}' {
                self.pos += 1;
                return Ok(());
            }
            if !first {
                if b != b',' {
                    return Err(self.syntax("expected ',' or '}' in object"));
                }
                self.pos += 1;
                b = self.expect_more()?;
            }
            first = false;
            if b != b'"' {
                return Err(self.syntax("expected a key"));
            }
            let key_end = self.complete_value()?;
            let key = &self.buf[self.pos + 1..key_end - 1];
            let mode = match key {
                b"Records" => Some(Mode::Records),
                b"Events" => Some(Mode::LookupEvents),
                _ => None,
            };
            self.pos = key_end;
            if self.expect_more()? != b':' {
                return Err(self.syntax("expected ':' after key"));
            }
            self.pos += 1;
            let b = self.expect_more()?;
            match mode {
                Some(mode) if b == b'[' => {
                    // An envelope: its records stream, nothing before them needs keeping.
                    self.pin = None;
                    self.pos += 1;
                    self.array(mode, f)?;
                }
                _ => self.pos = self.complete_value()?,
            }
        }
    }
}

enum Scan {
    Complete(usize),
    Incomplete,
    Invalid(usize, &'static str),
}

/// The index just past the string starting at `b[start]` (a quote), or `None` if it does not
/// end within `b`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        let off = memchr::memchr2(b'"', b'\\', &b[i.min(b.len())..])?;
        i += off;
        if b[i] == b'\\' {
            i += 2;
            if i > b.len() {
                return None;
            }
        } else {
            return Some(i + 1);
        }
    }
}

/// Finds the end of the JSON value at the start of `b` by its brackets and strings alone.
fn scan_value(b: &[u8], at_eof: bool, stack: &mut Vec<u8>) -> Scan {
    let Some(&first) = b.first() else {
        return Scan::Incomplete;
    };
    match first {
        b'{' | b'[' => {
            stack.clear();
            stack.push(first);
            let mut i = 1;
            while i < b.len() {
                match b[i] {
                    b'"' => match string_end(b, i) {
                        Some(e) => i = e,
                        None => return Scan::Incomplete,
                    },
                    c @ (b'{' | b'[') => {
                        stack.push(c);
                        i += 1;
                    }
                    c @ (b'}' | b']') => {
                        let open = stack.pop().unwrap_or(0);
                        if (open == b'{') != (c == b'}') {
                            return Scan::Invalid(i, "mismatched bracket");
                        }
                        i += 1;
                        if stack.is_empty() {
                            return Scan::Complete(i);
                        }
                    }
                    _ => i += 1,
                }
            }
            Scan::Incomplete
        }
        b'"' => match string_end(b, 0) {
            Some(e) => Scan::Complete(e),
            None => Scan::Incomplete,
        },
        b'}' | b']' | b',' | b':' => Scan::Invalid(0, "unexpected character"),
        _ => {
            let end = b
                .iter()
                .position(|c| matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'));
            match end {
                Some(e) => Scan::Complete(e),
                None if at_eof => Scan::Complete(b.len()),
                None => Scan::Incomplete,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `input`, returning records and bad items as strings, reading `chunk` bytes at a
    /// time so that every buffer boundary is exercised.
    fn frame(input: &str, chunk: usize) -> Result<Vec<String>, FrameError> {
        struct Slow<'a>(&'a [u8], usize);
        impl Read for Slow<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.1.min(self.0.len()).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut items = Vec::new();
        Framer::new(Slow(input.as_bytes(), chunk)).run(|item| match item {
            Item::Record(f) => items.push(String::from_utf8_lossy(f.json).into_owned()),
            Item::Bad(f, why) => items.push(format!(
                "BAD@{}:{}:{}",
                f.offset,
                String::from_utf8_lossy(f.json),
                why
            )),
        })?;
        Ok(items)
    }

    fn all_chunks(input: &str) -> Vec<String> {
        let whole = frame(input, usize::MAX).unwrap();
        for chunk in [1, 2, 3, 7, 64] {
            assert_eq!(frame(input, chunk).unwrap(), whole, "chunk {chunk}");
        }
        whole
    }

    #[test]
    fn delivery_envelope() {
        let got = all_chunks(r#"{"Records":[{"a":1},{"b":"x}]\"y"} ,{"c":[{}]}]}"#);
        assert_eq!(
            got,
            vec![r#"{"a":1}"#, r#"{"b":"x}]\"y"}"#, r#"{"c":[{}]}"#]
        );
    }

    #[test]
    fn envelope_with_other_keys_around() {
        let got = all_chunks(r#"{"x":{"Records":[1]},"Records":[{"a":1}],"y":[2]}"#);
        assert_eq!(got, vec![r#"{"a":1}"#]);
    }

    #[test]
    fn array_single_object_and_json_lines() {
        assert_eq!(
            all_chunks("[ {\"a\":1} , {\"b\":2} ]"),
            vec!["{\"a\":1}", "{\"b\":2}"]
        );
        assert_eq!(
            all_chunks("{\"eventID\":\"x\"}"),
            vec!["{\"eventID\":\"x\"}"]
        );
        assert_eq!(
            all_chunks("{\"a\":1}\n{\"b\":2}\r\n{\"Records\":[{\"c\":3}]}\n"),
            vec!["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]
        );
        assert_eq!(all_chunks("[]"), Vec::<String>::new());
        assert_eq!(all_chunks("{\"Records\":[]}"), Vec::<String>::new());
    }

    #[test]
    fn lookup_events_output() {
        let got = all_chunks(
            r#"{"Events":[{"EventId":"1","CloudTrailEvent":"{\"eventID\":\"1\"}"}],"NextToken":"t"}"#,
        );
        assert_eq!(got, vec![r#"{"eventID":"1"}"#]);
    }

    #[test]
    fn non_objects_in_an_array_are_bad_items() {
        let got = all_chunks("[{\"a\":1}, 5, \"s\"]");
        assert_eq!(got[0], "{\"a\":1}");
        assert!(
            got[1].starts_with("BAD@10:5:not a JSON object"),
            "{}",
            got[1]
        );
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn a_broken_json_line_is_rejected_alone() {
        let got = all_chunks("{\"a\":1}\n{\"b\" 2}\n{\"c\":3}\n");
        assert_eq!(got.len(), 3);
        assert!(got[1].starts_with("BAD@8:{\"b\" 2}:"), "{}", got[1]);
        assert_eq!(got[2], "{\"c\":3}");
    }

    #[test]
    fn structural_errors_name_the_offset() {
        match frame("{\"Records\":[{\"a\":1},{\"b\":2}", 5) {
            // The input is 27 bytes long and ends inside the Records array.
            Err(FrameError::Truncated { offset }) => assert_eq!(offset, 27),
            other => panic!("{other:?}"),
        }
        match frame("{\"Records\":[{\"a\":[1}]}", 5) {
            Err(FrameError::Syntax { offset, .. }) => assert_eq!(offset, 19),
            other => panic!("{other:?}"),
        }
        assert!(matches!(frame("", 5), Err(FrameError::Empty)));
        assert!(matches!(frame(" \n\t", 5), Err(FrameError::Empty)));
        assert!(matches!(frame("hello", 5), Err(FrameError::Syntax { .. })));
    }

    #[test]
    fn a_large_record_streams_through_a_small_buffer() {
        let big = format!("{{\"k\":\"{}\"}}", "x".repeat(3 * READ_CHUNK + 17));
        let input = format!("{{\"Records\":[{big},{{\"a\":1}}]}}");
        let got = frame(&input, 4096).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), big.len());
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        assert_eq!(frame("\u{feff}[{\"a\":1}]", 2).unwrap(), vec!["{\"a\":1}"]);
    }
}
