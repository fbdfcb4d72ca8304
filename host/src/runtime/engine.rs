//! The wasmtime engine: one configuration for compiling and running, the pooling allocator with a
//! fallback, and the epoch ticker that enforces deadlines.

use super::limits::MAX_MEMORY_BYTES;
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances; a running guest checks its deadline (and yields to other
/// requests on its thread) at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Instances (and linear memories, tables, fiber stacks) the pool holds at once. Creating the pool
/// costs start-up time in proportion (a guard page per fiber stack: ~2.7 ms for 1000 slots here),
/// so the default fits a 2-4 core host; raise `--pool-slots` for more simultaneous instances.
pub const DEFAULT_POOL_SLOTS: u32 = 256;
/// Bytes of each memory slot kept mapped between instances and reset in place instead of unmapped.
/// A Rust guest's 1 MiB shadow stack sits below its data, so this covers stack, data and a little heap.
pub const DEFAULT_KEEP_RESIDENT_BYTES: usize = (1 << 20) + (256 << 10);
/// Wasm operand stack per invocation (a fiber stack is this plus room for host calls).
pub const WASM_STACK_BYTES: usize = 512 << 10;
const FIBER_STACK_BYTES: usize = WASM_STACK_BYTES + (512 << 10);
/// Most core instances one component may hold: a `wasi:http` component is its module plus the
/// adapter and the shims of its lowered imports (4 for a Rust one built for wasm32-wasip2).
/// The pool has this many per slot (a core instance costs it a counter, no memory), and wasmtime
/// refuses a component with more when it is loaded.
pub const MAX_COMPONENT_CORE_INSTANCES: u32 = 16;
/// Most tables one component may hold (its module's and the shims'; 2 for a Rust one). The pool
/// has this many per slot: each is a small reservation of address space.
pub const MAX_COMPONENT_TABLES: u32 = 4;
/// Most linear memories one component may hold (1 for a component from one toolchain; composed
/// ones have one per part). Memories are the pool's costly reservation (4 GiB of address space
/// each), so the pool keeps one per slot and a component with two takes two.
pub const MAX_COMPONENT_MEMORIES: u32 = 2;

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Pooling allocator, pages reset with the `PAGEMAP_SCAN` ioctl (Linux ≥ 6.7).
    PoolingPagemapScan,
    /// Pooling allocator without `PAGEMAP_SCAN` (older kernels): resets with `madvise`.
    Pooling,
    /// Fresh `mmap` per instance: the pool's address space could not be reserved.
    OnDemand,
}

impl Allocator {
    /// Short name for logs and benchmarks.
    pub fn as_str(self) -> &'static str {
        match self {
            Allocator::PoolingPagemapScan => "pooling+pagemap_scan",
            Allocator::Pooling => "pooling",
            Allocator::OnDemand => "on-demand",
        }
    }
}

/// Engine tuning knobs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Pool slots; 0 selects on-demand allocation.
    pub pool_slots: u32,
    /// Use `PAGEMAP_SCAN` when the kernel has it.
    pub pagemap_scan: bool,
    /// Bytes of each memory kept resident between instances.
    pub keep_resident_bytes: usize,
    /// Largest memory any function may have (pool slot size).
    pub max_memory_bytes: u64,
    /// Compile for this target triple instead of this machine (packages for Lambda and Azure are
    /// compiled for the baseline of their architecture, not for this CPU's extensions).
    #[cfg(feature = "compiler")]
    pub target: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            pool_slots: DEFAULT_POOL_SLOTS,
            pagemap_scan: true,
            keep_resident_bytes: DEFAULT_KEEP_RESIDENT_BYTES,
            max_memory_bytes: MAX_MEMORY_BYTES,
            #[cfg(feature = "compiler")]
            target: None,
        }
    }
}

/// The engine and how it was set up.
#[derive(Clone)]
pub struct HostEngine {
    /// The wasmtime engine.
    pub engine: Engine,
    /// The allocator in use.
    pub allocator: Allocator,
}

/// The settings of [`code_config`] that shape generated code, as they enter the artifact
/// fingerprint (`artifact::engine_fingerprint`). Change one there, and this changes with it.
pub fn code_settings() -> String {
    format!(
        "epoch-interruption max-wasm-stack={WASM_STACK_BYTES} async-stack={FIBER_STACK_BYTES} memory-init-cow backtrace-frames=none"
    )
}

/// Settings that change generated code. Everything that compiles or loads artifacts goes through
/// here, so an artifact made by `edgefn build` or `edgefn package` loads in `edgefn serve` and in the
/// Lambda runtime alike.
pub fn code_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.max_wasm_stack(WASM_STACK_BYTES);
    config.async_stack_size(FIBER_STACK_BYTES);
    config.memory_init_cow(true);
    // Guest modules are stripped, so a trap backtrace says little; skipping it makes traps cheap.
    config.wasm_backtrace_max_frames(None);
    if std::env::var_os("EDGEFN_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

impl HostEngine {
    /// Builds the engine, preferring the pooling allocator with `PAGEMAP_SCAN`, then pooling without
    /// it, then on-demand allocation; each step down is logged once as a warning.
    pub fn new(options: &EngineOptions) -> anyhow::Result<HostEngine> {
        if options.pool_slots > 0 {
            let scan = options.pagemap_scan && PoolingAllocationConfig::is_pagemap_scan_available();
            if options.pagemap_scan && !scan {
                tracing::warn!(
                    "PAGEMAP_SCAN is not available on this kernel (needs Linux 6.7+): instance memory is reset with madvise, which is slower"
                );
            }
            match Engine::new(&pooling_config(options, scan)) {
                Ok(engine) => {
                    let allocator = if scan {
                        Allocator::PoolingPagemapScan
                    } else {
                        Allocator::Pooling
                    };
                    return Ok(HostEngine::started(engine, allocator));
                }
                Err(error) => tracing::warn!(
                    error = %error,
                    slots = options.pool_slots,
                    "cannot reserve the pooling allocator's address space; falling back to on-demand allocation (slower instantiation). Lower --pool-slots or raise the address-space limit (ulimit -v) to keep pooling"
                ),
            }
        }
        #[cfg(feature = "compiler")]
        let config = {
            let mut config = code_config();
            if let Some(target) = &options.target {
                config.target(target)?;
            }
            config
        };
        #[cfg(not(feature = "compiler"))]
        let config = code_config();
        let engine = Engine::new(&config)?;
        Ok(HostEngine::started(engine, Allocator::OnDemand))
    }

    fn started(engine: Engine, allocator: Allocator) -> HostEngine {
        start_epoch_ticker(&engine);
        HostEngine { engine, allocator }
    }
}

fn pooling_config(options: &EngineOptions, pagemap_scan: bool) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    let slots = options.pool_slots;
    // A slot is one instance of a function of either kind: a module, or a component within the
    // bounds above, so a component that could never fit is refused at load rather than answered
    // `Overloaded` on every request. wasmtime checks the core instances at load; memories and
    // tables are checked by `guest::wasi_http` on every allocator alike, with a message that says
    // what to do.
    pool.total_core_instances(slots.saturating_mul(MAX_COMPONENT_CORE_INSTANCES))
        .total_memories(slots.max(MAX_COMPONENT_MEMORIES))
        .total_tables(slots.saturating_mul(MAX_COMPONENT_TABLES))
        .total_stacks(slots)
        .total_component_instances(slots)
        .max_core_instances_per_component(MAX_COMPONENT_CORE_INSTANCES)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .max_memory_size(options.max_memory_bytes as usize)
        .linear_memory_keep_resident(options.keep_resident_bytes)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(64 << 10)
        .pagemap_scan(if pagemap_scan {
            Enabled::Yes
        } else {
            Enabled::No
        });
    let mut config = code_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Advances the epoch every [`EPOCH_TICK`] for as long as the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("edgefn-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}
