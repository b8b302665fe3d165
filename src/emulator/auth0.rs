//! auth0 emulator (to be written).
