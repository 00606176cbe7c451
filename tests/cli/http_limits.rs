//! The HTTP server's bounds against hostile clients: slow headers, many idle
//! connections, oversized webhook bodies.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::daemon_support::{Platform, Serve, http, wait_for};
use crate::support::{CONFIGMAP_SCRIPT, app_repo};

/// Only guards against a hang: no assertion is made on how long anything takes.
const LIVENESS: Duration = Duration::from_secs(60);

fn serve_with(args: &[&str]) -> (Platform, Serve) {
    let developer = app_repo(CONFIGMAP_SCRIPT);
    developer.commit("The platform");
    let platform = Platform::publish(developer);
    let serve = Serve::start(&platform.remote, args, &[]);
    (platform, serve)
}

/// Reads until the server closes the socket; panics if it is still open after
/// [`LIVENESS`].
fn wait_until_closed(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => continue,
            // A signal to the test process (a child exiting) interrupts the read.
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == ErrorKind::ConnectionReset => return,
            Err(err) => panic!("the server did not close the connection: {err}"),
        }
    }
}

#[test]
fn a_client_trickling_its_headers_is_disconnected() {
    let (_platform, serve) = serve_with(&["--http-header-timeout", "1s", "--poll", "1h"]);
    let mut stream = TcpStream::connect(&serve.addr).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    let mut trickle = stream.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        for i in 0..300 {
            std::thread::sleep(Duration::from_millis(200));
            if trickle
                .write_all(format!("X-{i}: a\r\n").as_bytes())
                .is_err()
            {
                return true;
            }
        }
        false
    });
    wait_until_closed(&mut stream);
    assert!(
        trickler.join().unwrap(),
        "writing to the connection fails once the server closed it"
    );
    assert_eq!(serve.get("/healthz").0, 200);
}

#[test]
fn idle_connections_past_the_bound_wait_without_descriptors_and_probes_are_answered() {
    let (_platform, serve) = serve_with(&[
        "--http-header-timeout",
        "1s",
        "--http-max-connections",
        "16",
        "--poll",
        "1h",
    ]);
    wait_for(LIVENESS, "the first sync", || serve.get("/readyz").0 == 200);
    let sockets = || {
        let fds = fs_err::read_dir(format!("/proc/{}/fd", serve.pid())).unwrap();
        fds.filter_map(|fd| fs_err::read_link(fd.unwrap().path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    };
    let before = sockets();
    // More than the bound: the rest wait in the listen backlog.
    let mut idle: Vec<TcpStream> = (0..16 + 200)
        .map(|_| TcpStream::connect(&serve.addr).unwrap())
        .collect();
    assert!(
        sockets() <= before + 16,
        "at most 16 connections are taken from the backlog at once"
    );
    assert_eq!(serve.get("/healthz").0, 200, "answered once slots free up");
    assert_eq!(serve.get("/readyz").0, 200);
    for stream in &mut idle {
        wait_until_closed(stream);
    }
    assert!(sockets() <= before + 16);
}

#[test]
fn a_webhook_body_over_two_mebibytes_gets_413_without_being_read_whole() {
    let (_platform, serve) = serve_with(&["--poll", "1h", "--webhook-secret", "s3cret"]);
    // Declared: 100 MiB, of which 3 MiB are sent and the socket kept open.
    let mut stream = TcpStream::connect(&serve.addr).unwrap();
    let head = "POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Gitlab-Token: s3cret\r\nContent-Length: 104857600\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = writer.write_all(&vec![b'a'; 3 << 20]);
        std::thread::sleep(LIVENESS);
    });
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    let mut response = [0u8; 12];
    stream.read_exact(&mut response).unwrap();
    assert_eq!(&response, b"HTTP/1.1 413");

    // Chunked: no length declared, so the limit is found while reading.
    let mut stream = TcpStream::connect(&serve.addr).unwrap();
    let head = "POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Gitlab-Token: s3cret\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let chunk = format!("100000\r\n{}\r\n", "a".repeat(1 << 20));
        for _ in 0..3 {
            if writer.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
        std::thread::sleep(LIVENESS);
    });
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream.read_exact(&mut response).unwrap();
    assert_eq!(&response, b"HTTP/1.1 413");

    // A body within the limit is still read and checked.
    let body = vec![b' '; 1 << 20];
    let token = [("X-Gitlab-Token", "s3cret")];
    assert_eq!(
        http(&serve.addr, "POST", "/hooks/git", &token, &body).0,
        202
    );
}
