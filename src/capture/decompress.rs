//! Streaming decompression of gzip-, zstd- and lz4-compressed captures.
//!
//! All are read as streams (nothing is decompressed into memory ahead of
//! the parser) and all accept several concatenated members/frames, as
//! `cat a.gz b.gz` or `zstd` with multiple frames produce and as Wireshark
//! reads them. lz4 is the LZ4 frame format (`lz4`, and what Wireshark
//! writes for `editcap --compress lz4`), decoded by `lz4_flex` in its safe
//! (no `unsafe`) configuration; the legacy lz4 format is not read.

use std::error::Error as _;
use std::io::{self, BufRead, BufReader, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// A gzip stream of one or more members.
pub(crate) fn gzip<R: Read + Send + 'static>(r: R) -> Box<dyn Read + Send> {
    Box::new(flate2::read::MultiGzDecoder::new(r))
}

/// An LZ4 frame stream of one or more frames.
pub(crate) fn lz4<R: Read + Send + 'static>(r: R) -> Box<dyn Read + Send> {
    Box::new(Lz4Reader {
        decoder: lz4_flex::frame::FrameDecoder::new(BufReader::with_capacity(128 * 1024, r)),
    })
}

/// `lz4_flex`'s decoder reports the end of each frame as the end of the
/// stream; this goes on to the next frame while input is left (as `lz4 -d`
/// and Wireshark do for concatenated frames).
struct Lz4Reader<R: Read> {
    decoder: lz4_flex::frame::FrameDecoder<BufReader<R>>,
}

impl<R: Read> Read for Lz4Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Each empty frame consumes its header, so this ends; the bound
        // only keeps a file of nothing but empty frames from looping long.
        for _ in 0..4096 {
            let n = self.decoder.read(buf)?;
            if n > 0 || self.decoder.get_mut().fill_buf()?.is_empty() {
                return Ok(n);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "more than 4096 empty lz4 frames in a row",
        ))
    }
}

/// A zstd stream of one or more frames (skippable frames are skipped).
pub(crate) fn zstd<R: Read + Send + 'static>(r: R) -> Box<dyn Read + Send> {
    Box::new(ZstdReader {
        source: BufReader::with_capacity(128 * 1024, r),
        decoder: FrameDecoder::new(),
        in_frame: false,
    })
}

/// `ruzstd`'s [`FrameDecoder`] decodes one frame; this chains frames.
///
/// Decoding goes one block (at most 128 KiB of output) at a time, and the
/// output is handed on as soon as the decoder releases it. `ruzstd` keeps
/// the last window of output (the compressor's choice: the whole content
/// for small files, 8 MiB for `zstd -19`, at most `ruzstd`'s limit of
/// 128 MiB) until the frame ends, and offers no way to release it early;
/// so on a zstd stream that is cut short, the frames in that last window
/// are lost (the cut is still reported). libzstd (the `zstd` crate) would
/// release them, at the price of a C dependency.
struct ZstdReader<R> {
    source: BufReader<R>,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: Read> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                if self.decoder.can_collect() > 0 {
                    let n = self.decoder.read(buf)?;
                    if n > 0 {
                        return Ok(n);
                    }
                }
                if self.decoder.is_finished() {
                    if self.decoder.can_collect() == 0 {
                        self.in_frame = false;
                    }
                    continue;
                }
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(zstd_error)?;
            } else {
                if self.source.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                match self.decoder.reset(&mut self.source) {
                    Ok(()) => self.in_frame = true,
                    Err(FrameDecoderError::ReadFrameHeaderError(
                        ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => {
                        let want = u64::from(length);
                        let skipped =
                            io::copy(&mut (&mut self.source).take(want), &mut io::sink())?;
                        if skipped < want {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "zstd stream ends inside a skippable frame",
                            ));
                        }
                    }
                    Err(e) => return Err(zstd_error(e)),
                }
            }
        }
    }
}

/// A zstd decoding error as an `io::Error`: `UnexpectedEof` when the
/// stream was cut short (so it is reported as truncation), `InvalidData`
/// otherwise.
fn zstd_error(e: FrameDecoderError) -> io::Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    let mut kind = io::ErrorKind::InvalidData;
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::UnexpectedEof
        {
            kind = io::ErrorKind::UnexpectedEof;
            break;
        }
        cause = c.source();
    }
    io::Error::new(kind, format!("zstd: {e}"))
}
