//! loginradius provider client (to be written).
