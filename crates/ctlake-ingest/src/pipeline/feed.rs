//! The walk feed: the files of the current commit batch, taken from the walk as it finds
//! them, and the I/O threads that read the small ones whole ahead of the decoders.

use super::*;

/// A source file handed from the I/O threads to the decoders.
pub(super) struct Loaded {
    pub(super) index: usize,
    pub(super) file: SourceFile,
    pub(super) content: Content,
}

pub(super) enum Content {
    /// The whole file, read ahead.
    Whole(Vec<u8>),
    /// Too large to hold whole: the decoder streams it from disk.
    Stream,
    /// Reading failed.
    Failed(String),
}

/// Files read ahead and waiting for a decoder (each at most [`source::WHOLE_FILE_MAX`]).
pub(super) const READ_AHEAD: usize = 64;

/// The files of the current commit batch, taken by the decoders from the walk as it finds
/// them, until the batch holds `batch_files` files or `batch_bytes` bytes.
pub(super) struct Feed<'a> {
    pub(super) rx: Receiver<SourceFile>,
    pub(super) opts: &'a IngestOptions,
    pub(super) stop: &'a std::sync::atomic::AtomicBool,
    pub(super) state: Mutex<FeedState>,
}

#[derive(Default)]
pub(super) struct FeedState {
    pub(super) taken: usize,
    pub(super) bytes: u64,
    /// The walk has ended and every file it found was taken.
    pub(super) done: bool,
}

impl Feed<'_> {
    /// The next file of this batch and its index in the batch, or None at the batch's end.
    pub(super) fn next(&self) -> Option<(usize, SourceFile)> {
        let mut st = self.state.lock().expect("feed lock");
        let full = st.taken > 0
            && (st.taken >= self.opts.batch_files || st.bytes >= self.opts.batch_bytes);
        if self.stop.load(std::sync::atomic::Ordering::Relaxed) {
            st.done = true;
        }
        if st.done || full {
            return None;
        }
        match self.rx.recv() {
            Ok(file) => {
                let index = st.taken;
                st.taken += 1;
                st.bytes += file.size;
                Some((index, file))
            }
            Err(_) => {
                st.done = true;
                None
            }
        }
    }

    /// Starts the next batch; false when there are no more files.
    pub(super) fn next_batch(&self) -> bool {
        let mut st = self.state.lock().expect("feed lock");
        st.taken = 0;
        st.bytes = 0;
        !st.done
    }
}

/// An I/O thread: takes the batch's files from the feed and reads the small ones whole.
pub(super) fn read_files(feed: &Feed<'_>, tx: &Sender<Loaded>) {
    while let Some((index, file)) = feed.next() {
        let content = if file.size <= source::WHOLE_FILE_MAX {
            let read = match &file.remote {
                Some(object) => remote::read_whole(object),
                None => source::read_whole(&file.path, file.size).map_err(|e| e.to_string()),
            };
            match read {
                Ok(bytes) => Content::Whole(bytes),
                Err(e) => Content::Failed(format!("cannot read: {e}")),
            }
        } else {
            Content::Stream
        };
        if tx
            .send(Loaded {
                index,
                file,
                content,
            })
            .is_err()
        {
            return;
        }
    }
}
