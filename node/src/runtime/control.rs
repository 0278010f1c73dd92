//! The monitor's control socket: how the daemon reaches a running container. Each connection
//! opens with one JSON line (a [`Request`]), sent in one `sendmsg` that may carry file
//! descriptors; what follows depends on the request. This file owns the wire format and the fd
//! passing; it must not decide anything about containers.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};
use serde::{Deserialize, Serialize};

/// The most descriptors one message carries (an exec's stdin, stdout, stderr).
pub const MAX_FDS: usize = 3;

/// What a connection to the control socket is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The rest of the connection is the container's stdin; the client's half-close ends it.
    Stdin,
    /// Sets the container's terminal size; answered with [`Reply::Done`].
    Resize { height: u16, width: u16 },
    /// Runs a process in the container. Without a console socket the message carries three
    /// descriptors: the process's stdin, stdout and stderr. Answered with [`Reply::Started`]
    /// (or [`Reply::Failed`]), later [`Reply::Exited`].
    Exec {
        /// The exec's id, for the exit record.
        id: String,
        /// The OCI process (JSON) to run.
        process: PathBuf,
        /// Where the exec's terminal master is sent, when it has a TTY.
        console_socket: Option<PathBuf>,
        /// Where the monitor records the exit code, in case the daemon is not listening.
        exit_path: PathBuf,
    },
}

/// The monitor's answers, one JSON line each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Done,
    Started { pid: i32 },
    Exited { exit_code: i64 },
    Failed { message: String },
}

/// Encodes a request or reply as one line.
pub fn line<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(msg).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Sends `bytes` in one message, with `fds` attached (none when empty).
pub fn send_with_fds(sock: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let iov = [IoSlice::new(bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let sent = sendmsg::<UnixAddr>(sock, &iov, cmsgs, MsgFlags::empty(), None)?;
    if sent != bytes.len() {
        return Err(io::Error::other("short write on control socket"));
    }
    Ok(())
}

/// Receives one message into `buf`; returns its length and the descriptors it carried.
pub fn recv_with_fds(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let msg = loop {
        match recvmsg::<UnixAddr>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = cmsg {
            // SAFETY: SCM_RIGHTS installed these descriptors in our table just now; nothing
            // else owns them.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    Ok((msg.bytes, fds))
}

/// Splits a received message at its first newline: the request and any bytes after it.
pub fn parse_request(bytes: &[u8]) -> io::Result<(Request, Vec<u8>)> {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| io::Error::other("control request without a newline"))?;
    let req = serde_json::from_slice(&bytes[..end]).map_err(io::Error::other)?;
    Ok((req, bytes[end + 1..].to_vec()))
}

/// Receives a terminal master sent by libcontainer's console setup to `listener`.
pub fn receive_console(listener: &std::os::unix::net::UnixListener) -> io::Result<OwnedFd> {
    let (conn, _) = listener.accept()?;
    let mut buf = [0u8; 64];
    let (_, mut fds) = recv_with_fds(conn.as_raw_fd(), &mut buf)?;
    fds.pop()
        .ok_or_else(|| io::Error::other("console socket message carried no terminal"))
}

/// Sets a terminal's window size (on the master; the slave side sees SIGWINCH).
pub fn set_window_size(master: RawFd, height: u16, width: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct, which lives on our stack for the call.
    let rc = unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &size) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn requests_round_trip_as_one_line_with_trailing_bytes() {
        let req = Request::Resize {
            height: 40,
            width: 120,
        };
        let mut bytes = line(&req);
        bytes.extend_from_slice(b"rest");
        let (parsed, rest) = parse_request(&bytes).unwrap();
        assert_eq!(parsed, req);
        assert_eq!(rest, b"rest");
    }

    #[test]
    fn a_request_without_newline_is_refused() {
        assert!(parse_request(br#"{"op":"stdin"}"#).is_err());
    }

    #[test]
    fn descriptors_travel_with_the_message() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut pr, pw) = std::io::pipe().unwrap();
        send_with_fds(a.as_raw_fd(), &line(&Request::Stdin), &[pw.as_raw_fd()]).unwrap();
        drop(pw);
        let mut buf = [0u8; 256];
        let (n, fds) = recv_with_fds(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(parse_request(&buf[..n]).unwrap().0, Request::Stdin);
        assert_eq!(fds.len(), 1);
        let mut w = std::fs::File::from(fds.into_iter().next().unwrap());
        w.write_all(b"through").unwrap();
        drop(w);
        let mut got = String::new();
        pr.read_to_string(&mut got).unwrap();
        assert_eq!(got, "through");
    }
}
