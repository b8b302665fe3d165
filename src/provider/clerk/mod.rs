//! clerk provider client (to be written).
