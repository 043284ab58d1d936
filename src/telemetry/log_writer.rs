//! Log lines to stderr through a buffer, like nginx's `access_log … buffer= flush=`.
//!
//! Under load the gateway writes a line per request, and one `write(2)` per line to a log file
//! cost about 4 µs of the 45–50 µs of CPU a request takes (docs/benchmarks.md). So lines below
//! `WARN` are appended to a buffer that a thread writes out every [`FLUSH_EVERY`], or at once when it
//! reaches [`FLUSH_AT`] bytes. `WARN` and `ERROR` lines are written through at once, after what
//! is buffered (order is kept), as is everything when the process exits normally or panics. A
//! process killed outright (SIGKILL, power loss) loses at most the last [`FLUSH_EVERY`] of
//! `INFO` and `DEBUG` lines; the events themselves are in the store, committed before they were
//! answered.
//!
//! Why not `tracing-appender`'s non-blocking writer (issue 21 asked): it sends every line,
//! whatever its level, through one queue to its worker thread, and offers no way for the caller
//! to write through or to wait for the queue. So a `WARN` or `ERROR` line could no longer be on
//! disk when its call returns (`info_lines_wait_and_a_warning_writes_them_out_before_itself`
//! asserts it is, after the lines buffered before it, and `tests/logs.rs` reads the config
//! warning as soon as the listener answers), and a process killed outright would lose warnings
//! and errors too, not only `INFO` lines. Writing warnings around the queue would put them ahead
//! of the lines still queued. Its lossy mode also drops lines when the queue is full, where this
//! writer writes the buffer out instead.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How long a buffered line waits at most (in a running process).
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Past this many buffered bytes, the line that crosses it writes the buffer out itself: a
/// burst of lines neither waits for the thread nor grows the buffer without bound.
pub const FLUSH_AT: usize = 256 * 1024;

/// Buffered lines, and where they go.
struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Stderr, behind the lock that orders write-outs: it is taken before `pending` is
    /// released, so two write-outs reach it in the order their bytes left the buffer.
    sink: Mutex<Box<dyn Write + Send>>,
}

impl Shared {
    /// Writes out `pending` (and then `line`, if any), keeping the order of everything written.
    fn write_out(&self, mut pending: MutexGuard<'_, Vec<u8>>, line: &[u8]) {
        let taken = std::mem::take(&mut *pending);
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        drop(pending);
        // Nowhere to report a failed write of the log itself; the next line tries again.
        let _ = sink.write_all(&taken);
        let _ = sink.write_all(line);
    }

    fn flush(&self) {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if !pending.is_empty() {
            self.write_out(pending, &[]);
        }
    }
}

/// The `MakeWriter` of the log subscriber. Cloning shares the buffer.
#[derive(Clone)]
pub struct BufferedStderr {
    shared: Arc<Shared>,
    /// Off (every line written at once) when stderr is a terminal: someone is watching.
    buffered: bool,
}

/// Flushes the buffer when dropped: held by `main` for the process's life.
pub struct FlushGuard {
    shared: Arc<Shared>,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.flush();
    }
}

impl BufferedStderr {
    /// The writer, its guard, and (when `buffered`) the thread that writes the buffer out
    /// every [`FLUSH_EVERY`]. A panic writes out what is buffered before the panic's own message.
    pub fn start(buffered: bool) -> (BufferedStderr, FlushGuard) {
        let (writer, guard) =
            Self::with_sink(Box::new(io::stderr()), buffered.then_some(FLUSH_EVERY));
        if buffered {
            let on_panic = guard.shared.clone();
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // Not if this thread panicked while holding the buffer: that would deadlock.
                if let Ok(pending) = on_panic.pending.try_lock()
                    && !pending.is_empty()
                {
                    on_panic.write_out(pending, &[]);
                }
                previous(info);
            }));
        }
        (writer, guard)
    }

    /// `sink` behind the buffer, written out every `every`; no buffer when `every` is `None`.
    fn with_sink(
        sink: Box<dyn Write + Send>,
        every: Option<Duration>,
    ) -> (BufferedStderr, FlushGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(if every.is_some() {
                16 * 1024
            } else {
                0
            })),
            sink: Mutex::new(sink),
        });
        if let Some(every) = every {
            let flusher = Arc::downgrade(&shared);
            // Without its thread the buffer is still written out past FLUSH_AT, by each WARN
            // line and at exit; a thread that cannot start is not worth refusing to run over.
            let _ = std::thread::Builder::new()
                .name("hookwall-log".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(every);
                        match flusher.upgrade() {
                            Some(shared) => shared.flush(),
                            None => return,
                        }
                    }
                });
        }
        (
            BufferedStderr {
                shared: shared.clone(),
                buffered: every.is_some(),
            },
            FlushGuard { shared },
        )
    }
}

/// One line's writer: the fmt layers format a whole line, then write it with one `write_all`.
pub struct Line<'a> {
    shared: &'a Shared,
    through: bool,
}

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.through || pending.len() + buf.len() > FLUSH_AT {
            self.shared.write_out(pending, buf);
        } else {
            pending.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            shared: &self.shared,
            through: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line<'a> {
        self.line_for(*meta.level())
    }
}

impl BufferedStderr {
    fn line_for(&self, level: Level) -> Line<'_> {
        Line {
            shared: &self.shared,
            // Level order: ERROR < WARN < INFO; WARN and ERROR are written through.
            through: !self.buffered || level <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read while the writer holds it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("not poisoned").clone()).expect("utf-8")
        }
    }

    fn line(writer: &BufferedStderr, level: Level, text: &str) {
        writer
            .line_for(level)
            .write_all(text.as_bytes())
            .expect("buffered");
    }

    // The thread's interval is an hour here: only the writes the test causes happen.
    fn buffered() -> (BufferedStderr, FlushGuard, Captured) {
        let captured = Captured::default();
        let (writer, guard) =
            BufferedStderr::with_sink(Box::new(captured.clone()), Some(Duration::from_secs(3600)));
        (writer, guard, captured)
    }

    #[test]
    fn info_lines_wait_and_a_warning_writes_them_out_before_itself() {
        let (writer, _guard, captured) = buffered();
        line(&writer, Level::INFO, "one\n");
        line(&writer, Level::DEBUG, "two\n");
        assert_eq!(captured.text(), "");
        line(&writer, Level::WARN, "warned\n");
        assert_eq!(captured.text(), "one\ntwo\nwarned\n");
        line(&writer, Level::ERROR, "failed\n");
        assert_eq!(captured.text(), "one\ntwo\nwarned\nfailed\n");
    }

    #[test]
    fn the_guard_writes_out_what_is_buffered_when_dropped() {
        let (writer, guard, captured) = buffered();
        line(&writer, Level::INFO, "last words\n");
        assert_eq!(captured.text(), "");
        drop(guard);
        assert_eq!(captured.text(), "last words\n");
    }

    #[test]
    fn a_full_buffer_is_written_out_by_the_line_that_would_overflow_it() {
        let (writer, _guard, captured) = buffered();
        let long = format!("{}\n", "x".repeat(1023));
        let fit = FLUSH_AT / long.len();
        for _ in 0..fit {
            line(&writer, Level::INFO, &long);
        }
        assert_eq!(captured.text(), "");
        line(&writer, Level::INFO, &long);
        assert_eq!(captured.text().len(), (fit + 1) * long.len());
        assert!(
            writer
                .shared
                .pending
                .lock()
                .expect("not poisoned")
                .is_empty()
        );
    }

    #[test]
    fn the_thread_writes_out_buffered_lines_on_its_own() {
        let captured = Captured::default();
        let (writer, _guard) =
            BufferedStderr::with_sink(Box::new(captured.clone()), Some(Duration::from_millis(10)));
        line(&writer, Level::INFO, "in time\n");
        let started = std::time::Instant::now();
        while captured.text().is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never written out"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(captured.text(), "in time\n");
    }

    #[test]
    fn unbuffered_every_line_is_written_at_once() {
        let captured = Captured::default();
        let (writer, _guard) = BufferedStderr::with_sink(Box::new(captured.clone()), None);
        line(&writer, Level::DEBUG, "watched\n");
        assert_eq!(captured.text(), "watched\n");
    }
}
