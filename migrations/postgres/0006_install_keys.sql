-- Keys an installation makes once and keeps, shared by every instance on this database:
-- `fingerprint` keys the fingerprints of secrets shown by the admin API.
CREATE TABLE install_keys (
    name TEXT PRIMARY KEY,
    key BYTEA NOT NULL
);
