//! `edgefn package` from a manifest: each function's validated [`FunctionSpec`] (the one `serve`
//! and `invoke` run) turned into the settings its platform's packager writes, so what is deployed
//! is what was tested. The guest's `env` becomes the platform's variables, the limits the
//! platform's own (Lambda's memory size and timeout, Workers' `cpu_ms`, Azure's `functionTimeout`),
//! and `outbound` and `kv` the `EDGEFN_OUTBOUND_*` and `EDGEFN_KV_*` settings the packaged
//! runtimes read. What a platform cannot honour is reported as a warning, never dropped silently.

use super::aws_lambda::LambdaSettings;
use super::azure_functions::AzureSettings;
use super::cloudflare_workers::{self, WorkersSettings};
use super::{Arch, PackageReport, PackageRequest, Target};
use crate::platform::azure_functions::contract::GUEST_VARIABLE_PREFIX;
use crate::platform::azure_functions::settings::{HTTP_TRIGGER_TIMEOUT_CAP, guest_budget};
use crate::runtime::capabilities::kv::{MAX_OPERATIONS_VAR, STORES_VAR};
use crate::runtime::capabilities::outbound_http::policy::{
    ALLOW_PRIVATE_NETWORKS_VAR, ALLOWED_HOSTS_VAR, MAX_REQUESTS_VAR, MAX_RESPONSE_BYTES_VAR,
    TIMEOUT_MS_VAR,
};
use crate::runtime::limits::Limits;
use crate::runtime::spec::{FunctionSpec, KvGrant, OutboundPolicy};
use anyhow::{Context as _, bail};
use std::path::Path;
use std::time::Duration;

/// The most `[limits] cpu_ms` Workers accept.
const WORKERS_MAX_CPU_MS: u64 = 300_000;
/// The prefix of the runtimes' own settings: on every platform a variable named so configures the
/// runtime (or the Worker's adapter) and never reaches the guest.
const RUNTIME_PREFIX: &str = "EDGEFN_";

/// A function ready to package: its spec, the settings its platform's packager takes, and the
/// warnings for what the platform does not honour.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    spec: &'a FunctionSpec,
    settings: Settings,
    warnings: Vec<String>,
}

/// The settings of each platform's packager.
#[derive(Debug)]
enum Settings {
    AwsLambda(LambdaSettings),
    CloudflareWorkers(WorkersSettings),
    AzureFunctions(AzureSettings),
}

impl<'a> Prepared<'a> {
    /// Maps `spec` to `target`'s settings, or says which manifest setting the platform refuses.
    /// Nothing is written, so every function of a manifest can be checked before any is packaged.
    pub(crate) fn new(target: Target, spec: &'a FunctionSpec) -> anyhow::Result<Prepared<'a>> {
        let mut warnings = unsupported(spec, target);
        let platform = platform_name(target);
        let settings = match target {
            Target::AwsLambda => lambda_settings(spec).map(Settings::AwsLambda),
            Target::CloudflareWorkers => workers_settings(spec).map(|(settings, more)| {
                warnings.extend(more);
                Settings::CloudflareWorkers(settings)
            }),
            Target::AzureFunctions => azure_settings(spec).map(|(settings, more)| {
                warnings.extend(more);
                Settings::AzureFunctions(settings)
            }),
        }
        .with_context(|| {
            format!(
                "function {:?} cannot be packaged for {platform} as the manifest sets it",
                spec.name()
            )
        })?;
        Ok(Prepared {
            spec,
            settings,
            warnings,
        })
    }

    /// The function.
    pub(crate) fn spec(&self) -> &'a FunctionSpec {
        self.spec
    }

    /// Writes the package into `out`; the report's warnings include the manifest settings the
    /// platform does not honour.
    pub(crate) fn package(&self, out: &Path, arch: Arch) -> anyhow::Result<PackageReport> {
        let request = PackageRequest {
            wasm: self.spec.wasm().to_owned(),
            out: out.to_owned(),
            name: self.spec.name().to_owned(),
            arch,
        };
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let mut report = match &self.settings {
            Settings::AwsLambda(settings) => super::aws_lambda::package_with(&request, settings)?,
            Settings::CloudflareWorkers(settings) => {
                cloudflare_workers::package_with(&request, settings)?
            }
            Settings::AzureFunctions(settings) => {
                super::azure_functions::package_with(&request, settings)?
            }
        };
        report.warnings.extend(self.warnings.iter().cloned());
        Ok(report)
    }
}

/// The `EDGEFN_OUTBOUND_*` and `EDGEFN_KV_*` variables that give a packaged runtime the spec's
/// `outbound` and `kv` (the inverse of [`OutboundPolicy::from_variables`] and
/// [`KvGrant::from_variables`]); settings left at their defaults are left out.
pub(crate) fn runtime_variables(spec: &FunctionSpec) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    let mut set = |name: &str, value: String| vars.push((name.to_owned(), value));
    let (outbound, defaults) = (spec.outbound(), OutboundPolicy::default());
    let hosts: Vec<&str> = outbound.allowed_hosts().collect();
    if !hosts.is_empty() {
        set(ALLOWED_HOSTS_VAR, hosts.join(","));
    }
    if outbound.allow_private_networks != defaults.allow_private_networks {
        set(
            ALLOW_PRIVATE_NETWORKS_VAR,
            outbound.allow_private_networks.to_string(),
        );
    }
    if outbound.timeout != defaults.timeout {
        set(TIMEOUT_MS_VAR, outbound.timeout.as_millis().to_string());
    }
    if outbound.max_requests != defaults.max_requests {
        set(MAX_REQUESTS_VAR, outbound.max_requests.to_string());
    }
    if outbound.max_response_bytes != defaults.max_response_bytes {
        set(
            MAX_RESPONSE_BYTES_VAR,
            outbound.max_response_bytes.to_string(),
        );
    }
    let (kv, defaults) = (spec.kv(), KvGrant::default());
    if !kv.stores().is_empty() {
        set(STORES_VAR, kv.stores().join(","));
    }
    if kv.max_operations != defaults.max_operations {
        set(MAX_OPERATIONS_VAR, kv.max_operations.to_string());
    }
    vars
}

/// The guest's own variables (the manifest's `env`), refused when a name would be taken for a
/// runtime setting on the platforms rather than reach the guest as it does locally.
fn guest_variables(spec: &FunctionSpec) -> anyhow::Result<Vec<(String, String)>> {
    for (name, _) in spec.env() {
        if name.starts_with(RUNTIME_PREFIX) {
            bail!(
                "env {name}: on the platforms names starting with {RUNTIME_PREFIX} are the runtime's settings and never reach the guest; rename the variable (outbound HTTP and key-value stores are the manifest's outbound and kv tables)"
            );
        }
    }
    Ok(spec.env().to_vec())
}

/// The guest's deadline in whole milliseconds.
fn deadline_ms(limits: &Limits) -> u64 {
    u64::try_from(limits.deadline.as_millis()).unwrap_or(u64::MAX)
}

/// Lambda: the memory limit and deadline (which set the memory size and timeout) and the
/// environment, checked as `--memory-mb`, `--deadline-ms` and `--env` are.
fn lambda_settings(spec: &FunctionSpec) -> anyhow::Result<LambdaSettings> {
    let mut env = guest_variables(spec)?;
    env.extend(runtime_variables(spec));
    let limits = spec.limits();
    let deadline = deadline_ms(limits);
    if deadline > super::aws_lambda::MAX_DEADLINE_MS {
        bail!(
            "limits.deadline_ms = {deadline} is longer than a Lambda function can run: give at most {} (Lambda's timeout is at most 900 s, and the package sets it a second past the deadline)",
            super::aws_lambda::MAX_DEADLINE_MS
        );
    }
    LambdaSettings::new(limits.memory_bytes >> 20, deadline, env)
}

/// Workers: the environment as `[vars]`, the deadline as `EDGEFN_DEADLINE_MS` and `cpu_ms`, and
/// the warnings for what the Worker cannot take as written.
fn workers_settings(spec: &FunctionSpec) -> anyhow::Result<(WorkersSettings, Vec<String>)> {
    let who = format!("function {:?}", spec.name());
    let mut warnings = Vec::new();
    let deadline = deadline_ms(spec.limits());
    let mut env = guest_variables(spec)?;
    env.extend(runtime_variables(spec));
    env.push((
        cloudflare_workers::DEADLINE_BINDING.to_owned(),
        deadline.to_string(),
    ));
    let cpu_ms = deadline.min(WORKERS_MAX_CPU_MS);
    if cpu_ms < deadline {
        warnings.push(format!(
            "{who}: limits.deadline_ms = {deadline} is more than the {WORKERS_MAX_CPU_MS} ms of CPU time Workers allow; wrangler.toml sets cpu_ms = {cpu_ms}"
        ));
    }
    let memory = spec.limits().memory_bytes;
    if memory != cloudflare_workers::MEMORY_LIMIT_BYTES {
        warnings.push(format!(
            "{who}: limits.memory_mb = {} is not applied: a Worker's guest may grow to {} MiB, the isolate's limit, whatever the manifest says",
            memory >> 20,
            cloudflare_workers::MEMORY_LIMIT_BYTES >> 20
        ));
    }
    let mut settings = WorkersSettings::new(env)?.with_cpu_ms(cpu_ms);
    if !spec.preinit() {
        settings = settings.with_init_per_instance();
    }
    Ok((settings, warnings))
}

/// Azure: `functionTimeout` from the deadline, and the app settings: the guest's variables as
/// `EDGEFN_VAR_<NAME>` (the only ones the handler passes on), the runtime's as they are.
fn azure_settings(spec: &FunctionSpec) -> anyhow::Result<(AzureSettings, Vec<String>)> {
    let who = format!("function {:?}", spec.name());
    super::azure_functions::check_function_name(spec.name())?;
    let mut warnings = Vec::new();
    let mut app_settings = Vec::new();
    for (name, value) in guest_variables(spec)? {
        let identifier = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !identifier {
            bail!(
                "env {name:?}: Azure app setting names on Linux are ASCII letters, digits and '_', not starting with a digit; rename the variable"
            );
        }
        app_settings.push((format!("{GUEST_VARIABLE_PREFIX}{name}"), value));
    }
    app_settings.extend(runtime_variables(spec));
    // A second past the deadline, as on Lambda; the handler stops the guest a margin before it.
    let deadline = spec.limits().deadline;
    let timeout = Duration::from_secs(deadline.as_millis().div_ceil(1000) as u64 + 1)
        .min(HTTP_TRIGGER_TIMEOUT_CAP);
    let budget = guest_budget(Some(timeout));
    if budget != deadline {
        let why = if timeout == HTTP_TRIGGER_TIMEOUT_CAP {
            format!(
                "an HTTP trigger answers within {} s",
                HTTP_TRIGGER_TIMEOUT_CAP.as_secs()
            )
        } else {
            "the handler stops the guest a margin before functionTimeout, a tenth of it below 10 s"
                .to_owned()
        };
        warnings.push(format!(
            "{who}: limits.deadline_ms = {} becomes functionTimeout {} in host.json, under which the guest is stopped after {} ms ({why})",
            deadline.as_millis(),
            timespan(timeout),
            budget.as_millis(),
        ));
    }
    let settings = AzureSettings {
        function_timeout: timespan(timeout),
        app_settings,
    };
    Ok((settings, warnings))
}

/// Whole seconds as `hh:mm:ss`, as `host.json` writes `functionTimeout`.
fn timespan(duration: Duration) -> String {
    let s = duration.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The platform's name in messages.
fn platform_name(target: Target) -> &'static str {
    match target {
        Target::AwsLambda => "AWS Lambda",
        Target::AzureFunctions => "Azure Functions",
        Target::CloudflareWorkers => "Cloudflare Workers",
    }
}

/// A warning for each manifest setting `target`'s packaged runtime does not apply.
fn unsupported(spec: &FunctionSpec, target: Target) -> Vec<String> {
    let who = format!("function {:?}", spec.name());
    let platform = platform_name(target);
    let mut warnings = Vec::new();
    let default_routes = [format!("/{}", spec.name())];
    if spec.routes() != default_routes {
        let how = match target {
            Target::AwsLambda => "the Function URL sends every path to the function as requested",
            Target::AzureFunctions => {
                "the app sends every path under /api/ to the function, which sees it without /api"
            }
            Target::CloudflareWorkers => {
                "the Worker answers every path of its URL as requested (wrangler routes put it on a domain of yours)"
            }
        };
        warnings.push(format!(
            "{who}: routes {} are not applied on {platform}: {how}",
            spec.routes().join(", ")
        ));
    }
    let (limits, defaults) = (spec.limits(), Limits::default());
    if target == Target::AzureFunctions && limits.memory_bytes != defaults.memory_bytes {
        warnings.push(format!(
            "{who}: limits.memory_mb = {} is not applied on {platform}: the handler gives the guest {} MiB",
            limits.memory_bytes >> 20,
            defaults.memory_bytes >> 20
        ));
    }
    let fixed: [(&str, usize, usize); 4] = [
        (
            "max_request_bytes",
            limits.max_request_bytes,
            defaults.max_request_bytes,
        ),
        (
            "max_response_bytes",
            limits.max_response_bytes,
            defaults.max_response_bytes,
        ),
        (
            "max_log_bytes",
            limits.max_log_bytes,
            defaults.max_log_bytes,
        ),
        (
            "max_concurrency",
            limits.max_concurrency,
            defaults.max_concurrency,
        ),
    ];
    for (key, value, default) in fixed {
        if value != default {
            warnings.push(format!(
                "{who}: limits.{key} = {value} is not applied on {platform}, whose runtime uses {default}{}",
                if key == "max_concurrency" {
                    " per instance and scales by instances (cap them with the platform's own concurrency setting)"
                } else {
                    ""
                }
            ));
        }
    }
    if let Some(dir) = spec.dir() {
        warnings.push(format!(
            "{who}: dir ({} as {}) is not packaged: on {platform} the guest has no read-only directory; embed the files in the module or fetch them over outbound HTTP",
            dir.host.display(),
            dir.guest
        ));
    }
    if spec.warm().is_some() {
        warnings.push(format!(
            "{who}: warm is not applied on {platform}: every request gets a fresh instance"
        ));
    }
    if !spec.preinit() && target != Target::CloudflareWorkers {
        warnings.push(format!(
            "{who}: preinit = false is not applied on {platform}: the package ships the module pre-initialized when it exports an init"
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::manifest::Manifest;

    fn spec(function: &str) -> FunctionSpec {
        let text = format!("[[function]]\nname = 'a'\nwasm = 'a.wasm'\n{function}");
        Manifest::parse(&text, Path::new("."))
            .unwrap()
            .functions
            .remove(0)
    }

    #[test]
    fn runtime_variables_round_trip_through_what_the_runtimes_read() {
        let spec = spec(
            "outbound = { allowed_hosts = ['https://a.test', 'https://*.b.test'], allow_private_networks = true, timeout_ms = 250, max_requests = 3, max_response_bytes = 100 }\nkv = { stores = ['default', 'sessions'], max_operations = 7 }",
        );
        let vars = runtime_variables(&spec);
        let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert_eq!(
            &OutboundPolicy::from_variables(get).unwrap(),
            spec.outbound()
        );
        assert_eq!(&KvGrant::from_variables(get).unwrap(), spec.kv());
        assert!(runtime_variables(&self::spec("")).is_empty());
    }

    #[test]
    fn each_platform_gets_the_limits_in_its_own_terms() {
        let spec =
            spec("limits = { deadline_ms = 2500, memory_mb = 64 }\nenv = { GREETING = 'hi' }");
        let lambda = lambda_settings(&spec).unwrap();
        assert_eq!(
            (lambda.lambda_memory_mb(), lambda.lambda_timeout_s()),
            (128, 4)
        );
        let (workers, warnings) = workers_settings(&spec).unwrap();
        assert_eq!(workers.cpu_ms(), Some(2500));
        assert!(
            workers
                .vars()
                .contains(&("EDGEFN_DEADLINE_MS".into(), "2500".into()))
        );
        assert!(warnings[0].contains("memory_mb = 64"), "{warnings:?}");
        let (azure, warnings) = azure_settings(&spec).unwrap();
        assert_eq!(azure.function_timeout, "00:00:04");
        assert_eq!(
            azure.app_settings,
            [("EDGEFN_VAR_GREETING".into(), "hi".into())]
        );
        assert!(warnings[0].contains("3600 ms"), "{warnings:?}");
        let (azure, warnings) = azure_settings(&self::spec("")).unwrap();
        assert_eq!(
            (azure.function_timeout.as_str(), warnings.len()),
            ("00:00:11", 0)
        );
        let (_, warnings) =
            azure_settings(&self::spec("limits = { deadline_ms = 600000 }")).unwrap();
        assert!(warnings[0].contains("00:03:50"), "{warnings:?}");
        assert_eq!(timespan(Duration::from_secs(3723)), "01:02:03");
    }

    #[test]
    fn variables_a_platform_would_swallow_are_refused() {
        let error = lambda_settings(&spec("env = { EDGEFN_MODE = 'x' }")).unwrap_err();
        assert!(format!("{error:#}").contains("EDGEFN_MODE"), "{error:#}");
        let error = lambda_settings(&spec("limits = { deadline_ms = 900000 }")).unwrap_err();
        assert!(
            format!("{error:#}").contains("limits.deadline_ms = 900000"),
            "{error:#}"
        );
        let error = azure_settings(&spec("env = { 'my-var' = 'x' }")).unwrap_err();
        assert!(format!("{error:#}").contains("my-var"), "{error:#}");
        let api = Manifest::parse(
            "[[function]]\nname = 'api'\nwasm = 'a.wasm'",
            Path::new("."),
        );
        let error = azure_settings(&api.unwrap().functions[0]).unwrap_err();
        assert!(format!("{error:#}").contains("route prefix"), "{error:#}");
        let error = azure_settings(&spec("env = { 'my-var' = 'x' }")).unwrap_err();
        assert!(format!("{error:#}").contains("my-var"), "{error:#}");
    }

    #[test]
    fn what_a_platform_does_not_apply_is_named() {
        let spec = spec(
            "routes = ['/x']\nlimits = { max_concurrency = 4 }\nwarm = {}\npreinit = false\ndir = { host = 'static', guest = '/static' }",
        );
        let lambda = unsupported(&spec, Target::AwsLambda).join("\n");
        for needle in [
            "routes /x",
            "max_concurrency = 4",
            "warm",
            "preinit",
            "dir (",
        ] {
            assert!(lambda.contains(needle), "{needle} in {lambda}");
        }
        let workers = unsupported(&spec, Target::CloudflareWorkers).join("\n");
        assert!(!workers.contains("preinit"), "{workers}");
        assert!(unsupported(&self::spec(""), Target::AzureFunctions).is_empty());
    }
}
