//! Process mode only: kill -9 of workers, retries, actor restarts.

use crate::harness::Test;

pub fn tests(_t: &mut Vec<Test>) {}
