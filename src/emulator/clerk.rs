//! clerk emulator (to be written).
