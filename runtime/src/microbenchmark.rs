//! Microbenchmark (todo).
