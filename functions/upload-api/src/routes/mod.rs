//! One module per route. What they share: [`extract`] (the caller, the JSON
//! body), [`params`] (path and query parameters) and [`job`] (the job status
//! object).

pub mod complete;
pub mod init;
pub mod jobs;
pub mod sign;
pub mod status;

mod extract;
mod job;
mod params;
