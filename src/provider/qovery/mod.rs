//! qovery provider client (to be written).
