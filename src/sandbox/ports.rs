//! ports (todo)
