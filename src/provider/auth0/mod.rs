//! auth0 provider client (to be written).
