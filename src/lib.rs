//! countersign: just-in-time access for infrastructure. One binary holds the broker,
//! the console and the CLI; see DESIGN §1 for how the modules divide the work.

pub mod audit;
pub mod broker;
pub mod cli;
pub mod client;
pub mod console;
pub mod demo;
pub mod model;
pub mod policy;

// The weekly review decodes hundreds of thousands of rows on several threads and
// frees them on another; glibc's allocator spends more time on that than the
// decoding does (see BENCHMARKS.md, "Weekly review").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
