//! atlas emulator (to be written).
