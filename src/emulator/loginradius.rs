//! loginradius emulator (to be written).
