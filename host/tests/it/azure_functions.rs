//! The Azure Functions custom handler, driven over loopback HTTP the way the Functions host drives
//! it: the real `edgefn azure-functions` process started with `FUNCTIONS_CUSTOMHANDLER_PORT`,
//! polled on `GET /` until ready, then sent forwarded requests (`enableForwardingHttpRequest`, with
//! the headers the host adds) and invocation payloads (`POST /<FunctionName>`, the JSON the host
//! builds). Every example guest must answer exactly as it does on the local host, in both modes
//! (`conformance`; the handler is `platforms::azure`). The packaging
//! test checks the generated app against the documented host.json/function.json schema and then
//! starts the packaged handler from its own host.json.

use crate::common::{self, guest};
use crate::platforms::azure::{Handler, invocation_id, invocation_payload};
use crate::platforms::{Case, Comparable, Local, PER_RUN_HEADERS, Target};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn binary_bodies_and_queries_survive() {
    let local = Local::start("echo", &[]);
    let echo = Handler::start("echo", &["--name", "echo"], &[]);
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
    let binary = Case::new("PUT", "/echo/bin")
        .header("Content-Type", b"application/octet-stream")
        .body(&every_byte);

    // Forwarding mode: binary both ways, byte for byte, as on the local host.
    let expected = local.send(&binary);
    let forwarded = echo.forward(&binary, &invocation_id());
    assert_eq!(forwarded.status, 200);
    assert_eq!(forwarded.body, every_byte);
    assert_eq!(
        Comparable::of(&forwarded, PER_RUN_HEADERS, false).headers,
        Comparable::of(&expected, PER_RUN_HEADERS, false).headers
    );

    // Invocation mode: the binary request arrives base64 and reaches the guest as bytes; the
    // protocol has no binary responses, so the echo goes back base64, marked, with a log line.
    let reply = echo.invoke("echo", &invocation_payload(&binary), &invocation_id());
    assert_eq!(reply.status, 200);
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    let res = &result["Outputs"]["res"];
    assert_eq!(res["statusCode"], "200");
    assert_eq!(res["headers"]["x-edgefn-body-encoding"], "base64");
    assert_eq!(res["headers"]["content-type"], "application/octet-stream");
    assert_eq!(
        BASE64.decode(res["body"].as_str().unwrap()).unwrap(),
        every_byte
    );
    assert!(
        result["Logs"][0]
            .as_str()
            .unwrap()
            .contains("enableForwardingHttpRequest"),
        "{}",
        result["Logs"]
    );

    // Multipart bodies are base64 in the payload too.
    let multipart =
        b"--x\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\xff\xfe\r\n--x--\r\n";
    let case = Case::new("POST", "/echo/upload")
        .header("Content-Type", b"multipart/form-data; boundary=x")
        .body(multipart);
    let reply = echo.invoke("echo", &invocation_payload(&case), &invocation_id());
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        BASE64
            .decode(result["Outputs"]["res"]["body"].as_str().unwrap())
            .unwrap(),
        multipart
    );

    // The raw query from Url reaches the guest, repeated keys and escapes included.
    let case = Case::new("GET", "/echo/q?a=1&a=2&e=%F0%9F%98%80");
    let reply = echo.invoke("echo", &invocation_payload(&case), &invocation_id());
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        result["Outputs"]["res"]["headers"]["x-echo-query"],
        "a=1&a=2&e=%F0%9F%98%80"
    );
    assert_eq!(
        result["Outputs"]["res"]["headers"]["x-echo-path"],
        "/echo/q"
    );
}

#[test]
fn hostile_guests_get_500_and_the_handler_keeps_serving() {
    for (name, extra) in [
        ("panic", &[][..]),
        ("busy-loop", &["--function-timeout", "00:00:00.500"][..]),
        ("memory-hog", &[][..]),
        ("stack-overflow", &[][..]),
    ] {
        let args = [&["--name", name][..], extra].concat();
        let mut handler = Handler::start(name, &args, &[]);
        for round in 0..2 {
            let started = Instant::now();
            let id = invocation_id();
            let reply = handler.forward(&Case::new("GET", "/x"), &id);
            assert_eq!(reply.status, 500, "{name} round {round}: {}", reply.text());
            assert!(
                reply.text().contains(&id),
                "{name}: the client is told the request id: {}",
                reply.text()
            );
            assert!(
                !reply.text().contains("secret"),
                "{name}: guest internals leaked: {}",
                reply.text()
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{name} took {:?}",
                started.elapsed()
            );

            let id = invocation_id();
            let payload = invocation_payload(&Case::get("/x"));
            let reply = handler.invoke(name, &payload, &id);
            assert_eq!(
                reply.status, 200,
                "{name}: the Functions host gets a result"
            );
            let result: Value = serde_json::from_slice(&reply.body).unwrap();
            let res = &result["Outputs"]["res"];
            assert_eq!(res["statusCode"], "500", "{name}: {result}");
            assert!(!res["body"].as_str().unwrap().contains("secret"));
            let logs: Vec<&str> = result["Logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            assert!(
                logs.iter()
                    .any(|l| l.starts_with("edgefn: invocation failed")),
                "{name}: {logs:?}"
            );
            if name == "panic" {
                assert!(
                    logs.iter().any(|l| l.contains("panicked")),
                    "the guest's own output reaches Logs: {logs:?}"
                );
            }
            assert!(handler.alive(), "{name}: the handler died");
            assert_eq!(common::send(handler.addr, "GET", "/", &[], b"").status, 200);
        }
        if name == "busy-loop" {
            assert!(
                handler.log().contains("budget_ms=450"),
                "the deadline is functionTimeout less its margin:\n{}",
                handler.log()
            );
        }
    }
}

#[test]
fn malformed_invocations_get_a_clear_400_and_the_handler_survives() {
    let mut handler = Handler::start("hello", &["--name", "hello"], &[]);
    let malformed: [(&[u8], &str); 9] = [
        (b"", "EOF"),
        (b"\xff\xfe not json", "expected"),
        (b"[1, 2]", "Data"),
        (br#"{"Metadata": {}}"#, "Data"),
        (br#"{"Data": {"other": 1}}"#, "Data.req"),
        (br#"{"Data": {"req": {"Method": "GET"}}}"#, "Url"),
        (
            br#"{"Data": {"req": {"Url": "http://h/api/hello", "Method": "GE T"}}}"#,
            "Method",
        ),
        (
            br#"{"Data": {"req": {"Url": "http://h/api/hello", "Method": "GET", "Headers": {"x": {"nested": 1}}}}}"#,
            "Headers.x",
        ),
        (
            br#"{"Data": {"req": {"Url": "http://h/api/hello", "Method": "POST", "Headers": {"Content-Type": ["application/octet-stream"]}, "Body": "not base64!"}}}"#,
            "base64",
        ),
    ];
    for (payload, named) in malformed {
        let reply = handler.invoke("hello", payload, &invocation_id());
        assert_eq!(
            reply.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(payload),
            reply.text()
        );
        let text = reply.text();
        assert!(
            text.contains("invalid invocation payload") && text.contains(named),
            "{:?} should name {named:?}: {text}",
            String::from_utf8_lossy(payload)
        );
        assert!(handler.alive());
    }
    // Still serving, both modes.
    let reply = handler.invoke(
        "hello",
        &invocation_payload(&Case::get("/hello")),
        &invocation_id(),
    );
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        result["Outputs"]["res"]["body"],
        "Hello from hello on azure-functions!\n"
    );
    let reply = handler.forward(&Case::new("GET", "/hello"), &invocation_id());
    assert_eq!(reply.text(), "Hello from hello on azure-functions!\n");
    // Not a call this handler serves: said plainly.
    let reply = common::send(handler.addr, "GET", "/elsewhere", &[], b"");
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("POST /hello"), "{}", reply.text());
}

/// Checks `host.json` against the documented fields (schemastore host.json, v2): what the custom
/// handler section may hold and their types, the `functionTimeout` pattern, and no extension bundle.
fn check_host_json(host: &Value) -> Result<(), String> {
    let object = host.as_object().ok_or("host.json must be an object")?;
    for key in object.keys() {
        if ![
            "version",
            "functionTimeout",
            "customHandler",
            "extensions",
            "logging",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("unexpected top-level key {key}"));
        }
    }
    if host["version"] != "2.0" {
        return Err("version must be \"2.0\"".into());
    }
    if object.contains_key("extensionBundle") {
        return Err("an HTTP-only app needs no extension bundle".into());
    }
    if let Some(timeout) = object.get("functionTimeout") {
        let timeout = timeout.as_str().ok_or("functionTimeout must be a string")?;
        let b = timeout.as_bytes();
        let hh_mm_ss = b.len() == 8
            && b[2] == b':'
            && b[5] == b':'
            && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
            && (b[0] < b'2' || (b[0] == b'2' && b[1] <= b'3'))
            && b[3] <= b'5'
            && b[6] <= b'5';
        if !(timeout == "-1" || hh_mm_ss) {
            return Err(format!("functionTimeout {timeout:?} is not hh:mm:ss"));
        }
    }
    let handler = host["customHandler"]
        .as_object()
        .ok_or("customHandler must be an object")?;
    for key in handler.keys() {
        if !["description", "enableForwardingHttpRequest"].contains(&key.as_str()) {
            return Err(format!("customHandler allows no property {key}"));
        }
    }
    let description = handler["description"]
        .as_object()
        .ok_or("customHandler.description must be an object")?;
    for key in description.keys() {
        if !["defaultExecutablePath", "workingDirectory", "arguments"].contains(&key.as_str()) {
            return Err(format!(
                "customHandler.description allows no property {key}"
            ));
        }
    }
    match description.get("defaultExecutablePath") {
        Some(Value::String(path)) if !path.is_empty() => {}
        _ => return Err("defaultExecutablePath must be a non-empty string".into()),
    }
    if let Some(dir) = description.get("workingDirectory")
        && !dir.is_string()
    {
        return Err("workingDirectory must be a string".into());
    }
    match description.get("arguments") {
        None => {}
        Some(Value::Array(args)) if args.iter().all(Value::is_string) => {}
        Some(_) => return Err("arguments must be an array of strings".into()),
    }
    if handler.get("enableForwardingHttpRequest") != Some(&json!(true)) {
        return Err("enableForwardingHttpRequest must be the boolean true".into());
    }
    if let Some(http) = host.pointer("/extensions/http") {
        let http = http
            .as_object()
            .ok_or("extensions.http must be an object")?;
        if !http.get("routePrefix").is_some_and(Value::is_string) {
            return Err("extensions.http requires the string routePrefix".into());
        }
        for (key, value) in http {
            let fits = match key.as_str() {
                "routePrefix" => value.is_string(),
                "maxConcurrentRequests" | "maxOutstandingRequests" => value.is_i64(),
                "dynamicThrottlesEnabled" => value.is_boolean(),
                "hsts" | "customHeaders" => value.is_object(),
                _ => return Err(format!("extensions.http allows no property {key}")),
            };
            if !fits {
                return Err(format!("extensions.http.{key} has the wrong type: {value}"));
            }
        }
    }
    if let Some(logging) = object.get("logging")
        && !logging.is_object()
    {
        return Err("logging must be an object".into());
    }
    Ok(())
}

/// Checks `local.settings.json` as Core Tools reads it: `IsEncrypted` a boolean, `Values` an
/// object of strings that names the custom worker runtime.
fn check_local_settings(settings: &Value) -> Result<(), String> {
    let object = settings
        .as_object()
        .ok_or("local.settings.json must be an object")?;
    for key in object.keys() {
        if !["IsEncrypted", "Values", "Host", "ConnectionStrings"].contains(&key.as_str()) {
            return Err(format!("local.settings.json has an unknown key {key}"));
        }
    }
    if !settings["IsEncrypted"].is_boolean() {
        return Err("IsEncrypted must be a boolean".into());
    }
    let values = settings["Values"]
        .as_object()
        .ok_or("Values must be an object")?;
    if let Some((key, value)) = values.iter().find(|(_, v)| !v.is_string()) {
        return Err(format!("Values.{key} must be a string, not {value}"));
    }
    if values.get("FUNCTIONS_WORKER_RUNTIME") != Some(&json!("Custom")) {
        return Err("Values.FUNCTIONS_WORKER_RUNTIME must be Custom".into());
    }
    Ok(())
}

/// Checks `function.json` against the documented binding fields (schemastore function.json):
/// every binding has string name/type/direction; the HTTP trigger's authLevel and methods come
/// from their enums; the HTTP output is named `res`.
fn check_function_json(function: &Value) -> Result<(), String> {
    let object = function
        .as_object()
        .ok_or("function.json must be an object")?;
    for key in object.keys() {
        if ![
            "bindings",
            "disabled",
            "excluded",
            "scriptFile",
            "entryPoint",
            "configurationSource",
            "retry",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("function.json allows no property {key}"));
        }
    }
    let bindings = function["bindings"]
        .as_array()
        .ok_or("bindings must be an array")?;
    let mut names = Vec::new();
    for binding in bindings {
        for key in ["name", "type", "direction"] {
            if !binding[key].is_string() {
                return Err(format!("binding {binding} needs the string {key}"));
            }
        }
        if !["in", "out", "inout"].contains(&binding["direction"].as_str().unwrap()) {
            return Err(format!("binding {binding} has an unknown direction"));
        }
        // A binding name is an identifier (or `$return`), unique in the function.
        let name = binding["name"].as_str().unwrap();
        let identifier = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !(identifier || name == "$return") {
            return Err(format!("binding name {name:?} is not an identifier"));
        }
        if names.contains(&name) {
            return Err(format!("binding name {name:?} is used twice"));
        }
        names.push(name);
        // The properties the HTTP binding types document; any other would be ignored or refused.
        let allowed: &[&str] = match binding["type"].as_str().unwrap() {
            "httpTrigger" => &[
                "type",
                "direction",
                "name",
                "authLevel",
                "methods",
                "route",
                "webHookType",
            ],
            "http" => &["type", "direction", "name"],
            _ => continue,
        };
        if let Some(key) = binding
            .as_object()
            .unwrap()
            .keys()
            .find(|k| !allowed.contains(&k.as_str()))
        {
            return Err(format!(
                "a {} binding allows no property {key}",
                binding["type"]
            ));
        }
    }
    let triggers = bindings
        .iter()
        .filter(|b| b["type"].as_str().is_some_and(|t| t.ends_with("Trigger")))
        .count();
    if triggers != 1 {
        return Err(format!(
            "a function has exactly one trigger, not {triggers}"
        ));
    }
    let trigger = bindings
        .iter()
        .find(|b| b["type"] == "httpTrigger")
        .ok_or("no httpTrigger binding")?;
    if trigger["direction"] != "in" || trigger["name"] != "req" {
        return Err("the httpTrigger binding must be in, named req".into());
    }
    if !["anonymous", "function", "admin"].contains(&trigger["authLevel"].as_str().unwrap_or("")) {
        return Err("authLevel must be anonymous, function or admin".into());
    }
    let methods = trigger["methods"]
        .as_array()
        .ok_or("methods must be an array")?;
    let allowed = [
        "get", "post", "delete", "head", "patch", "put", "options", "trace",
    ];
    for method in methods {
        if !method.as_str().is_some_and(|m| allowed.contains(&m)) {
            return Err(format!("method {method} is not one of {allowed:?}"));
        }
    }
    for required in ["get", "post", "put", "delete", "patch", "head", "options"] {
        if !methods.contains(&json!(required)) {
            return Err(format!("all methods must be routed; {required} is missing"));
        }
    }
    if trigger["route"] != "{*path}" {
        return Err("the route must catch every path: {*path}".into());
    }
    let output = bindings
        .iter()
        .find(|b| b["type"] == "http")
        .ok_or("no http output binding")?;
    if output["direction"] != "out" || output["name"] != "res" {
        return Err("the http output must be out, named res".into());
    }
    Ok(())
}

#[test]
fn schema_checks_catch_mistakes() {
    let good_host = json!({"version": "2.0", "functionTimeout": "00:03:50",
        "customHandler": {"description": {"defaultExecutablePath": "edgefn", "arguments": ["a"]},
        "enableForwardingHttpRequest": true}, "extensions": {"http": {"routePrefix": "api"}}});
    check_host_json(&good_host).unwrap();
    for (pointer, bad) in [
        ("/version", json!("3.0")),
        ("/functionTimeout", json!("00:60:00")),
        ("/functionTimeout", json!(230)),
        ("/customHandler/enableForwardingHttpRequest", json!("true")),
        ("/customHandler/description/arguments", json!("a b")),
        (
            "/customHandler/description/defaultExecutablePath",
            json!(""),
        ),
        ("/extensions/http/routePrefix", json!(null)),
    ] {
        let mut host = good_host.clone();
        *host.pointer_mut(pointer).unwrap() = bad.clone();
        assert!(check_host_json(&host).is_err(), "{pointer} = {bad}");
    }
    let mut bundled = good_host.clone();
    bundled["extensionBundle"] = json!({"id": "Microsoft.Azure.Functions.ExtensionBundle"});
    assert!(check_host_json(&bundled).is_err());

    let good_function = json!({"bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
         "methods": ["get", "post", "put", "delete", "patch", "head", "options"], "route": "{*path}"},
        {"type": "http", "direction": "out", "name": "res"}]});
    check_function_json(&good_function).unwrap();
    for (pointer, bad) in [
        ("/bindings/0/authLevel", json!("public")),
        ("/bindings/0/methods/0", json!("fetch")),
        ("/bindings/0/route", json!("hello")),
        ("/bindings/1/name", json!("$return")),
        ("/bindings/1/name", json!("req")),
        ("/bindings/1/name", json!("my-res")),
        ("/bindings/1/direction", json!("sideways")),
        ("/bindings/1/type", json!("httpTrigger")),
    ] {
        let mut function = good_function.clone();
        *function.pointer_mut(pointer).unwrap() = bad.clone();
        assert!(check_function_json(&function).is_err(), "{pointer} = {bad}");
    }
    for (pointer, key, value) in [
        ("", "handler", json!("edgefn")),
        ("/bindings/0", "dataType", json!("binary")),
        ("/bindings/1", "route", json!("{*path}")),
    ] {
        let mut function = good_function.clone();
        function.pointer_mut(pointer).unwrap()[key] = value;
        assert!(check_function_json(&function).is_err(), "{pointer}/{key}");
    }
    for (key, value) in [
        ("maxConcurrentRequests", json!("100")),
        ("routeprefix", json!("api")),
    ] {
        let mut host = good_host.clone();
        host["extensions"]["http"][key] = value;
        assert!(check_host_json(&host).is_err(), "extensions.http.{key}");
    }
    let good_settings =
        json!({"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "Custom"}});
    check_local_settings(&good_settings).unwrap();
    for (pointer, bad) in [
        ("/IsEncrypted", json!("false")),
        ("/Values/FUNCTIONS_WORKER_RUNTIME", json!("custom-handler")),
        ("/Values", json!([])),
    ] {
        let mut settings = good_settings.clone();
        *settings.pointer_mut(pointer).unwrap() = bad.clone();
        assert!(
            check_local_settings(&settings).is_err(),
            "{pointer} = {bad}"
        );
    }
}

/// Every example package is a function app Core Tools publishes as it is: `host.json`, each
/// function's `function.json` and `local.settings.json` pass the documented schema fields, and
/// every file `host.json` makes the Functions host start (the handler, the module, the artifacts)
/// is in the folder, the handler executable.
#[test]
fn every_example_package_is_a_function_app_as_azure_documents_it() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["hello", "echo", "json", "config", "fetch-json"] {
        let app = dir.path().join(name);
        let output = Command::new(common::edgefn_bin())
            .args(["package", "--target", "azure-functions"])
            .arg(guest(name))
            .arg("--out")
            .arg(&app)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let read = |path: PathBuf| -> Value {
            serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
        };
        let host_json = read(app.join("host.json"));
        check_host_json(&host_json).unwrap_or_else(|e| panic!("{name}/host.json: {e}"));
        check_local_settings(&read(app.join("local.settings.json")))
            .unwrap_or_else(|e| panic!("{name}/local.settings.json: {e}"));
        // A function is a folder holding function.json, named by Azure's rule.
        let functions: Vec<String> = std::fs::read_dir(&app)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("function.json").is_file())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(functions, [name], "{name}: the app's functions");
        for function in &functions {
            assert!(
                function.len() <= 127
                    && function.starts_with(|c: char| c.is_ascii_alphabetic())
                    && function
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{function} is not a valid Azure function name"
            );
            let path = app.join(function).join("function.json");
            check_function_json(&read(path))
                .unwrap_or_else(|e| panic!("{name}/{function}/function.json: {e}"));
        }
        let description = &host_json["customHandler"]["description"];
        let executable = app.join(description["defaultExecutablePath"].as_str().unwrap());
        use std::os::unix::fs::PermissionsExt as _;
        assert!(
            std::fs::metadata(&executable).unwrap().permissions().mode() & 0o111 != 0,
            "{name}: the handler must be executable"
        );
        let arguments: Vec<&str> = description["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        for flag in ["--wasm", "--artifacts"] {
            let at = arguments.iter().position(|a| *a == flag).unwrap();
            let path = app.join(arguments[at + 1]);
            assert!(
                path.exists(),
                "{name}: {flag} {} is in the app",
                path.display()
            );
        }
    }
}

#[test]
fn package_writes_a_function_app_that_starts_from_its_host_json() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let output = Command::new(common::edgefn_bin())
        .args(["package", "--target", "azure-functions"])
        .arg(guest("hello"))
        .arg("--out")
        .arg(&app)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("func azure functionapp publish"),
        "{stdout}"
    );
    assert!(
        stdout.contains("az functionapp deployment source config-zip"),
        "{stdout}"
    );

    let read = |path: PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    };
    let host_json = read(app.join("host.json"));
    check_host_json(&host_json).unwrap_or_else(|e| panic!("host.json: {e}\n{host_json:#}"));
    let function_json = read(app.join("hello").join("function.json"));
    check_function_json(&function_json)
        .unwrap_or_else(|e| panic!("hello/function.json: {e}\n{function_json:#}"));
    let settings = read(app.join("local.settings.json"));
    assert_eq!(settings["Values"]["FUNCTIONS_WORKER_RUNTIME"], "Custom");

    let description = &host_json["customHandler"]["description"];
    let executable = app.join(description["defaultExecutablePath"].as_str().unwrap());
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(&executable).unwrap();
    assert!(
        metadata.permissions().mode() & 0o111 != 0,
        "the handler must be executable"
    );
    if Command::new("strip").arg("--version").output().is_ok() {
        assert!(
            metadata.len() < 64 << 20,
            "the handler was not stripped: {} bytes",
            metadata.len()
        );
    }
    assert!(app.join("hello.wasm").is_file());
    let artifacts: Vec<String> = std::fs::read_dir(app.join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        artifacts.iter().any(|f| f.ends_with(".cwasm")),
        "{artifacts:?}"
    );
    assert!(
        artifacts.iter().any(|f| f.ends_with(".cwasm.sha256")),
        "{artifacts:?}"
    );

    // Start the app the way the Functions host does: host.json's executable and arguments, in
    // the app root, with the port and app root in the environment.
    let handler = Handler::start_app(&app, &[]);
    let reply = handler.forward(&Case::new("GET", "/hello"), &invocation_id());
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "Hello from hello on azure-functions!\n");
    let log = handler.log();
    assert!(
        log.contains("artifact=\"hit\""),
        "the packaged artifact must load without compiling:\n{log}"
    );
    assert!(
        log.contains("budget_ms=229000"),
        "functionTimeout 00:03:50 from host.json, less the margin:\n{log}"
    );
}
