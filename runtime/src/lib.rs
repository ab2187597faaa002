//! A Ray-style task and object runtime: remote functions, object refs, actors, a
//! resource-aware scheduler and a timeline of every task. It knows nothing of RL.
