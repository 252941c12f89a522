//! Decoding: a decoder thread turns each file it is handed into rows, grouped by partition,
//! and a result per file (ingested, foreign, failed part-way), with the records it could not
//! place written out as reject lines naming the file and position.

use super::feed::{Content, Loaded};
use super::*;

pub(super) enum Outcome {
    Ingested,
    NotCloudTrail(String),
    Digest,
    Failed(String),
}

pub(super) struct FileResult {
    pub(super) index: usize,
    pub(super) file: SourceFile,
    pub(super) outcome: Outcome,
    pub(super) records: u64,
    pub(super) rejects: Vec<u8>,
    pub(super) reject_count: u64,
}

pub(super) enum Msg {
    Rows(Vec<PartitionRows>),
    /// Results of files read, sent a few hundred at a time: a message per file kept the
    /// decoders and the writer contending on the channel for every small delivery.
    Files(Vec<FileResult>),
}

/// File results a decoder collects before sending them.
pub(super) const RESULTS_PER_MSG: usize = 256;

/// Rows a decoder hands over at a time.
pub(super) const CHUNK_BYTES: usize = 16 << 20;

pub(super) fn decode_files(rx: &Receiver<Loaded>, tx: &Sender<Msg>, progress: &Progress) {
    let mut decoder = Decoder::new(event_schema());
    let mut whole = source::WholeReader::new();
    let mut buffer = Vec::new();
    let mut results = Vec::new();
    for Loaded {
        index,
        file,
        content,
    } in rx
    {
        let size = file.size;
        let result = decode_file(
            index,
            file,
            content,
            &mut decoder,
            &mut whole,
            tx,
            &mut buffer,
        );
        progress.files_done.fetch_add(1, Ordering::Relaxed);
        progress.bytes_done.fetch_add(size, Ordering::Relaxed);
        progress.events.fetch_add(result.records, Ordering::Relaxed);
        results.push(result);
        if decoder.buffered_bytes() >= CHUNK_BYTES && tx.send(Msg::Rows(decoder.take())).is_err() {
            return;
        }
        if results.len() >= RESULTS_PER_MSG
            && tx.send(Msg::Files(std::mem::take(&mut results))).is_err()
        {
            return;
        }
    }
    if decoder.rows() > 0 && tx.send(Msg::Rows(decoder.take())).is_err() {
        return;
    }
    if !results.is_empty() {
        let _ = tx.send(Msg::Files(results));
    }
}

/// One line of a rejects file.
#[derive(serde::Serialize)]
pub(super) struct RejectLine<'a> {
    pub(super) source: &'a str,
    pub(super) record: u64,
    pub(super) offset: u64,
    pub(super) reason: &'a str,
    pub(super) event: &'a str,
}

pub(super) fn decode_file(
    index: usize,
    file: SourceFile,
    content: Content,
    decoder: &mut Decoder,
    whole: &mut source::WholeReader,
    tx: &Sender<Msg>,
    buffer: &mut Vec<u8>,
) -> FileResult {
    let reader: std::result::Result<Box<dyn std::io::Read + Send + '_>, String> = match content {
        Content::Whole(bytes) => {
            whole.start(bytes);
            Ok(Box::new(whole))
        }
        Content::Stream => match &file.remote {
            Some(object) => remote::open(object).map_err(|e| format!("cannot open: {e}")),
            None => source::open(&file.path).map_err(|e| format!("cannot open: {e}")),
        },
        Content::Failed(why) => Err(why),
    };
    let mut result = FileResult {
        index,
        file,
        outcome: Outcome::Ingested,
        records: 0,
        rejects: Vec::new(),
        reject_count: 0,
    };
    let reader = match reader {
        Ok(r) => r,
        Err(why) => {
            result.outcome = Outcome::Failed(why);
            return result;
        }
    };
    let mut stored = 0u64;
    let mut event_like = 0u64;
    let mut first_foreign: Option<String> = None;
    let reject = |result: &mut FileResult, frame: &crate::framing::Frame<'_>, reason: &str| {
        let text = String::from_utf8_lossy(frame.json);
        let path = result.file.path.display().to_string();
        let line = RejectLine {
            source: &path,
            record: frame.index + 1,
            offset: frame.offset,
            reason,
            event: &text,
        };
        if serde_json::to_writer(&mut result.rejects, &line).is_ok() {
            result.rejects.push(b'\n');
        }
        result.reject_count += 1;
    };
    let mut framer = Framer::with_buffer(reader, std::mem::take(buffer));
    let framed = framer.run(|item| {
        result.records += 1;
        match item {
            Item::Record(frame) => match decoder.decode(frame.json) {
                Ok(()) => stored += 1,
                Err(rej) => {
                    if rej.event_like {
                        event_like += 1;
                    } else if first_foreign.is_none() {
                        first_foreign = Some(
                            String::from_utf8_lossy(&frame.json[..frame.json.len().min(4096)])
                                .into_owned(),
                        );
                    }
                    reject(&mut result, &frame, &rej.reason);
                }
            },
            Item::Bad(frame, why) => reject(&mut result, &frame, &why),
        }
        if decoder.buffered_bytes() >= CHUNK_BYTES {
            // A huge file: hand rows over as we go so memory stays bounded.
            let _ = tx.send(Msg::Rows(decoder.take()));
        }
    });
    *buffer = framer.into_buffer();
    match framed {
        Ok(_)
            if result.records > 0 && stored == 0 && event_like == 0 && first_foreign.is_some() =>
        {
            // Nothing in it looks like an event: a foreign JSON file, not bad CloudTrail.
            let digest = first_foreign
                .as_deref()
                .is_some_and(|t| t.contains("\"digestStartTime\""));
            result.outcome = if digest {
                Outcome::Digest
            } else {
                Outcome::NotCloudTrail(
                    "not CloudTrail: JSON without Records or event fields".into(),
                )
            };
            result.rejects.clear();
            result.reject_count = 0;
        }
        Ok(_) => {}
        Err(FrameError::Empty) => result.outcome = Outcome::Failed("empty file".into()),
        Err(e) => {
            let kept = if stored > 0 {
                format!(" ({stored} complete records before it were kept)")
            } else {
                String::new()
            };
            result.outcome = Outcome::Failed(format!("{e}{kept}"));
        }
    }
    result
}
