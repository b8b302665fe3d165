//! atlas provider client (to be written).
