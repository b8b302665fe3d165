//! qovery emulator (to be written).
