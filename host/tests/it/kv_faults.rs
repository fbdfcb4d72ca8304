//! A key-value backend that stops answering while a function runs: the guest's calls fail with
//! `unavailable` (or `timeout` at its deadline) instead of hanging, requests that do not use the
//! store keep being served meanwhile, and the store works again when the backend is back. Run on
//! the Azure Functions handler with an Azurite of the test's own (frozen with SIGSTOP, then
//! killed); the backends' own tests cover the same faults against moto and in workerd.

use crate::kv_azure::Azurite;
use crate::platforms::Case;
use crate::platforms::azure::{Handler, invocation_id};
use std::time::{Duration, Instant};

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

#[test]
fn a_backend_that_stops_fails_calls_as_unavailable_and_other_requests_keep_being_served() {
    let azurite = Azurite::start();
    let connection = azurite.connection_string();
    let handler = Handler::start(
        "kv",
        &["--name", "kv"],
        &[
            ("EDGEFN_KV_STORES", "default"),
            ("AzureWebJobsStorage", connection.as_str()),
            ("EDGEFN_KV_AZURE_TABLE", "faults"),
            ("EDGEFN_DEADLINE_MS", "20000"),
        ],
    );
    let send = |case: Case| handler.forward(&case, &invocation_id());
    let put = send(Case::new("PUT", "/kv/default/greeting").body(b"hello"));
    assert_eq!(put.status, 200, "{}\n{}", put.text(), handler.log());

    // Frozen: the connection is accepted by the kernel but never answered.
    signal(azurite.pid(), "STOP");
    let frozen_call = std::thread::scope(|scope| {
        let call = scope.spawn(|| {
            let started = Instant::now();
            (send(Case::get("/kv/default/greeting")), started.elapsed())
        });
        // While that call waits, a request that does not touch the store is answered at once.
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let init = send(Case::get("/kv/_init"));
        assert_eq!(init.status, 200, "{}", init.text());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a request without store calls waited {:?} behind a stalled one",
            started.elapsed()
        );
        call.join().unwrap()
    });
    let (reply, took) = frozen_call;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(
        reply.header("x-kv-error").unwrap_or_default(),
        "unavailable",
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains(&azurite.addr.port().to_string()),
        "the message names the endpoint: {}",
        reply.text()
    );
    assert!(
        took < Duration::from_secs(10),
        "the call failed after {took:?}, not within the backend's timeout"
    );

    // Back: the store answers again, the value is still there.
    signal(azurite.pid(), "CONT");
    let back = send(Case::get("/kv/default/greeting"));
    assert_eq!((back.status, back.text()), (200, "hello".to_owned()));

    // Gone: refused connections fail fast.
    drop(azurite);
    let started = Instant::now();
    let gone = send(Case::get("/kv/default/greeting"));
    assert_eq!(
        gone.header("x-kv-error").unwrap_or_default(),
        "unavailable",
        "{}",
        gone.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(send(Case::get("/kv/_init")).status, 200, "still serving");
}

#[test]
fn a_wrong_storage_key_is_an_error_the_guest_sees_naming_the_setting() {
    let azurite = Azurite::start();
    let wrong = azurite.connection_string_with_key("d3JvbmcgYWNjb3VudCBrZXk=");
    let handler = Handler::start(
        "kv",
        &["--name", "kv"],
        &[
            ("EDGEFN_KV_STORES", "default"),
            ("AzureWebJobsStorage", wrong.as_str()),
        ],
    );
    let reply = handler.forward(&Case::get("/kv/default/greeting"), &invocation_id());
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(
        reply.header("x-kv-error").unwrap_or_default(),
        "unavailable"
    );
    assert!(
        reply.text().contains("AzureWebJobsStorage"),
        "the message names the setting to fix: {}",
        reply.text()
    );
    assert!(
        !reply.text().contains("d3JvbmcgYWNjb3VudCBrZXk="),
        "the message never repeats the key: {}",
        reply.text()
    );
}
